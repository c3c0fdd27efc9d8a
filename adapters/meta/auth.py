"""Who a Graph call acts for: the integration's Page and its token, read from the neutral
ProviderCall, or the platform's app itself; and the rate-limit key of what Meta limits."""

from __future__ import annotations

from dataclasses import dataclass, field

from application.ports.providers import ProviderCall
from application.ports.rate_limits import Priority
from domain.errors import ConfigSchemaInvalidError, FieldViolation, InvalidCredentialsError
from domain.integration import Integration
from domain.template import DEFAULT_RATE_LIMIT_PER_MINUTE
from domain.values import SecretStr

ACCESS_TOKEN_FIELD = "accessToken"  # noqa: S105 - a config field's name, not a secret


def page_rate_limit_key(page_id: str) -> str:
    """Meta's Page and LeadGen limits are per Page, whichever integration or copy calls."""
    return f"meta:page:{page_id}"


def rate_limit_key(integration: Integration) -> str:
    """The key an integration's calls draw on (its Page's), for health: integrations without a
    Page are limited on their own."""
    page_id = integration.config.get("pageId")
    return (
        page_rate_limit_key(page_id)
        if isinstance(page_id, str) and page_id
        else f"integration:{integration.id}"
    )


def app_rate_limit_key(app_id: str) -> str:
    """Calls with the app token count against the app's platform limit (X-App-Usage)."""
    return f"meta:app:{app_id}"


@dataclass(frozen=True, slots=True)
class GraphAuth:
    """One Graph call's context: the token it carries (held only for the call), whether it is a
    user/Page token (then it carries ``appsecret_proof``), the limit key it draws on, and who
    waits on it."""

    token: SecretStr = field(repr=False)
    rate_limit_key: str
    user_token: bool
    integration_id: str | None = None
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    priority: Priority = Priority.LIVE


@dataclass(frozen=True, slots=True)
class PageAuth:
    """A Page and its Page or system-user token: an integration's, or (integration_id None) a
    Page being connected."""

    integration_id: str | None
    page_id: str
    token: SecretStr = field(repr=False)
    rate_limit_per_minute: int = DEFAULT_RATE_LIMIT_PER_MINUTE
    priority: Priority = Priority.LIVE

    @classmethod
    def from_call(cls, call: ProviderCall) -> PageAuth:
        """Raises ConfigSchemaInvalidError without a ``pageId``, InvalidCredentialsError without
        an ``accessToken``."""
        page_id = call.config.get("pageId")
        if not isinstance(page_id, str) or not page_id:
            raise ConfigSchemaInvalidError(
                "the integration has no Facebook Page id",
                (FieldViolation("config.pageId", "is required"),),
            )
        token = call.credentials.get(ACCESS_TOKEN_FIELD)
        if token is None or not token.reveal():
            raise InvalidCredentialsError("the integration has no Facebook access token")
        return cls(
            integration_id=call.integration_id,
            page_id=page_id,
            token=token,
            rate_limit_per_minute=call.rate_limit_per_minute,
            priority=call.priority,
        )

    @property
    def graph(self) -> GraphAuth:
        return GraphAuth(
            token=self.token,
            rate_limit_key=page_rate_limit_key(self.page_id),
            user_token=True,
            integration_id=self.integration_id,
            rate_limit_per_minute=self.rate_limit_per_minute,
            priority=self.priority,
        )
