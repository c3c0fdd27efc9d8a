"""HandleAppLifecycleEvent: INSTALL / UNINSTALL → the integration connected / disconnected."""

from __future__ import annotations

import pytest

from adapters.ghl.app_events import GhlAppEvents
from adapters.ghl.auth import OAuthClient
from application.ports import HandlerOutcome
from application.use_cases.handle_app_lifecycle import HandleAppLifecycleEvent
from domain.events import IntegrationDisconnected, IntegrationReset
from domain.integration import Integration, IntegrationStatus
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from tests.unit.webhook_handlers.support import App, make_app, reference_payload

INSTALLED, UNINSTALLED = EventKind.APP_INSTALLED, EventKind.APP_UNINSTALLED


@pytest.fixture
async def app() -> App:
    """An integration that connects through the Marketplace app, which these events concern."""
    return await make_app(through_the_app=True)


async def test_the_apps_events_leave_an_integration_with_a_private_token_as_it_is() -> None:
    app = await make_app()

    uninstalled = await app.deliver(UNINSTALLED, reference_payload("AppUninstall-location"))
    installed = await app.deliver(INSTALLED, reference_payload("AppInstall-location"))

    assert (uninstalled, installed) == (HandlerOutcome.IGNORED, HandlerOutcome.IGNORED)
    assert stored(app).status is IntegrationStatus.ACTIVE
    assert app.events() == []


def stored(app: App) -> Integration:
    return app.uow.store.integrations[app.integration.id]


async def test_an_uninstall_disconnects_the_integration_once(app: App) -> None:
    first = await app.deliver(UNINSTALLED, reference_payload("AppUninstall-location"))
    again = await app.deliver(UNINSTALLED, reference_payload("AppUninstall-location"))

    assert (first, again) == (HandlerOutcome.APPLIED, HandlerOutcome.IGNORED)
    assert stored(app).status is IntegrationStatus.DISCONNECTED
    [event] = app.events(IntegrationDisconnected)
    assert isinstance(event, IntegrationDisconnected)
    assert (event.reason, event.previous_status) == ("uninstalled", "active")


async def test_a_reinstall_returns_the_integration_to_pending_to_be_tested(app: App) -> None:
    await app.deliver(UNINSTALLED, reference_payload("AppUninstall-location"))

    outcome = await app.deliver(INSTALLED, reference_payload("AppInstall-location"))

    assert outcome is HandlerOutcome.APPLIED
    assert stored(app).status is IntegrationStatus.PENDING
    assert stored(app).needs_test
    assert len(app.events(IntegrationReset)) == 1


async def test_an_install_of_a_connected_integration_changes_nothing(app: App) -> None:
    outcome = await app.deliver(INSTALLED, reference_payload("AppInstall-location"))

    assert outcome is HandlerOutcome.IGNORED
    assert stored(app).status is IntegrationStatus.ACTIVE
    assert app.events() == []


async def test_an_install_never_overrides_the_admins_off_switch(app: App) -> None:
    async with app.uow() as uow:
        integration = await uow.integrations.get(app.integration.id)
        assert integration is not None
        integration.deactivate(now=app.clock.now())
        await uow.integrations.update(integration)
        await uow.commit()

    outcome = await app.deliver(INSTALLED, reference_payload("AppInstall-location"))

    assert outcome is HandlerOutcome.IGNORED
    assert (stored(app).status, stored(app).is_active) == (IntegrationStatus.DISCONNECTED, False)


# --- the service's own app (GHL_OAUTH_CLIENT_ID) and the integrations its sign-in connected ----

SERVICE_APP_ID = "ve9EPM428h8vShlRW1KT"  # the appId of GHL's reference payloads


def scoped(app: App) -> HandleAppLifecycleEvent:
    """The handler as the service runs it with its app configured."""
    service_app = OAuthClient(SecretStr(f"{SERVICE_APP_ID}-clientsuffix"), SecretStr("secret"))
    return HandleAppLifecycleEvent(clock=app.clock, concerns=GhlAppEvents(service_app))


async def test_an_uninstall_of_the_services_app_disconnects_what_its_sign_in_connected() -> None:
    app = await make_app(signed_in=True)

    outcome = await app.deliver(
        UNINSTALLED, reference_payload("AppUninstall-location"), handler=scoped(app)
    )

    assert outcome is HandlerOutcome.APPLIED
    assert stored(app).status is IntegrationStatus.DISCONNECTED


async def test_an_uninstall_of_the_services_app_leaves_an_integration_of_a_tenants_own_app(
    app: App,
) -> None:
    outcome = await app.deliver(
        UNINSTALLED, reference_payload("AppUninstall-location"), handler=scoped(app)
    )

    assert outcome is HandlerOutcome.IGNORED
    assert stored(app).status is IntegrationStatus.ACTIVE


async def test_an_uninstall_of_another_app_leaves_what_the_services_app_connected() -> None:
    app = await make_app(signed_in=True)
    payload = {**reference_payload("AppUninstall-location"), "appId": "someOtherApp0000001"}

    outcome = await app.deliver(UNINSTALLED, payload, handler=scoped(app))

    assert outcome is HandlerOutcome.IGNORED
    assert stored(app).status is IntegrationStatus.ACTIVE


async def test_a_reinstall_of_the_services_app_creates_nothing_and_returns_its_integration() -> (
    None
):
    app = await make_app(signed_in=True)
    handler = scoped(app)
    await app.deliver(UNINSTALLED, reference_payload("AppUninstall-location"), handler=handler)

    outcome = await app.deliver(
        INSTALLED, reference_payload("AppInstall-location"), handler=handler
    )

    assert outcome is HandlerOutcome.APPLIED
    assert list(app.uow.store.integrations) == [app.integration.id]  # no second integration
    assert stored(app).status is IntegrationStatus.PENDING
