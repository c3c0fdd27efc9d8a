"""The platform's Meta app, one for every tenant: its id and secret, the webhook verify token,
and where the Graph API is (a setting, so that tests and the fake can point elsewhere)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

from domain.values import SecretStr

DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_VERSION = "v26.0"
_VERSION = re.compile(r"v[0-9]+\.[0-9]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetaSettings:
    app_id: str
    app_secret: SecretStr = field(repr=False)
    webhook_verify_token: SecretStr = field(repr=False)
    graph_base_url: str = DEFAULT_GRAPH_BASE_URL
    graph_version: str = DEFAULT_GRAPH_VERSION

    def __post_init__(self) -> None:
        if not self.app_id.isdigit():
            raise ValueError("the Meta app id must be digits")
        if not self.app_secret.reveal():
            raise ValueError("the Meta app secret must not be empty")
        if not self.webhook_verify_token.reveal():
            raise ValueError("the Meta webhook verify token must not be empty")
        if not _VERSION.fullmatch(self.graph_version):
            raise ValueError("the Graph API version must read like v26.0")

    @property
    def app_token(self) -> SecretStr:
        """The app access token (``{app_id}|{app_secret}``), for debug_token."""
        return SecretStr(f"{self.app_id}|{self.app_secret.reveal()}")

    def path(self, *segments: str) -> str:
        """A Graph path under the configured version; each segment quoted, so that no id can
        reach another path."""
        if not segments or not all(segments):
            raise ValueError("a Graph path needs non-empty segments")
        return "/" + "/".join([self.graph_version, *(quote(s, safe="") for s in segments)])

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> MetaSettings | None:
        """The settings from ``META_APP_ID``, ``META_APP_SECRET``, ``META_WEBHOOK_VERIFY_TOKEN``,
        ``META_GRAPH_API_BASE_URL`` and ``META_GRAPH_API_VERSION`` (values already read, the
        ``_FILE`` variants resolved by the caller); None when no app id is set. Raises
        ValueError when a value is missing or malformed."""
        app_id = environ.get("META_APP_ID", "").strip()
        if not app_id:
            return None
        return cls(
            app_id=app_id,
            app_secret=SecretStr(environ.get("META_APP_SECRET", "")),
            webhook_verify_token=SecretStr(environ.get("META_WEBHOOK_VERIFY_TOKEN", "")),
            graph_base_url=environ.get("META_GRAPH_API_BASE_URL") or DEFAULT_GRAPH_BASE_URL,
            graph_version=environ.get("META_GRAPH_API_VERSION") or DEFAULT_GRAPH_VERSION,
        )
