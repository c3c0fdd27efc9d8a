"""Graph API error answers, in the shapes of reference/meta/examples/error-*.json:
``{"error": {message, type, code, error_subcode, ..., fbtrace_id}}``, HTTP 400 unless told."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

# Throttle codes (API-NOTES §6) and the business-use-case type each one reports.
BUC_TYPES = {
    80000: "ads_insights",
    80001: "pages",
    80002: "instagram",
    80003: "custom_audience",
    80004: "ads_management",
    80005: "leadgen",
    80006: "messenger",
    80008: "whatsapp",
    80009: "catalog_management",
    80014: "catalog_batch",
    32: "pages",
}
THROTTLE_CODES = frozenset({4, 17, 32, 613, *BUC_TYPES})

_THROTTLE_MESSAGES = {
    4: "(#4) Application request limit reached",
    17: "(#17) User request limit reached",
    32: "(#32) Page request limit reached",
    613: "(#613) Calls to this api have exceeded the rate limit.",
    80005: "(#80005) There have been too many leadgen api calls to this Page. "
    "Wait a bit and try again.",
}

# Token death (API-NOTES §6): code 190 and its subcodes.
TOKEN_DEATH_SUBCODES = (458, 459, 460, 463, 464, 467)
_DEATH_MESSAGES = {
    None: "Invalid OAuth access token - Cannot parse access token",
    458: "Error validating access token: The user has not authorized the application.",
    459: "Error validating access token: You cannot access the app till you log in to "
    "www.facebook.com and follow the instructions given.",
    460: "Error validating access token: The session has been invalidated because the user "
    "changed their password or Facebook has changed the session for security reasons.",
    463: "Error validating access token: Session has expired.",
    464: "Error validating access token: Sessions for the user are not allowed because the "
    "user is not a confirmed user.",
    467: "Error validating access token: The access token is invalid since the user logged out.",
}


class GraphError(Exception):
    """An error answer. `headers` go out with it (usage headers, WWW-Authenticate)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: int = 400,
        error_type: str = "OAuthException",
        subcode: int | None = None,
        is_transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.error_type = error_type
        self.subcode = subcode
        self.is_transient = is_transient
        self.user_title = user_title
        self.user_msg = user_msg
        self.headers: dict[str, str] = {}

    def body(self, fbtrace_id: str) -> Json:
        error: Json = {"message": self.message, "type": self.error_type}
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        error["code"] = self.code
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error["fbtrace_id"] = fbtrace_id
        return {"error": error}


def death_message(subcode: int | None) -> str:
    return _DEATH_MESSAGES.get(subcode, _DEATH_MESSAGES[None])


def token_error(subcode: int | None) -> GraphError:
    """190: the token is unknown (no subcode) or dead (with the subcode it died of)."""
    err = GraphError(190, death_message(subcode), subcode=subcode)
    err.headers["WWW-Authenticate"] = (
        f'OAuth "Facebook Platform" "invalid_token" "{death_message(subcode)}"'
    )
    return err


def not_found(object_id: str, method: str = "get") -> GraphError:
    """100 / 33: what Graph answers for an unknown id and for one the token may not read."""
    return GraphError(
        100,
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be "
        "loaded due to missing permissions, or does not support this operation.",
        error_type="GraphMethodException",
        subcode=33,
    )


def invalid_parameter(message: str, **kwargs: Any) -> GraphError:
    return GraphError(100, message, **kwargs)


def permission_error(permission: str) -> GraphError:
    return GraphError(200, f"(#200) Requires {permission} permission to manage the object")


def throttle_error(code: int, status: int) -> GraphError:
    message = _THROTTLE_MESSAGES.get(code, f"(#{code}) User request limit reached")
    return GraphError(code, message, status=status, is_transient=True, subcode=2446079)
