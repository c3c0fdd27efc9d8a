"""Receiving webhooks: a body read and checked, its delivery id, and ReceiveWebhook, which stores
a verified delivery for every integration owning the account it is for."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from application.ports import (
    WEBHOOK_SECRET_FIELD,
    Cipher,
    Clock,
    DeliveryFacts,
    IdGenerator,
    InboxWriter,
    NewDelivery,
    PlatformDeliveries,
    PlatformDelivery,
    SecretBinding,
    SignatureScheme,
    SignatureVerifier,
    VerifiedSignature,
    WebhookSender,
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
from domain.values import SecretStr
from domain.webhook_delivery import DeliveryStatus, EventKind

DEFAULT_TIMESTAMP_TOLERANCE = timedelta(minutes=5)
DELIVERY_ID_MAX = 128
MAX_PAYLOAD_DEPTH = 64
"""Providers' payloads nest a few levels deep; the inbox's readers (the standard library's JSON,
Postgres's jsonb) take a few hundred levels at most."""
EVENT_TYPE_MAX = 128
_SECRET_CACHE_MAX = 10_000


_NEEDS_SECRET = frozenset({SignatureScheme.HMAC_SHA256, SignatureScheme.STANDARD_WEBHOOKS})


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
    # A body with no more brackets than the limit cannot nest deeper (brackets in strings count
    # too, so this only ever sends a body to the walk); two scans in C spare nearly every body it.
    brackets = body.count(b"[") + body.count(b"{")
    if brackets > MAX_PAYLOAD_DEPTH and _nests_deeper_than(payload, MAX_PAYLOAD_DEPTH):
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


def canonical_json(value: Mapping[str, Any]) -> bytes:
    """One part of a batched body as bytes that do not depend on how the sender laid it out: the
    digest a part without an id of its own is deduplicated by."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def delivery_id_of(facts: DeliveryFacts, body: bytes, *, signed_id: str | None = None) -> str:
    """The sender's own id for the delivery (from the signed body), else the id the signature
    itself signed (Standard Webhooks' ``webhook-id``), else a digest of the raw body (a sender's
    retry repeats the same bytes). Only signed values count: an unsigned header could be
    changed to slip a replay past deduplication."""
    for candidate in (facts.delivery_id, signed_id):
        if candidate is not None and 0 < len(candidate) <= DELIVERY_ID_MAX:
            return candidate
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(slots=True, kw_only=True)  # not frozen: see NewDelivery
class ReceiveWebhookCommand:
    body: bytes = field(repr=False)
    """The raw bytes, as signed."""
    headers: Mapping[str, str] = field(repr=False)
    """Read by lower-case name: case-insensitive (an HTTP request's own), or keyed in lower
    case."""
    route_event: str | None = None
    """The ``{eventType}`` of a route that names the event (``/webhooks/{sender}/{eventType}``);
    None on the sender's own route."""


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
    """Rules, for one provider's webhooks (its WebhookSender): the body is a JSON object; one that
    names no account is the platform's (an agency's app install, a test payload): vouched for by
    the provider's own signatures, it is kept once per delivery id (PlatformDeliveries); else
    its account is one that at least one integration has proven it owns (else not found); the delivery goes to every owner whose
    accepted signature schemes (`accepted_schemes`) verify it over the raw bytes, and to none
    other (when none does, the first owner's verdict is the answer); a signed send time outside
    the tolerance is a replay and refused like a bad signature; the delivery is stored once per
    (integration, delivery id), and the call returns only once it is durable. Deliveries for an
    owner that is switched off or disconnected are stored as rejected (visible, replayable);
    when no owner accepted it the call fails with INTEGRATION_NOT_ACTIVE."""

    def __init__(
        self,
        *,
        sender: WebhookSender,
        targets: WebhookTargets,
        verifier: SignatureVerifier,
        inbox: InboxWriter,
        platform: PlatformDeliveries,
        cipher: Cipher,
        ids: IdGenerator,
        clock: Clock,
        timestamp_tolerance: timedelta = DEFAULT_TIMESTAMP_TOLERANCE,
    ) -> None:
        self._sender = sender
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

    @property
    def sender(self) -> str:
        """The provider whose webhooks this receives: its route is ``/webhooks/{sender}``."""
        return self._sender.name

    async def execute(self, cmd: ReceiveWebhookCommand) -> ReceiveWebhookResult:
        if cmd.route_event is not None and not 0 < len(cmd.route_event) <= EVENT_TYPE_MAX:
            raise InvalidArgumentError(
                "the event type is not valid",
                (FieldViolation("eventType", f"must be 1-{EVENT_TYPE_MAX} characters"),),
            )
        payload = parse_payload(cmd.body)
        pieces = self._sender.split(payload)
        if len(pieces) != 1 or pieces[0] is not payload:
            return await self._receive_batch(cmd, pieces)
        facts = self._sender.read(payload, route_event=cmd.route_event)
        if facts.account is None:
            return await self._receive_for_platform(cmd, payload, facts)
        owners = await self._targets.find_owners(facts.account)
        if not owners and facts.platform_if_unowned:
            return await self._receive_for_platform(cmd, payload, facts)
        if not owners:
            raise NotFoundError(facts.account.noun, facts.account.id)

        # Deliveries are for one owner nearly always: that path takes no list, no gather.
        routed = cmd.route_event is not None
        verified_for: list[tuple[WebhookTarget, VerifiedSignature]] = []
        refusal: WebhookSignatureInvalidError | None = None
        for target in owners:
            schemes = self._sender.accepted_schemes(target, routed=routed)
            secret = None
            if not _NEEDS_SECRET.isdisjoint(schemes):
                cached = self._secrets.get(target.integration_id)
                secret = (
                    cached[1]
                    if cached is not None and cached[0] is target
                    else await self._secret(target)
                )
            try:
                verified = self._verifier.verify(
                    body=cmd.body, headers=cmd.headers, schemes=schemes, secret=secret
                )
            except WebhookSignatureInvalidError as err:
                # A signature that failed says more than a missing one (WebhookUnsignedError).
                if refusal is None or isinstance(refusal, WebhookUnsignedError):
                    refusal = err
                continue
            verified_for.append((target, verified))
        if not verified_for:
            assert refusal is not None
            raise refusal
        now = self._clock.now()
        signed = verified_for[0][1]
        sent_at = signed.sent_at or facts.sent_at
        if sent_at is not None and abs(now - sent_at) > self._tolerance:
            raise _replay()

        event_type, kind = facts.event_type, facts.kind
        delivery_id = delivery_id_of(facts, cmd.body, signed_id=signed.message_id)
        deliveries = [
            NewDelivery(
                id=self._ids.new_id(),
                integration_id=target.integration_id,
                sub_account_id=target.sub_account_id,
                delivery_id=delivery_id,
                event_type=event_type,
                kind=kind,
                signature_scheme=verified.scheme,
                payload=payload,
                received_at=now,
                status=DeliveryStatus.PENDING if accepts else DeliveryStatus.REJECTED,
                last_error=None if accepts else "the integration was not active",
                raw_payload=cmd.body,
            )
            for target, verified in verified_for
            for accepts in (target.accepts(kind),)
        ]
        if len(deliveries) == 1:
            first = deliveries[0]
            new = await self._inbox.store(first)
            if first.last_error is not None:
                raise _not_active(first.integration_id)
            return ReceiveWebhookResult(
                id=first.id,
                delivery_id=delivery_id,
                integration_id=first.integration_id,
                event_type=event_type,
                kind=kind,
                duplicate=not new,
                integration_ids=(first.integration_id,),
            )
        stored = await asyncio.gather(*(self._inbox.store(d) for d in deliveries))
        accepted = [
            (d, new) for d, new in zip(deliveries, stored, strict=True) if d.last_error is None
        ]
        if not accepted:
            raise _not_active(deliveries[0].integration_id)
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

    async def _receive_batch(
        self, cmd: ReceiveWebhookCommand, pieces: Sequence[Mapping[str, Any]]
    ) -> ReceiveWebhookResult:
        """A body carrying several deliveries (changes of several accounts, batched by the
        sender): one signature over the whole, by the sender's own schemes, vouches for every
        one. Each is stored for each active owner of its account, deduplicated by its own id, to
        be processed on its own; one for an account nobody owns is kept as the platform's.
        Returns once every one is durable; the result names the first."""
        verified = self._verifier.verify(
            body=cmd.body, headers=cmd.headers, schemes=self._sender.platform_schemes, secret=None
        )
        now = self._clock.now()
        deliveries: list[NewDelivery] = []
        unowned: list[PlatformDelivery] = []
        kinds: list[EventKind] = []
        for piece in pieces:
            facts = self._sender.read(piece, route_event=None)
            kinds.append(facts.kind)
            delivery_id = delivery_id_of(facts, canonical_json(piece))
            owners = () if facts.account is None else await self._targets.find_owners(facts.account)
            if not owners:
                unowned.append(
                    PlatformDelivery(
                        id=self._ids.new_id(),
                        sender=self._sender.name,
                        delivery_id=delivery_id,
                        event_type=facts.event_type,
                        kind=facts.kind,
                        signature_scheme=verified.scheme,
                        payload=dict(piece),
                        received_at=now,
                    )
                )
            for target in owners:
                accepts = target.accepts(facts.kind)
                deliveries.append(
                    NewDelivery(
                        id=self._ids.new_id(),
                        integration_id=target.integration_id,
                        sub_account_id=target.sub_account_id,
                        delivery_id=delivery_id,
                        event_type=facts.event_type,
                        kind=facts.kind,
                        signature_scheme=verified.scheme,
                        payload=dict(piece),
                        received_at=now,
                        status=DeliveryStatus.PENDING if accepts else DeliveryStatus.REJECTED,
                        last_error=None if accepts else "the integration was not active",
                    )
                )
        stored = await asyncio.gather(
            *(self._inbox.store(d) for d in deliveries),
            *(self._platform.record(d) for d in unowned),
        )
        first = deliveries[0] if deliveries else unowned[0] if unowned else None
        return ReceiveWebhookResult(
            id="" if first is None else first.id,
            delivery_id="" if first is None else first.delivery_id,
            integration_id=deliveries[0].integration_id if deliveries else "",
            event_type="" if first is None else first.event_type,
            kind=kinds[0] if kinds else EventKind.UNHANDLED,
            duplicate=bool(stored) and not any(stored),
            integration_ids=tuple(dict.fromkeys(d.integration_id for d in deliveries)),
        )

    async def _receive_for_platform(
        self, cmd: ReceiveWebhookCommand, payload: dict[str, Any], facts: DeliveryFacts
    ) -> ReceiveWebhookResult:
        """A delivery naming no account: only the provider's own signatures can vouch for it."""
        verified = self._verifier.verify(
            body=cmd.body,
            headers=cmd.headers,
            schemes=self._sender.platform_schemes,
            secret=None,
        )
        now = self._clock.now()
        sent_at = verified.sent_at or facts.sent_at
        if sent_at is not None and abs(now - sent_at) > self._tolerance:
            raise _replay()
        event_type, kind = facts.event_type, facts.kind
        delivery = PlatformDelivery(
            id=self._ids.new_id(),
            sender=self._sender.name,
            delivery_id=delivery_id_of(facts, cmd.body),
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


def _replay() -> WebhookSignatureInvalidError:
    return WebhookSignatureInvalidError(
        "the signed timestamp is outside the accepted window (a replay?)"
    )


def _not_active(integration_id: str) -> IntegrationNotActiveError:
    return IntegrationNotActiveError(
        "the integration is not active: the delivery was recorded, not processed",
        metadata={"integration_id": integration_id},
    )
