"""The GA4 sign-in is offered exactly when the platform's Google app is configured."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from adapters.ga4.connect import Ga4ConnectFlow
from entrypoints.config import Settings
from entrypoints.container import Container


@pytest.mark.parametrize("configured", [False, True])
async def test_the_ga4_sign_in_is_wired_when_the_google_client_is_set(
    configured: bool, tmp_path: Path
) -> None:
    google = (
        {"GOOGLE_OAUTH_CLIENT_ID": "client.apps.example", "GOOGLE_OAUTH_CLIENT_SECRET": "s3cret"}
        if configured
        else {}
    )
    container = Container(
        settings=Settings.from_env({"INTEGRATIONS_DATA_DIR": str(tmp_path), **google})
    )
    try:
        registry = container.provider_registry()
        if inspect.isawaitable(registry):
            registry = await registry
        found = registry.connect_flow("google_analytics")
    finally:
        await container.shutdown_resources()

    if configured:
        assert found is not None
        assert found[0] == "ga4"
        assert isinstance(found[1], Ga4ConnectFlow)
    else:
        assert found is None
