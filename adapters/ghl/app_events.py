"""Which integrations a GoHighLevel Marketplace app's INSTALL / UNINSTALL concern."""

from __future__ import annotations

from adapters.ghl.agency_tokens import AgencyGrantStore
from adapters.ghl.auth import OAuthClient
from adapters.ghl.connect import app_id_of
from adapters.ghl.webhooks import company_of, location_of
from application.ports import InboundEvent
from application.secrets import connects_through_the_app
from domain.integration import Integration


class GhlAppEvents:
    """AppEventScope of GHL. An event names its app (``appId``). The service's own app
    (GHL_OAUTH_CLIENT_ID) connects the integrations without a client of their own, those made
    by signing in; an app of a tenant's connects those configured with its client id. So an
    event of the service's app concerns only the former, and another app's only the latter
    (whose own client id stays sealed here: which of the tenants' apps is not told apart).
    Without the service's app, or an event without ``appId``, every integration that connects
    through an app is concerned, as before the sign-in existed."""

    def __init__(self, service_app: OAuthClient | None) -> None:
        self._app_id = None if service_app is None else app_id_of(service_app.client_id.reveal())

    def __call__(self, integration: Integration, event: InboundEvent) -> bool:
        if not connects_through_the_app(integration):
            return False
        app_id = event.payload.get("appId")
        if self._app_id is None or not isinstance(app_id, str) or not app_id:
            return True
        own_client = "clientId" in integration.secrets
        return (app_id == self._app_id) is not own_client


class GhlAgencyUninstall:
    """AppUninstalled of GHL: an agency-level UNINSTALL (``companyId``, no ``locationId``) that
    reaches an integration connected through that agency drops the agency chain its
    sub-account stored (GHL revoked it; the integration is disconnected)."""

    def __init__(self, grants: AgencyGrantStore) -> None:
        self._grants = grants

    async def __call__(self, integration: Integration, event: InboundEvent) -> None:
        company = company_of(event.payload)
        if company is None or location_of(event.payload) is not None:
            return
        if integration.config.get("companyId") == company:
            await self._grants.delete(integration.sub_account_id, company)
