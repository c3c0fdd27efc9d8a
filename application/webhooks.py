"""Receiving webhooks: senders' event names, delivery ids, the inbox ports and ReceiveWebhook."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from application.ports import (
    Cipher,
    Clock,
    IdGenerator,
    InboxWriter,
    NewDelivery,
    PlatformDeliveries,
    PlatformDelivery,
    SecretBinding,
    SignatureScheme,
    SignatureVerifier,
    VerifiedSignature,
    WebhookTarget,
    WebhookTargets,
)
from domain.errors import (
    FieldViolation,
    IntegrationNotActiveError,
    InvalidArgumentError,
    NotFoundError,
    SecretUnreadableError,
    WebhookSignatureInvalidError,
    WebhookUnsignedError,
)
from domain.values import ProviderAccount, SecretStr
from domain.webhook_delivery import DeliveryStatus, EventKind

GHL_TEMPLATES = frozenset({"gohighlevel", "gohighlevel_oauth"})
"""The templates whose integrations GHL signs deliveries for: a private-integration token's and
the Marketplace app's."""
LOCATION_ACCOUNT_KIND = "ghl.location"
PLATFORM_SENDER = "ghl"
"""The sender of deliveries that name no location (PlatformDelivery.sender)."""
WEBHOOK_SECRET_FIELD = "webhookSecret"  # noqa: S105 - a field name, not a secret
SCHEME_SETTING = "webhookSignatureScheme"
"""Optional config field naming the one scheme family an integration accepts (see
`accepted_schemes`); templates that offer it declare it in their config schema."""

DEFAULT_TIMESTAMP_TOLERANCE = timedelta(minutes=5)
DELIVERY_ID_MAX = 128
MAX_PAYLOAD_DEPTH = 64
"""GHL's payloads nest 4 deep; the inbox's readers (the standard library's JSON, Postgres's
jsonb) take a few hundred levels at most."""
EVENT_TYPE_MAX = 128
LAST_ERROR_MAX = 2000
_SECRET_CACHE_MAX = 10_000


GHL_SCHEMES = frozenset({SignatureScheme.GHL_ED25519, SignatureScheme.GHL_RSA})
_SCHEME_FAMILIES: Mapping[str, frozenset[SignatureScheme]] = {
    "ghl": GHL_SCHEMES,
    "hmac-sha256": frozenset({SignatureScheme.HMAC_SHA256}),
    "standard-webhooks": frozenset({SignatureScheme.STANDARD_WEBHOOKS}),
}
_NEEDS_SECRET = frozenset({SignatureScheme.HMAC_SHA256, SignatureScheme.STANDARD_WEBHOOKS})
_GHL_OR_HMAC = GHL_SCHEMES | {SignatureScheme.HMAC_SHA256}
_STANDARD = frozenset({SignatureScheme.STANDARD_WEBHOOKS})


# --- event names -----------------------------------------------------------------------------

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


# --- payload fields --------------------------------------------------------------------------


def parse_payload(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; anything else is an InvalidArgumentError.

    Only what can be stored and read back exactly is accepted, since a delivery that is stored
    must be processable: strict JSON (RFC 8259: UTF-8, no NaN, numbers within a double's range,
    as orjson reads it) nested at most `MAX_PAYLOAD_DEPTH` deep. A number like ``1e5000`` would
    be stored by Postgres as a 5,001-digit integer that no JSON reader takes back, and deep
    nesting exhausts the reader's recursion: both are refused here, never stored. orjson reads
    integers beyond 64 bits as floats: what is stored is the body itself, not this parse."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidArgumentError(
            "the body is not JSON (RFC 8259: UTF-8, finite numbers within a double's range)",
            (FieldViolation("body", "must be a JSON object"),),
        ) from None
    if not isinstance(payload, dict):
        raise InvalidArgumentError(
            "the body is not a JSON object", (FieldViolation("body", "must be a JSON object"),)
        )
    if _nests_deeper_than(payload, MAX_PAYLOAD_DEPTH):
        raise InvalidArgumentError(
            f"the body nests deeper than {MAX_PAYLOAD_DEPTH} levels",
            (FieldViolation("body", f"must nest at most {MAX_PAYLOAD_DEPTH} levels"),),
        )
    return payload


def _nests_deeper_than(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether containers nest more than `limit` deep (the top level is 1); iterative, so that
    no depth can exhaust the interpreter's stack."""
    stack: list[tuple[dict[str, Any] | list[Any], int]] = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        for child in container.values() if isinstance(container, dict) else container:
            if isinstance(child, dict | list):
                if depth == limit:
                    return True
                stack.append((child, depth + 1))
    return False


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


def delivery_id_of(
    payload: Mapping[str, Any], body: bytes, *, standard_webhook_id: str | None = None
) -> str:
    """GHL's ``webhookId``, else the verified Standard Webhooks ``webhook-id``, else a digest of
    the raw body (a sender's retry repeats the same bytes). Only signed values count: an
    unsigned header could be changed to slip a replay past deduplication."""
    for candidate in (payload.get("webhookId"), standard_webhook_id):
        if isinstance(candidate, str) and 0 < len(candidate) <= DELIVERY_ID_MAX:
            return candidate
    return "sha256:" + hashlib.sha256(body).hexdigest()


# --- who may send ----------------------------------------------------------------------------


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


# --- the use case ----------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)  # not frozen: see NewDelivery
class ReceiveWebhookCommand:
    body: bytes = field(repr=False)
    """The raw bytes, as signed."""
    headers: Mapping[str, str] = field(repr=False)
    """Read by lower-case name: case-insensitive (an HTTP request's own), or keyed in lower
    case."""
    route_event: str | None = None
    """The ``{eventType}`` of ``/webhooks/ghl/{eventType}``; None on ``/webhooks/ghl``."""


@dataclass(slots=True, kw_only=True)  # not frozen: see NewDelivery
class ReceiveWebhookResult:
    id: str
    delivery_id: str
    integration_id: str
    event_type: str
    kind: EventKind
    duplicate: bool
    """Stored before: acknowledged, not stored or processed again."""
    integration_ids: tuple[str, ...] = ()
    """Every integration the delivery was stored for (the account's verified, active owners);
    `integration_id` and `id` are the first's."""


class ReceiveWebhook:
    """Rules: the body is a JSON object; one that names no ``locationId`` is the platform's
    (an agency's install, a location created, a test payload): signed by GHL, it is kept once
    per delivery id (PlatformDeliveries); else its location is an account that at least one
    integration has proven it owns (else not found); the delivery goes to every owner whose
    accepted signature schemes (`accepted_schemes`) verify it over the raw bytes, and to none
    other (when none does, the first owner's verdict is the answer); a signed send time outside
    the tolerance is a replay and refused like a bad signature; the delivery is stored once per
    (integration, delivery id), and the call returns only once it is durable. Deliveries for an
    owner that is switched off or disconnected are stored as rejected (visible, replayable);
    when no owner accepted it the call fails with INTEGRATION_NOT_ACTIVE."""

    def __init__(
        self,
        *,
        targets: WebhookTargets,
        verifier: SignatureVerifier,
        inbox: InboxWriter,
        platform: PlatformDeliveries,
        cipher: Cipher,
        ids: IdGenerator,
        clock: Clock,
        timestamp_tolerance: timedelta = DEFAULT_TIMESTAMP_TOLERANCE,
    ) -> None:
        self._targets = targets
        self._verifier = verifier
        self._inbox = inbox
        self._platform = platform
        self._cipher = cipher
        self._ids = ids
        self._clock = clock
        self._tolerance = timestamp_tolerance
        # integration id -> (the target it was read from, its webhook secret): a secret is
        # decrypted once per target that `targets` hands out, so a new secret, or a data key
        # shredded, is seen as soon as the targets are (within their cache's time).
        self._secrets: dict[str, tuple[WebhookTarget, SecretStr | None]] = {}

    async def execute(self, cmd: ReceiveWebhookCommand) -> ReceiveWebhookResult:
        if cmd.route_event is not None and not 0 < len(cmd.route_event) <= EVENT_TYPE_MAX:
            raise InvalidArgumentError(
                "the event type is not valid",
                (FieldViolation("eventType", f"must be 1-{EVENT_TYPE_MAX} characters"),),
            )
        payload = parse_payload(cmd.body)
        location_id = location_of(payload)
        if location_id is None:
            return await self._receive_for_platform(cmd, payload)
        owners = await self._targets.find_owners(location_account(location_id))
        if not owners:
            raise NotFoundError("location", location_id)

        verified_for: list[tuple[WebhookTarget, VerifiedSignature]] = []
        refusal: WebhookSignatureInvalidError | None = None
        for target in owners:
            try:
                verified_for.append((target, await self._verify(target, cmd)))
            except WebhookSignatureInvalidError as err:
                # A signature that failed says more than a missing one (WebhookUnsignedError).
                if refusal is None or isinstance(refusal, WebhookUnsignedError):
                    refusal = err
        if not verified_for:
            assert refusal is not None
            raise refusal
        now = self._clock.now()
        signed = verified_for[0][1]
        self._check_sent_at(signed.sent_at or sent_at_of(payload), now)

        event_type, kind = classify(cmd.route_event, payload)
        delivery_id = delivery_id_of(payload, cmd.body, standard_webhook_id=signed.message_id)
        deliveries = [
            self._delivery(target, verified, delivery_id, event_type, kind, payload, cmd, now)
            for target, verified in verified_for
        ]
        if len(deliveries) == 1:
            stored = [await self._inbox.store(deliveries[0])]
        else:
            stored = list(await asyncio.gather(*(self._inbox.store(d) for d in deliveries)))
        accepted = [
            (d, new) for d, new in zip(deliveries, stored, strict=True) if d.last_error is None
        ]
        if not accepted:
            raise IntegrationNotActiveError(
                "the integration is not active: the delivery was recorded, not processed",
                metadata={"integration_id": deliveries[0].integration_id},
            )
        first, new = accepted[0]
        return ReceiveWebhookResult(
            id=first.id,
            delivery_id=delivery_id,
            integration_id=first.integration_id,
            event_type=event_type,
            kind=kind,
            duplicate=not new,
            integration_ids=tuple(d.integration_id for d, _ in accepted),
        )

    async def _receive_for_platform(
        self, cmd: ReceiveWebhookCommand, payload: dict[str, Any]
    ) -> ReceiveWebhookResult:
        """A delivery naming no location: only GHL's own signatures can vouch for it."""
        verified = self._verifier.verify(
            body=cmd.body, headers=cmd.headers, schemes=GHL_SCHEMES, secret=None
        )
        now = self._clock.now()
        self._check_sent_at(verified.sent_at or sent_at_of(payload), now)
        event_type, kind = classify(cmd.route_event, payload)
        delivery = PlatformDelivery(
            id=self._ids.new_id(),
            sender=PLATFORM_SENDER,
            delivery_id=delivery_id_of(payload, cmd.body),
            event_type=event_type,
            kind=kind,
            signature_scheme=verified.scheme,
            payload=payload,
            received_at=now,
        )
        new = await self._platform.record(delivery)
        return ReceiveWebhookResult(
            id=delivery.id,
            delivery_id=delivery.delivery_id,
            integration_id="",
            event_type=event_type,
            kind=kind,
            duplicate=not new,
        )

    def _check_sent_at(self, sent_at: datetime | None, now: datetime) -> None:
        if sent_at is not None and abs(now - sent_at) > self._tolerance:
            raise WebhookSignatureInvalidError(
                "the signed timestamp is outside the accepted window (a replay?)"
            )

    async def _verify(self, target: WebhookTarget, cmd: ReceiveWebhookCommand) -> VerifiedSignature:
        schemes = accepted_schemes(target, routed=cmd.route_event is not None)
        secret = None if _NEEDS_SECRET.isdisjoint(schemes) else await self._secret(target)
        return self._verifier.verify(
            body=cmd.body, headers=cmd.headers, schemes=schemes, secret=secret
        )

    def _delivery(
        self,
        target: WebhookTarget,
        verified: VerifiedSignature,
        delivery_id: str,
        event_type: str,
        kind: EventKind,
        payload: dict[str, Any],
        cmd: ReceiveWebhookCommand,
        now: datetime,
    ) -> NewDelivery:
        accepted = target.accepts(kind)
        return NewDelivery(
            id=self._ids.new_id(),
            integration_id=target.integration_id,
            sub_account_id=target.sub_account_id,
            delivery_id=delivery_id,
            event_type=event_type,
            kind=kind,
            signature_scheme=verified.scheme,
            payload=payload,
            received_at=now,
            status=DeliveryStatus.PENDING if accepted else DeliveryStatus.REJECTED,
            last_error=None if accepted else "the integration was not active",
            raw_payload=cmd.body,
        )

    async def _secret(self, target: WebhookTarget) -> SecretStr | None:
        cached = self._secrets.get(target.integration_id)
        if cached is not None and cached[0] is target:
            return cached[1]
        secret = await self._decrypt_secret(target)
        if len(self._secrets) >= _SECRET_CACHE_MAX:
            self._secrets.clear()
        self._secrets[target.integration_id] = (target, secret)
        return secret

    async def _decrypt_secret(self, target: WebhookTarget) -> SecretStr | None:
        if target.webhook_secret is None:
            return None
        binding = SecretBinding(target.sub_account_id, target.integration_id, WEBHOOK_SECRET_FIELD)
        try:
            return await self._cipher.decrypt(binding, target.webhook_secret)
        except SecretUnreadableError:
            # Shredded or tampered: schemes that need the secret cannot verify anything.
            return None
