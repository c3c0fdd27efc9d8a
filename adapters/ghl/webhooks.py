"""GoHighLevel's webhooks as the receive use case needs them (application.ports.WebhookSender):
its event names, the location a delivery is for, its delivery ids and send times, and which
signatures an integration of its accepts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from application.ports import DeliveryFacts, SignatureScheme, WebhookTarget
from domain.values import ProviderAccount
from domain.webhook_delivery import EventKind

_ACCOUNTS_KEPT = 10_000
NAME = "ghl"
"""The route of GHL's webhooks (``POST /webhooks/ghl[/{eventType}]``), and the sender of the
deliveries of the platform it sends."""
GHL_TEMPLATES = frozenset({"gohighlevel", "gohighlevel_oauth"})
"""The templates whose integrations GHL signs deliveries for: a private-integration token's and
the Marketplace app's."""
LOCATION_ACCOUNT_KIND = "ghl.location"
COMPANY_ACCOUNT_KIND = "ghl.company"
"""An agency: owned by the integrations connected through its install of the app, which its
agency-level INSTALL / UNINSTALL (``companyId``, no ``locationId``) are for."""
SCHEME_SETTING = "webhookSignatureScheme"
"""Optional config field naming the one scheme family an integration accepts (see
`accepted_schemes`); templates that offer it declare it in their config schema."""


GHL_SCHEMES = frozenset({SignatureScheme.PUBLISHED_ED25519, SignatureScheme.PUBLISHED_RSA_SHA256})
_SCHEME_FAMILIES: Mapping[str, frozenset[SignatureScheme]] = {
    "ghl": GHL_SCHEMES,
    "hmac-sha256": frozenset({SignatureScheme.HMAC_SHA256}),
    "standard-webhooks": frozenset({SignatureScheme.STANDARD_WEBHOOKS}),
}
_GHL_OR_HMAC = GHL_SCHEMES | {SignatureScheme.HMAC_SHA256}
_STANDARD = frozenset({SignatureScheme.STANDARD_WEBHOOKS})


_KINDS: Mapping[str, EventKind] = {
    # Our own vocabulary, so that any kind can be posted to the routed endpoint.
    **{kind.value: kind for kind in EventKind if kind is not EventKind.UNHANDLED},
    # The seed's routes: /webhooks/ghl/{eventType}.
    "contact.created": EventKind.CONTACT_CREATED,
    "contact.updated": EventKind.CONTACT_UPDATED,
    "contact.deleted": EventKind.CONTACT_DELETED,
    "appointment.created": EventKind.APPOINTMENT_CREATED,
    "appointment.updated": EventKind.APPOINTMENT_UPDATED,
    "appointment.deleted": EventKind.APPOINTMENT_DELETED,
    "opportunity.status_change": EventKind.OPPORTUNITY_STATUS_CHANGED,
    "inbound.message": EventKind.MESSAGE_INBOUND,
    "outbound.message": EventKind.MESSAGE_OUTBOUND,
    # GHL's marketplace `type`s (API-NOTES §4.1).
    "ContactCreate": EventKind.CONTACT_CREATED,
    "ContactUpdate": EventKind.CONTACT_UPDATED,
    "ContactTagUpdate": EventKind.CONTACT_UPDATED,
    "ContactDndUpdate": EventKind.CONTACT_UPDATED,
    "ContactDelete": EventKind.CONTACT_DELETED,
    "InboundMessage": EventKind.MESSAGE_INBOUND,
    "OutboundMessage": EventKind.MESSAGE_OUTBOUND,
    "AppointmentCreate": EventKind.APPOINTMENT_CREATED,
    "AppointmentUpdate": EventKind.APPOINTMENT_UPDATED,
    "AppointmentDelete": EventKind.APPOINTMENT_DELETED,
    "OpportunityStatusUpdate": EventKind.OPPORTUNITY_STATUS_CHANGED,
    "INSTALL": EventKind.APP_INSTALLED,
    "AppInstall": EventKind.APP_INSTALLED,
    "UNINSTALL": EventKind.APP_UNINSTALLED,
    "AppUninstall": EventKind.APP_UNINSTALLED,
}
_MESSAGE_KINDS = frozenset({EventKind.MESSAGE_INBOUND, EventKind.MESSAGE_OUTBOUND})
_DIRECTIONS: Mapping[str, EventKind] = {
    "inbound": EventKind.MESSAGE_INBOUND,
    "outbound": EventKind.MESSAGE_OUTBOUND,
}
_LIFECYCLE_KINDS = frozenset({EventKind.APP_INSTALLED, EventKind.APP_UNINSTALLED})


def classify(route_event: str | None, payload: Mapping[str, Any]) -> tuple[str, EventKind]:
    """The sender's event name and its kind.

    The name comes from the route (``/webhooks/ghl/{eventType}``) when there is one, else from
    the body's ``type``. The route wins because it is the only thing that tells GHL's appointment
    events apart: its AppointmentUpdate and AppointmentDelete examples are byte for byte its
    AppointmentCreate example, ``"type": "AppointmentCreate"`` included. Posted to the
    marketplace endpoint, they are read as created (bookings are upserted, so an update read as
    a create is still applied; a deletion needs the routed URL GHL allows per event).

    Messages follow the body's ``direction`` when it has one: it describes the message itself,
    while the examples' ``type`` is wrong (the inbound call example says OutboundMessage).

    GHL sends OpportunityUpdate alongside each specific opportunity event; one that carries a
    ``status`` is a status change too (the handler applies a status once, by state).
    """
    body_type = payload.get("type")
    event_type = route_event or (body_type if isinstance(body_type, str) else "")
    kind = _KINDS.get(event_type, EventKind.UNHANDLED)
    if kind in _MESSAGE_KINDS:
        direction = payload.get("direction")
        if isinstance(direction, str):
            kind = _DIRECTIONS.get(direction.lower(), kind)
    elif event_type == "OpportunityUpdate" and isinstance(payload.get("status"), str):
        kind = EventKind.OPPORTUNITY_STATUS_CHANGED
    return event_type, kind


def _envelope_field(payload: Mapping[str, Any], name: str) -> Any:
    """A top-level field, else the same field inside ``data`` (the envelope of GHL's guide)."""
    if name in payload:
        return payload[name]
    data = payload.get("data")
    return data.get(name) if isinstance(data, dict) else None


def location_of(payload: Mapping[str, Any]) -> str | None:
    location = _envelope_field(payload, "locationId")
    return location if isinstance(location, str) and 0 < len(location) <= 128 else None


def location_account(location_id: str) -> ProviderAccount:
    """The GHL location as an account an integration can own."""
    return ProviderAccount(LOCATION_ACCOUNT_KIND, location_id)


def company_account(company_id: str) -> ProviderAccount:
    """The GHL agency as an account an integration connected through its install owns."""
    return ProviderAccount(COMPANY_ACCOUNT_KIND, company_id)


def company_of(payload: Mapping[str, Any]) -> str | None:
    company = _envelope_field(payload, "companyId")
    return company if isinstance(company, str) and 0 < len(company) <= 128 else None


def sent_at_of(payload: Mapping[str, Any]) -> datetime | None:
    """GHL's ``timestamp`` (ISO 8601, or epoch seconds or milliseconds); None when absent or
    unreadable. The body is signed, so a timestamp in an unexpected format is the sender's own:
    it is not checked rather than refused (refusing would lose the event for good)."""
    value = payload.get("timestamp")
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    return None


def accepted_schemes(target: WebhookTarget, *, routed: bool) -> frozenset[SignatureScheme]:
    """The signature schemes an integration accepts; empty means nothing can be verified.

    An explicit ``webhookSignatureScheme`` (``ghl``, ``hmac-sha256``, ``standard-webhooks``)
    is the only family accepted; an unknown value accepts nothing. Otherwise a GoHighLevel
    integration requires GHL's signatures, and on the seed's routed endpoint also accepts the
    seed's HMAC when it has a ``webhookSecret``; GHL's marketplace format is only ever sent by
    GHL, signed with its key. That holds for both GHL templates (a private-integration token's
    and the Marketplace app's): GHL signs every delivery of a location the same way. Other
    templates use Standard Webhooks with their secret.
    """
    explicit = target.config.get(SCHEME_SETTING)
    if explicit is not None:
        return (
            _SCHEME_FAMILIES.get(explicit, frozenset())
            if isinstance(explicit, str)
            else frozenset()
        )
    has_secret = target.webhook_secret is not None
    if target.template_name in GHL_TEMPLATES:
        return _GHL_OR_HMAC if routed and has_secret else GHL_SCHEMES
    return _STANDARD if has_secret else frozenset()


class GhlWebhooks:
    """GHL's WebhookSender."""

    name = NAME
    platform_schemes = GHL_SCHEMES

    def __init__(self) -> None:
        # location id -> its account, built once: every delivery looks its owners up by it.
        self._accounts: dict[str, ProviderAccount] = {}

    def _account(self, location_id: str) -> ProviderAccount:
        account = self._accounts.get(location_id)
        if account is None:
            if len(self._accounts) >= _ACCOUNTS_KEPT:  # unknown locations must not grow it
                self._accounts.clear()
            account = self._accounts[location_id] = location_account(location_id)
        return account

    def split(self, payload: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        return (payload,)  # GHL sends one event per request

    def read(self, payload: Mapping[str, Any], *, route_event: str | None) -> DeliveryFacts:
        event_type, kind = classify(route_event, payload)
        location = location_of(payload)
        account = None if location is None else self._account(location)
        # An agency-level install or uninstall names the agency and no location.
        company = company_of(payload) if account is None and kind in _LIFECYCLE_KINDS else None
        if company is not None:
            account = company_account(company)
        webhook_id = payload.get("webhookId")
        return DeliveryFacts(
            event_type=event_type,
            kind=kind,
            account=account,
            platform_if_unowned=company is not None,
            delivery_id=webhook_id if isinstance(webhook_id, str) else None,
            sent_at=sent_at_of(payload),
        )

    accepted_schemes = staticmethod(accepted_schemes)
