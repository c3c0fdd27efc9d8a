"""HandleAppLifecycleEvent: the marketplace app's INSTALL / UNINSTALL → the integration connected / disconnected."""

from __future__ import annotations

from application.ports import Clock, HandlerOutcome, InboundEvent, UnitOfWork
from application.secrets import connects_through_the_app
from domain.integration import IntegrationStatus
from domain.webhook_delivery import EventKind


class HandleAppLifecycleEvent:
    """Rules: UNINSTALL disconnects the integration (reason ``uninstalled``); an INSTALL of a
    disconnected integration that its admin has left switched on returns it to pending, to be
    tested again (DESIGN's status machine: only a successful test makes an integration active,
    and disconnected → pending is the way back). An INSTALL never overrides the admin's off
    switch, and changes nothing for an integration that is not disconnected. Only integrations
    that connect through the app are concerned: uninstalling it revokes the app's tokens, not a
    private-integration token."""

    def __init__(self, *, clock: Clock) -> None:
        self._clock = clock

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        integration = await uow.integrations.get(event.integration_id)
        if integration is None or not connects_through_the_app(integration):
            return HandlerOutcome.IGNORED
        disconnected = integration.status is IntegrationStatus.DISCONNECTED
        now = self._clock.now()
        if event.kind is EventKind.APP_UNINSTALLED and not disconnected:
            integration.disconnect(reason="uninstalled", now=now)
        elif event.kind is EventKind.APP_INSTALLED and disconnected and integration.is_active:
            integration.reactivate(now=now)
        else:
            return HandlerOutcome.IGNORED
        await uow.integrations.update(integration)
        return HandlerOutcome.APPLIED
