"""Facebook Login as the fake plays it: who signs in and what they grant (the plan, which the
control API changes), the codes the dialog issues, and the user and Page tokens they become.

Seed (optional; the demo's user manages both demo pages)::

    "users": [{"id", "name", "page_ids": [...], "tasks": {"<page id>": ["ADVERTISE", ...]}}],
    "login": {"user_id", "page_ids", "declined", "deny", "code_ttl_seconds",
              "accounts_page_limit"}

The plan: `user_id` signs in (default: the first user); `page_ids` are the Pages they grant the
app (default: all theirs); `declined` the permissions they decline; `deny` cancels the dialog
(redirect with ``error=access_denied``); codes live `code_ttl_seconds` (0: issued expired);
``me/accounts`` answers at most `accounts_page_limit` Pages a page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import asdict, dataclass, field
from typing import Any

from adapters.meta.fake.errors import GraphError, Json
from adapters.meta.fake.state import FakeState, TokenGrant

SHORT_LIVED_SECONDS = 2 * 3600
LONG_LIVED_SECONDS = 60 * 24 * 3600
DEFAULT_CODE_TTL = 600.0
"""Facebook's codes last about ten minutes and are good for one exchange."""
ADMIN_TASKS = ("ANALYZE", "ADVERTISE", "MESSAGING", "MODERATE", "CREATE_CONTENT", "MANAGE")
_PKCE_METHODS = ("S256", "plain")


@dataclass(slots=True)
class LoginPlan:
    user_id: str | None = None
    page_ids: list[str] | None = None
    declined: list[str] = field(default_factory=list)
    deny: bool = False
    code_ttl_seconds: float = DEFAULT_CODE_TTL
    accounts_page_limit: int = 25

    def __post_init__(self) -> None:
        if self.code_ttl_seconds < 0:
            raise ValueError("code_ttl_seconds must be >= 0")
        if self.accounts_page_limit < 1:
            raise ValueError("accounts_page_limit must be >= 1")
        self.page_ids = None if self.page_ids is None else [str(p) for p in self.page_ids]
        self.declined = [str(s) for s in self.declined]

    def to_json(self) -> Json:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Json) -> LoginPlan:
        """Raises TypeError or ValueError for a plan that does not hold."""
        user_id = data.get("user_id")
        return cls(**{**data, "user_id": None if user_id is None else str(user_id)})


@dataclass(slots=True)
class IssuedCode:
    """A code the dialog issued: whose, for which redirect and challenge, what it grants."""

    code: str = field(repr=False)
    user_id: str
    page_ids: tuple[str, ...]
    scopes: tuple[str, ...]
    declined: tuple[str, ...]
    redirect_uri: str
    challenge: str | None
    challenge_method: str | None
    expires_at: float
    used: bool = False
    tokens: list[str] = field(default_factory=list, repr=False)
    """Every token issued from it (user and Page): revoked if the code comes back."""


@dataclass(slots=True)
class Consent:
    """What the dialog answers: a code, or the person's refusal."""

    code: str | None = field(default=None, repr=False)
    denied: bool = False


class LoginState:
    """The users who may sign in, the plan, and the codes issued. Lives on one event loop."""

    def __init__(self, seed: Json, state: FakeState) -> None:
        self._state = state
        self.users: dict[str, Json] = {}
        for user in seed.get("users", []):
            user = {**user, "id": str(user["id"])}
            user["page_ids"] = [str(p) for p in user.get("page_ids", [])]
            self.users[user["id"]] = user
        self.plan = LoginPlan.from_json(dict(seed.get("login", {})))
        self.codes: dict[str, IssuedCode] = {}
        self._origin: dict[str, str] = {}  # token -> the code it came from
        self._page_tokens: dict[tuple[str, str], str] = {}  # (user token, page) -> page token

    def user(self, user_id: str | None) -> Json | None:
        if user_id is None:
            return next(iter(self.users.values()), None)
        return self.users.get(user_id)

    # --- the dialog --------------------------------------------------------------------------

    def consent(
        self,
        *,
        scopes: list[str],
        redirect_uri: str,
        challenge: str | None,
        challenge_method: str | None,
    ) -> Consent:
        """The person's answer to the dialog, as the plan says. LookupError when the plan names
        no user the seed knows; ValueError for a challenge method other than S256 or plain."""
        plan = self.plan
        if plan.deny:
            return Consent(denied=True)
        user = self.user(plan.user_id)
        if user is None:
            raise LookupError("no user to sign in: seed users or set the login plan's user_id")
        if challenge is not None and (challenge_method or "plain") not in _PKCE_METHODS:
            raise ValueError("code_challenge_method must be S256 or plain")
        pages = user["page_ids"] if plan.page_ids is None else plan.page_ids
        asked = list(dict.fromkeys(s for s in scopes if s))
        code = "AQFake" + self._state.new_token().removeprefix("EAAFake")
        self.codes[code] = IssuedCode(
            code=code,
            user_id=user["id"],
            page_ids=tuple(pages),
            scopes=tuple(["public_profile", *(s for s in asked if s not in plan.declined)]),
            declined=tuple(s for s in asked if s in plan.declined),
            redirect_uri=redirect_uri,
            challenge=challenge,
            challenge_method=(challenge_method or "plain") if challenge is not None else None,
            expires_at=self._state.now() + plan.code_ttl_seconds,
        )
        return Consent(code=code)

    # --- the token endpoint ------------------------------------------------------------------

    def exchange_code(self, code: str, *, redirect_uri: str, verifier: str | None) -> TokenGrant:
        """A short-lived user token for the code; GraphError 100 for a code that is unknown,
        expired, used (which also revokes what it issued), for another redirect_uri, or whose
        challenge the verifier does not meet. The messages are Facebook's as developers
        quote them; the subcodes are the fake's."""
        issued = self.codes.get(code)
        if issued is None:
            raise GraphError(100, "Invalid verification code format.")
        if issued.used:
            self._revoke(issued)
            raise GraphError(100, "This authorization code has been used.", subcode=36009)
        issued.used = True  # a refused exchange spends the code too
        if issued.expires_at <= self._state.now():
            raise GraphError(100, "This authorization code has expired.", subcode=36007)
        if redirect_uri != issued.redirect_uri:
            raise GraphError(
                100,
                "Error validating verification code. Please make sure your redirect_uri is "
                "identical to the one you used in the OAuth dialog request",
                subcode=36008,
            )
        if issued.challenge is not None and not _verifies(issued, verifier):
            raise GraphError(100, "Invalid code verifier.", subcode=36010)
        return self._user_token(issued, SHORT_LIVED_SECONDS)

    def long_lived(self, short: TokenGrant) -> TokenGrant:
        """A long-lived user token for a live user token of the app."""
        code = self._origin.get(short.token)
        issued = self.codes.get(code) if code is not None else None
        if issued is None:
            raise GraphError(190, "Invalid OAuth access token - Cannot parse access token")
        return self._user_token(issued, LONG_LIVED_SECONDS)

    def page_token(self, user: TokenGrant, page_id: str) -> str:
        """The Page's token as ``me/accounts`` lists it for `user` (one per user token and
        Page): it never expires when the user token is long-lived."""
        key = (user.token, page_id)
        if key not in self._page_tokens:
            now = int(self._state.now())
            long_lived = user.expires_at == 0 or user.expires_at - now > SHORT_LIVED_SECONDS
            grant = TokenGrant(
                token=self._state.new_token(),
                kind="PAGE",
                app_id=user.app_id,
                page_ids=(page_id,),
                scopes=user.scopes,
                user_id=user.user_id,
                issued_at=now,
                expires_at=0 if long_lived else user.expires_at,
                data_access_expires_at=user.data_access_expires_at,
            )
            self._state.add_token(grant)
            self._page_tokens[key] = grant.token
            self._record(user.token, grant.token)
        return self._page_tokens[key]

    def tasks(self, user_id: str | None, page_id: str) -> list[str]:
        user = self.users.get(user_id or "")
        tasks = (user or {}).get("tasks", {}).get(page_id)
        return list(tasks) if isinstance(tasks, list) else list(ADMIN_TASKS)

    def _user_token(self, issued: IssuedCode, lifetime: int) -> TokenGrant:
        now = int(self._state.now())
        user = self.users.get(issued.user_id, {})
        grant = TokenGrant(
            token=self._state.new_token(),
            kind="USER",
            app_id=self._state.app_id,
            page_ids=issued.page_ids,
            scopes=issued.scopes,
            declined=issued.declined,
            user_id=issued.user_id,
            name=user.get("name"),
            issued_at=now,
            expires_at=now + lifetime,
            data_access_expires_at=now + 90 * 24 * 3600,
        )
        self._state.add_token(grant)
        issued.tokens.append(grant.token)
        self._origin[grant.token] = issued.code
        return grant

    def _record(self, parent: str, child: str) -> None:
        code = self._origin.get(parent)
        if code is not None:
            self._origin[child] = code
            self.codes[code].tokens.append(child)

    def _revoke(self, issued: IssuedCode) -> None:
        """RFC 6749 §4.1.2: a code used twice revokes the tokens it gave."""
        for token in issued.tokens:
            grant = self._state.tokens.get(token)
            if grant is not None:
                grant.dead, grant.dead_subcode = True, None

    def to_json(self) -> dict[str, Any]:
        return {"plan": self.plan.to_json(), "users": list(self.users.values())}


def _verifies(issued: IssuedCode, verifier: str | None) -> bool:
    if not verifier or issued.challenge is None:
        return False
    if issued.challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode()).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return hmac.compare_digest(expected.encode(), issued.challenge.encode())
