"""HandleAppLifecycleEvent: the marketplace app's INSTALL / UNINSTALL → the integration connected / disconnected."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from application.ports import Clock, HandlerOutcome, InboundEvent, UnitOfWork
from application.secrets import connects_through_the_app
from domain.integration import Integration, IntegrationStatus
from domain.webhook_delivery import EventKind

AppEventScope = Callable[[Integration, InboundEvent], bool]
"""Whether an app's install or uninstall event concerns an integration: the provider knows which
app an integration connects through and which app an event is about."""


AppUninstalled = Callable[[Integration, InboundEvent], Awaitable[None]]
"""What else an uninstall that concerns an integration removes: credentials the provider's
adapter keeps for several of its sub-account's integrations (an install above the account,
which the uninstall revoked). Idempotent: every integration the event reaches calls it."""


def _through_any_app(integration: Integration, event: InboundEvent) -> bool:
    return connects_through_the_app(integration)


class HandleAppLifecycleEvent:
    """Rules: UNINSTALL disconnects the integration (reason ``uninstalled``); an INSTALL of a
    disconnected integration that its admin has left switched on returns it to pending, to be
    tested again (DESIGN's status machine: only a successful test makes an integration active,
    and disconnected → pending is the way back). An INSTALL never overrides the admin's off
    switch, and changes nothing for an integration that is not disconnected. Only integrations
    that connect through the app are concerned (`concerns`; by default any integration that
    connects through an app): uninstalling it revokes the app's tokens, not a
    private-integration token, nor another app's. An UNINSTALL also removes what
    `uninstalled` says the app's install left shared."""

    def __init__(
        self,
        *,
        clock: Clock,
        concerns: AppEventScope = _through_any_app,
        uninstalled: AppUninstalled | None = None,
    ) -> None:
        self._clock = clock
        self._concerns = concerns
        self._uninstalled = uninstalled

    async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
        integration = await uow.integrations.get(event.integration_id)
        if integration is None or not self._concerns(integration, event):
            return HandlerOutcome.IGNORED
        if event.kind is EventKind.APP_UNINSTALLED and self._uninstalled is not None:
            await self._uninstalled(integration, event)
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
