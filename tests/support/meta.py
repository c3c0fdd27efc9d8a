"""What the Meta adapter's tests share: the reference examples (``shared/reference/meta/examples``,
real wire shapes; annotations are the keys starting with ``_``), the app's settings and the ids
of those examples, and a call for a `facebook_ads` integration."""

from __future__ import annotations

import json
from typing import Any

from adapters.meta.settings import MetaSettings
from application.ports import Credentials, ProviderCall
from domain.values import SecretStr
from tests.support.reference import provider_reference

META_EXAMPLES = provider_reference("meta") / "examples"


def example(name: str) -> dict[str, Any]:
    """An example file as parsed, annotations included."""
    path = META_EXAMPLES / name
    assert path.is_file(), f"Meta's reference examples belong beside the repository, at {path}"
    parsed: dict[str, Any] = json.loads(path.read_text())
    return parsed


def wire_body(name: str) -> dict[str, Any]:
    """An example's wire body: its annotations (``_status``, ``_headers``...) left out."""
    return {k: v for k, v in example(name).items() if not k.startswith("_")}


def status_of(name: str) -> int:
    status: int = example(name).get("_status", 200)
    return status


def headers_of(name: str) -> dict[str, str]:
    headers: dict[str, str] = example(name).get("_headers", {})
    return headers


APP_ID = "1122334455667788"
PAGE_ID = "104561234567890"
PAGE_TOKEN = "EAAGpage-token-0123456789abcdef"
SETTINGS = MetaSettings(
    app_id=APP_ID,
    app_secret=SecretStr("3f1c0a9be2d84c7f9a6b5e4d3c2b1a00"),
    webhook_verify_token=SecretStr("my-verify-token-123"),
)


def meta_call(
    *, integration_id: str = "fb-1", token: str = PAGE_TOKEN, **config: Any
) -> ProviderCall:
    """A call for a `facebook_ads` integration of PAGE_ID holding `token`."""
    return ProviderCall(
        integration_id=integration_id,
        sub_account_id="sa-1",
        template_name="facebook_ads",
        config={"pageId": PAGE_ID, **config},
        credentials=Credentials({"accessToken": SecretStr(token)}),
        rate_limit_per_minute=6000,
    )
