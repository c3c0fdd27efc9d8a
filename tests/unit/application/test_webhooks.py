"""Receiving webhooks on the in-memory fakes: event names, delivery ids, schemes, and the rules of
ReceiveWebhook."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.ghl.webhooks import (
    GHL_SCHEMES,
    GhlWebhooks,
    accepted_schemes,
    classify,
    company_account,
    location_account,
    sent_at_of,
)
from application.ports import (
    DeliveryFacts,
    SecretBinding,
    SignatureScheme,
    VerifiedSignature,
    WebhookTarget,
)
from application.webhooks import (
    MAX_PAYLOAD_DEPTH,
    ReceiveWebhook,
    ReceiveWebhookCommand,
    delivery_id_of,
)
from domain.errors import (
    IntegrationNotActiveError,
    InvalidArgumentError,
    NotFoundError,
    StorageUnavailableError,
    WebhookSignatureInvalidError,
    WebhookUnsignedError,
)
from domain.integration import Integration, IntegrationStatus
from domain.values import EncryptedSecret, ProviderAccount, SecretStr
from domain.webhook_delivery import DeliveryStatus, EventKind
from tests.fakes import (
    FakeCipher,
    FakeUnitOfWorkFactory,
    FixedClock,
    InMemoryInboxWriter,
    InMemoryPlatformDeliveries,
    InMemoryWebhookTargets,
    SequentialIds,
)

LOCATION = "loc-1"
SECRET = "whsec_c2VjcmV0LW9mLXRoZS1pbnRlZ3JhdGlvbg"


# --- classify ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("route", "payload", "expected"),
    [
        pytest.param("contact.created", {}, EventKind.CONTACT_CREATED, id="seed contact.created"),
        pytest.param("contact.updated", {}, EventKind.CONTACT_UPDATED, id="seed contact.updated"),
        pytest.param("contact.deleted", {}, EventKind.CONTACT_DELETED, id="seed contact.deleted"),
        pytest.param("appointment.created", {}, EventKind.APPOINTMENT_CREATED, id="seed appt"),
        pytest.param("appointment.updated", {}, EventKind.APPOINTMENT_UPDATED, id="seed appt upd"),
        pytest.param("appointment.deleted", {}, EventKind.APPOINTMENT_DELETED, id="seed appt del"),
        pytest.param(
            "opportunity.status_change",
            {},
            EventKind.OPPORTUNITY_STATUS_CHANGED,
            id="seed opportunity.status_change",
        ),
        pytest.param("outbound.message", {}, EventKind.MESSAGE_OUTBOUND, id="seed outbound"),
        pytest.param("inbound.message", {}, EventKind.MESSAGE_INBOUND, id="seed inbound"),
        pytest.param(None, {"type": "ContactCreate"}, EventKind.CONTACT_CREATED, id="create"),
        pytest.param(None, {"type": "ContactUpdate"}, EventKind.CONTACT_UPDATED, id="update"),
        pytest.param(None, {"type": "ContactTagUpdate"}, EventKind.CONTACT_UPDATED, id="tags"),
        pytest.param(None, {"type": "ContactDndUpdate"}, EventKind.CONTACT_UPDATED, id="dnd"),
        pytest.param(None, {"type": "ContactDelete"}, EventKind.CONTACT_DELETED, id="delete"),
        pytest.param(None, {"type": "INSTALL"}, EventKind.APP_INSTALLED, id="install"),
        pytest.param(None, {"type": "UNINSTALL"}, EventKind.APP_UNINSTALLED, id="uninstall"),
        pytest.param(
            None,
            {"type": "OpportunityStatusUpdate", "status": "won"},
            EventKind.OPPORTUNITY_STATUS_CHANGED,
            id="opportunity status",
        ),
        pytest.param(
            None,
            {"type": "OpportunityUpdate", "status": "lost"},
            EventKind.OPPORTUNITY_STATUS_CHANGED,
            id="generic opportunity update carrying a status",
        ),
        pytest.param(
            None, {"type": "OpportunityUpdate"}, EventKind.UNHANDLED, id="update without status"
        ),
        pytest.param(None, {"type": "OpportunityStageUpdate"}, EventKind.UNHANDLED, id="stage"),
        pytest.param(None, {"type": "NoteCreate"}, EventKind.UNHANDLED, id="unknown type"),
        pytest.param(None, {}, EventKind.UNHANDLED, id="no type at all"),
        pytest.param(None, {"type": 7}, EventKind.UNHANDLED, id="type not a string"),
        pytest.param(None, {"type": "SMS"}, EventKind.UNHANDLED, id="provider outbound message"),
    ],
)
def test_each_senders_event_name_maps_to_one_kind(
    route: str | None, payload: dict[str, Any], expected: EventKind
) -> None:
    assert classify(route, payload)[1] is expected


def test_the_route_names_the_event_over_the_bodys_type() -> None:
    # GHL's AppointmentUpdate example says "type": "AppointmentCreate" (a documented doc bug).
    payload = {"type": "AppointmentCreate", "appointment": {"id": "a-1"}}

    assert classify("AppointmentUpdate", payload) == (
        "AppointmentUpdate",
        EventKind.APPOINTMENT_UPDATED,
    )
    assert classify("AppointmentDelete", payload)[1] is EventKind.APPOINTMENT_DELETED
    assert classify(None, payload) == ("AppointmentCreate", EventKind.APPOINTMENT_CREATED)


@pytest.mark.parametrize(
    ("event", "direction", "expected"),
    [
        pytest.param("OutboundMessage", "inbound", EventKind.MESSAGE_INBOUND, id="call doc bug"),
        pytest.param("InboundMessage", "outbound", EventKind.MESSAGE_OUTBOUND, id="reversed"),
        pytest.param("OutboundMessage", "OUTBOUND", EventKind.MESSAGE_OUTBOUND, id="any case"),
        pytest.param("outbound.message", "inbound", EventKind.MESSAGE_INBOUND, id="seed route"),
        pytest.param("InboundMessage", "sideways", EventKind.MESSAGE_INBOUND, id="unknown kept"),
    ],
)
def test_a_messages_direction_decides_whether_it_is_inbound_or_outbound(
    event: str, direction: str, expected: EventKind
) -> None:
    assert classify(None, {"type": event, "direction": direction})[1] is expected
    assert classify(event, {"direction": direction})[1] is expected


def test_a_direction_never_turns_another_event_into_a_message() -> None:
    assert classify(None, {"type": "ContactCreate", "direction": "inbound"})[1] is (
        EventKind.CONTACT_CREATED
    )


# --- payload fields ----------------------------------------------------------------------------


def read(payload: dict[str, Any]) -> DeliveryFacts:
    return GhlWebhooks().read(payload, route_event=None)


def test_the_delivery_id_is_ghls_webhook_id_first() -> None:
    facts = read({"webhookId": "wh-1"})

    assert delivery_id_of(facts, b"{}", signed_id="msg-1") == "wh-1"


def test_the_delivery_id_is_the_verified_standard_webhooks_id_next() -> None:
    assert delivery_id_of(read({}), b"{}", signed_id="msg-1") == "msg-1"


def test_without_an_id_the_delivery_id_is_a_digest_of_the_raw_bytes() -> None:
    body = b'{"type": "ContactCreate"}'

    assert delivery_id_of(read({"webhookId": 12}), body) == (
        "sha256:" + hashlib.sha256(body).hexdigest()
    )
    assert delivery_id_of(read({}), body + b" ") != delivery_id_of(read({}), body)


def test_an_overlong_sender_id_is_not_trusted_as_a_key() -> None:
    assert delivery_id_of(read({"webhookId": "x" * 129}), b"{}").startswith("sha256:")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-28T14:35:00.000Z", datetime(2025, 1, 28, 14, 35, tzinfo=UTC)),
        ("2025-01-28T16:35:00+02:00", datetime(2025, 1, 28, 14, 35, tzinfo=UTC)),
        ("2025-01-28T14:35:00", datetime(2025, 1, 28, 14, 35, tzinfo=UTC)),
        (1738074900, datetime(2025, 1, 28, 14, 35, tzinfo=UTC)),
        (1738074900000, datetime(2025, 1, 28, 14, 35, tzinfo=UTC)),
        ("1738074900", datetime(2025, 1, 28, 14, 35, tzinfo=UTC)),
        ("yesterday", None),
        (True, None),
        (None, None),
    ],
)
def test_ghls_timestamp_is_read_in_every_shape_it_may_take(
    value: object, expected: datetime | None
) -> None:
    assert sent_at_of({"timestamp": value}) == expected


# --- schemes -----------------------------------------------------------------------------------


def _target(template: str = "gohighlevel", *, secret: bool = False, **config: Any) -> WebhookTarget:
    return WebhookTarget(
        integration_id="i-1",
        sub_account_id="sa-1",
        template_name=template,
        is_active=True,
        status=IntegrationStatus.ACTIVE,
        config=config,
        webhook_secret=EncryptedSecret("v1.k.x") if secret else None,
    )


def test_a_ghl_integration_requires_ghls_own_signatures_by_default() -> None:
    assert accepted_schemes(_target(), routed=False) == GHL_SCHEMES
    assert accepted_schemes(_target(), routed=True) == GHL_SCHEMES
    assert accepted_schemes(_target(secret=True), routed=False) == GHL_SCHEMES


def test_the_seeds_routes_also_accept_its_hmac_when_the_integration_has_a_secret() -> None:
    assert accepted_schemes(_target(secret=True), routed=True) == GHL_SCHEMES | {
        SignatureScheme.HMAC_SHA256
    }


def test_an_explicit_scheme_is_the_only_one_accepted() -> None:
    assert accepted_schemes(
        _target(secret=True, webhookSignatureScheme="hmac-sha256"), routed=False
    ) == {SignatureScheme.HMAC_SHA256}
    assert accepted_schemes(
        _target(secret=True, webhookSignatureScheme="standard-webhooks"), routed=True
    ) == {SignatureScheme.STANDARD_WEBHOOKS}


def test_an_unknown_explicit_scheme_accepts_nothing() -> None:
    assert accepted_schemes(_target(webhookSignatureScheme="none"), routed=True) == frozenset()
    assert accepted_schemes(_target(webhookSignatureScheme=["ghl"]), routed=True) == frozenset()


def test_other_templates_use_standard_webhooks_with_their_secret() -> None:
    assert accepted_schemes(_target("crm_x", secret=True), routed=True) == {
        SignatureScheme.STANDARD_WEBHOOKS
    }
    assert accepted_schemes(_target("crm_x"), routed=True) == frozenset()


# --- ReceiveWebhook ----------------------------------------------------------------------------


@dataclass
class FakeVerifier:
    """Accepts ``x-test-signature: valid``, or ``hmac:<secret>`` when that is the integration's
    secret and it accepts HMAC; no signature, or ``hmac:...`` for an integration without HMAC,
    is unsigned (WebhookUnsignedError); records what it was asked."""

    scheme: SignatureScheme = SignatureScheme.PUBLISHED_ED25519
    sent_at: datetime | None = None
    message_id: str | None = None
    calls: list[tuple[frozenset[SignatureScheme], SecretStr | None]] = field(default_factory=list)

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        schemes: frozenset[SignatureScheme],
        secret: SecretStr | None,
    ) -> VerifiedSignature:
        self.calls.append((schemes, secret))
        signature = headers.get("x-test-signature")
        hmac = secret is not None and SignatureScheme.HMAC_SHA256 in schemes
        if hmac and secret is not None and signature == f"hmac:{secret.reveal()}":
            return VerifiedSignature(SignatureScheme.HMAC_SHA256)
        if signature is None or (signature.startswith("hmac:") and not hmac):
            raise WebhookUnsignedError("no signature this integration accepts")
        if signature != "valid":
            raise WebhookSignatureInvalidError("bad signature")
        return VerifiedSignature(self.scheme, sent_at=self.sent_at, message_id=self.message_id)


@dataclass
class Receiver:
    uow: FakeUnitOfWorkFactory
    clock: FixedClock
    verifier: FakeVerifier
    inbox: InMemoryInboxWriter
    cipher: FakeCipher
    use_case: ReceiveWebhook
    platform: InMemoryPlatformDeliveries

    async def add_integration(
        self,
        *,
        location_id: str = LOCATION,
        template: str = "gohighlevel",
        secret: str | None = None,
        status: IntegrationStatus = IntegrationStatus.ACTIVE,
        is_active: bool = True,
        integration_id: str = "int-1",
        owner: bool = True,
    ) -> Integration:
        integration = Integration.create(
            id=integration_id,
            sub_account_id="sa-1",
            template_id="tpl-1",
            template_name=template,
            name="Acme",
            now=self.clock.now(),
            config={"locationId": location_id},
        )
        if secret is not None:
            integration.secrets["webhookSecret"] = await self.cipher.encrypt(
                SecretBinding("sa-1", integration.id, "webhookSecret"), SecretStr(secret)
            )
        integration.status = status
        integration.is_active = is_active
        integration.pull_events()
        self.uow.store.integrations[integration.id] = integration
        if owner:  # as a successful connection test would have recorded
            self.uow.store.accounts[integration.id] = frozenset({location_account(location_id)})
        return integration

    async def receive(
        self, payload: dict[str, Any], *, route: str | None = None, signed: bool = True
    ) -> Any:
        return await self.use_case.execute(
            ReceiveWebhookCommand(
                body=json.dumps(payload).encode(),
                headers={"x-test-signature": "valid" if signed else "forged"},
                route_event=route,
            )
        )


@pytest.fixture
def receiver() -> Receiver:
    uow = FakeUnitOfWorkFactory()
    clock = FixedClock()
    verifier = FakeVerifier()
    inbox = InMemoryInboxWriter(uow)
    platform = InMemoryPlatformDeliveries()
    cipher = FakeCipher()
    use_case = ReceiveWebhook(
        sender=GhlWebhooks(),
        targets=InMemoryWebhookTargets(uow),
        verifier=verifier,
        inbox=inbox,
        platform=platform,
        cipher=cipher,
        ids=SequentialIds("wd"),
        clock=clock,
    )
    return Receiver(uow, clock, verifier, inbox, cipher, use_case, platform)


async def test_a_verified_delivery_is_stored_pending_with_its_kind(receiver: Receiver) -> None:
    await receiver.add_integration()

    result = await receiver.receive(
        {"type": "ContactCreate", "locationId": LOCATION, "webhookId": "wh-1"}
    )

    assert (result.kind, result.delivery_id, result.duplicate) == (
        EventKind.CONTACT_CREATED,
        "wh-1",
        False,
    )
    [stored] = receiver.uow.store.deliveries.values()
    assert stored.status is DeliveryStatus.PENDING
    assert stored.event_type == "ContactCreate"
    assert stored.signature_scheme is SignatureScheme.PUBLISHED_ED25519
    assert stored.payload == {"type": "ContactCreate", "locationId": LOCATION, "webhookId": "wh-1"}
    assert stored.next_attempt_at == receiver.clock.now()


async def test_the_same_delivery_twice_is_acknowledged_and_stored_once(receiver: Receiver) -> None:
    await receiver.add_integration()
    payload = {"type": "ContactCreate", "locationId": LOCATION}

    first = await receiver.receive(payload)
    second = await receiver.receive(payload)

    assert (first.duplicate, second.duplicate) == (False, True)
    assert len(receiver.uow.store.deliveries) == 1


async def test_a_location_nobody_configured_is_not_found(receiver: Receiver) -> None:
    await receiver.add_integration()

    with pytest.raises(NotFoundError, match="loc-unknown"):
        await receiver.receive({"type": "ContactCreate", "locationId": "loc-unknown"})
    assert receiver.verifier.calls == []
    assert receiver.uow.store.deliveries == {}


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "INSTALL", "appId": "app-1", "companyId": "c-1", "webhookId": "w-1"},
        {"type": "UNINSTALL", "appId": "app-1", "companyId": "c-1", "webhookId": "w-1"},
        {"type": "LocationCreate", "id": "loc-new", "companyId": "c-1", "webhookId": "w-1"},
        {"type": "ContactCreate", "webhookId": "w-1", "data": {"firstName": "John"}},
    ],
    ids=["agency install", "agency uninstall", "location created", "ghl's test payload"],
)
async def test_a_signed_payload_naming_no_location_is_kept_for_the_platform_once(
    receiver: Receiver, payload: dict[str, Any]
) -> None:
    first = await receiver.receive(payload)
    again = await receiver.receive(payload)

    assert (first.duplicate, again.duplicate) == (False, True)
    [recorded] = receiver.platform.recorded
    assert (recorded.sender, recorded.delivery_id) == ("ghl", "w-1")
    assert recorded.event_type == payload["type"]
    assert receiver.uow.store.deliveries == {}
    # Only GHL's own keys can vouch for it: no integration's secret is involved.
    assert {calls for calls in receiver.verifier.calls} == {(GHL_SCHEMES, None)}


async def test_an_unsigned_payload_naming_no_location_is_refused_and_kept_nowhere(
    receiver: Receiver,
) -> None:
    with pytest.raises(WebhookSignatureInvalidError):
        await receiver.receive({"type": "INSTALL", "companyId": "c-1"}, signed=False)
    assert receiver.platform.recorded == []


async def test_the_location_may_sit_inside_a_data_envelope(receiver: Receiver) -> None:
    await receiver.add_integration()

    result = await receiver.receive({"type": "ContactCreate", "data": {"locationId": LOCATION}})

    assert result.integration_id == "int-1"


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b"\xff\xfe", b""], ids=["text", "array", "binary", "empty"]
)
async def test_a_body_that_is_not_a_json_object_is_invalid(receiver: Receiver, body: bytes) -> None:
    with pytest.raises(InvalidArgumentError):
        await receiver.use_case.execute(
            ReceiveWebhookCommand(body=body, headers={"x-test-signature": "valid"})
        )


_LOCATED = b'{"type": "ContactCreate", "locationId": "loc-1", "id": "c-1", "n": '


@pytest.mark.parametrize(
    "body",
    [
        _LOCATED + b"1e5000}",
        _LOCATED + b"9" * 5000 + b"}",
        _LOCATED + b"[" * 1000 + b"]" * 1000 + b"}",
        _LOCATED + b"[" * 100_000 + b"]" * 100_000 + b"}",
        _LOCATED + b"[" * 64 + b"]" * 64 + b"}",
        _LOCATED + b"NaN}",
        _LOCATED + b'"\\ud800"}',
        '{"type": "ContactCreate", "locationId": "loc-1", "id": "c-1"}'.encode("utf-16"),
    ],
    ids=[
        "number beyond a double",
        "5000-digit integer",
        "nested 1000 deep",
        "nested 100000 deep",
        "nested one level too deep",
        "NaN",
        "lone surrogate",
        "UTF-16",
    ],
)
async def test_a_body_that_could_not_be_read_back_once_stored_is_refused_and_stores_nothing(
    receiver: Receiver, body: bytes
) -> None:
    await receiver.add_integration()

    with pytest.raises(InvalidArgumentError):
        await receiver.use_case.execute(
            ReceiveWebhookCommand(body=body, headers={"x-test-signature": "valid"})
        )
    assert receiver.uow.store.deliveries == {}


async def test_nesting_up_to_the_limit_and_large_exact_integers_are_stored(
    receiver: Receiver,
) -> None:
    await receiver.add_integration()
    nested = b"[" * (MAX_PAYLOAD_DEPTH - 1) + b"]" * (MAX_PAYLOAD_DEPTH - 1)

    for body in (_LOCATED + nested + b"}", _LOCATED + b"9" * 300 + b"}"):
        await receiver.use_case.execute(
            ReceiveWebhookCommand(body=body, headers={"x-test-signature": "valid"})
        )

    assert len(receiver.uow.store.deliveries) == 2


async def test_a_bad_signature_stores_nothing(receiver: Receiver) -> None:
    await receiver.add_integration()

    with pytest.raises(WebhookSignatureInvalidError):
        await receiver.receive({"type": "ContactCreate", "locationId": LOCATION}, signed=False)
    assert receiver.uow.store.deliveries == {}


async def test_the_webhook_secret_is_decrypted_only_for_schemes_that_need_it(
    receiver: Receiver,
) -> None:
    await receiver.add_integration(secret="s3cret-value-for-hmac")

    await receiver.receive({"type": "ContactCreate", "locationId": LOCATION})
    await receiver.receive({"type": "ContactCreate", "locationId": LOCATION, "n": 2}, route="x")

    (marketplace_schemes, no_secret), (routed_schemes, secret) = receiver.verifier.calls
    assert (marketplace_schemes, no_secret) == (GHL_SCHEMES, None)
    assert SignatureScheme.HMAC_SHA256 in routed_schemes
    assert secret is not None
    assert secret.reveal() == "s3cret-value-for-hmac"


async def test_a_secret_that_cannot_be_decrypted_verifies_nothing(receiver: Receiver) -> None:
    integration = await receiver.add_integration(secret="s3cret-value-for-hmac")
    # Sealed for another integration: the cipher refuses it, as after crypto-shredding.
    integration.secrets["webhookSecret"] = await receiver.cipher.encrypt(
        SecretBinding("sa-1", "int-other", "webhookSecret"), SecretStr("x")
    )

    await receiver.receive({"type": "ContactCreate", "locationId": LOCATION}, route="x")

    assert receiver.verifier.calls[-1][1] is None


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(minutes=-4, seconds=-59), True),
        (timedelta(minutes=4, seconds=59), True),
        (timedelta(minutes=-5, seconds=-1), False),
        (timedelta(minutes=5, seconds=1), False),
    ],
    ids=["just fresh", "slightly ahead", "stale", "too far ahead"],
)
async def test_a_signed_timestamp_outside_five_minutes_is_refused_as_a_replay(
    receiver: Receiver, offset: timedelta, accepted: bool
) -> None:
    await receiver.add_integration()
    sent = (receiver.clock.now() + offset).isoformat()
    payload = {"type": "ContactCreate", "locationId": LOCATION, "timestamp": sent}

    if accepted:
        await receiver.receive(payload)
        assert len(receiver.uow.store.deliveries) == 1
    else:
        with pytest.raises(WebhookSignatureInvalidError, match="window"):
            await receiver.receive(payload)
        assert receiver.uow.store.deliveries == {}


async def test_the_standard_webhooks_timestamp_and_id_are_the_signed_ones(
    receiver: Receiver,
) -> None:
    await receiver.add_integration(template="crm_x", secret="whsec_abc")
    receiver.verifier.scheme = SignatureScheme.STANDARD_WEBHOOKS
    receiver.verifier.message_id = "msg-7"
    receiver.verifier.sent_at = receiver.clock.now() - timedelta(minutes=10)

    with pytest.raises(WebhookSignatureInvalidError):
        await receiver.receive({"type": "x", "locationId": LOCATION})

    receiver.verifier.sent_at = receiver.clock.now()
    result = await receiver.receive({"type": "x", "locationId": LOCATION})
    assert result.delivery_id == "msg-7"


async def test_the_tolerance_is_configurable(receiver: Receiver) -> None:
    await receiver.add_integration()
    strict = ReceiveWebhook(
        sender=GhlWebhooks(),
        targets=InMemoryWebhookTargets(receiver.uow),
        verifier=receiver.verifier,
        inbox=receiver.inbox,
        platform=receiver.platform,
        cipher=receiver.cipher,
        ids=SequentialIds("x"),
        clock=receiver.clock,
        timestamp_tolerance=timedelta(seconds=30),
    )
    sent = (receiver.clock.now() - timedelta(minutes=1)).isoformat()

    with pytest.raises(WebhookSignatureInvalidError):
        await strict.execute(
            ReceiveWebhookCommand(
                body=json.dumps({"locationId": LOCATION, "timestamp": sent}).encode(),
                headers={"x-test-signature": "valid"},
            )
        )


@pytest.mark.parametrize(
    ("is_active", "status"),
    [(False, IntegrationStatus.ACTIVE), (True, IntegrationStatus.DISCONNECTED)],
    ids=["switched off", "disconnected"],
)
async def test_a_delivery_for_an_inactive_integration_is_recorded_as_rejected(
    receiver: Receiver, is_active: bool, status: IntegrationStatus
) -> None:
    await receiver.add_integration(is_active=is_active, status=status)

    with pytest.raises(IntegrationNotActiveError):
        await receiver.receive({"type": "ContactCreate", "locationId": LOCATION})

    [stored] = receiver.uow.store.deliveries.values()
    assert stored.status is DeliveryStatus.REJECTED
    assert stored.next_attempt_at is None
    assert stored.last_error == "the integration was not active"


@pytest.mark.parametrize("status", [IntegrationStatus.PENDING, IntegrationStatus.ERROR])
async def test_pending_and_failing_integrations_still_receive(
    receiver: Receiver, status: IntegrationStatus
) -> None:
    await receiver.add_integration(status=status)

    result = await receiver.receive({"type": "ContactCreate", "locationId": LOCATION})

    assert not result.duplicate


async def test_an_install_reaches_a_disconnected_integration(receiver: Receiver) -> None:
    await receiver.add_integration(status=IntegrationStatus.DISCONNECTED)

    result = await receiver.receive({"type": "INSTALL", "locationId": LOCATION})

    assert result.kind is EventKind.APP_INSTALLED
    [stored] = receiver.uow.store.deliveries.values()
    assert stored.status is DeliveryStatus.PENDING


async def test_a_delivery_reaches_every_owner_of_its_location_and_no_one_else(
    receiver: Receiver,
) -> None:
    await receiver.add_integration(integration_id="int-1")
    await receiver.add_integration(integration_id="int-2", template="gohighlevel_oauth")
    await receiver.add_integration(integration_id="int-3", is_active=False)
    # Another sub-account naming the same location, whose test never proved it reaches it.
    await receiver.add_integration(integration_id="int-4", owner=False)

    result = await receiver.receive({"type": "ContactCreate", "locationId": LOCATION})

    assert result.integration_ids == ("int-1", "int-2")
    stored = {d.integration_id: d.status for d in receiver.uow.store.deliveries.values()}
    assert stored == {
        "int-1": DeliveryStatus.PENDING,
        "int-2": DeliveryStatus.PENDING,
        "int-3": DeliveryStatus.REJECTED,
    }


async def test_a_location_whose_only_claimant_never_proved_it_is_not_found(
    receiver: Receiver,
) -> None:
    await receiver.add_integration(owner=False)

    with pytest.raises(NotFoundError):
        await receiver.receive({"type": "ContactCreate", "locationId": LOCATION})
    assert receiver.uow.store.deliveries == {}


async def test_a_delivery_signed_with_one_owners_secret_reaches_that_owner_only(
    receiver: Receiver,
) -> None:
    await receiver.add_integration(integration_id="int-1", secret="first-secret")
    await receiver.add_integration(integration_id="int-2", secret="second-secret")
    body = json.dumps({"type": "ContactCreate", "locationId": LOCATION}).encode()

    result = await receiver.use_case.execute(
        ReceiveWebhookCommand(
            body=body,
            headers={"x-test-signature": "hmac:second-secret"},
            route_event="contact.created",
        )
    )

    assert result.integration_ids == ("int-2",)


async def test_a_signature_one_owner_uses_and_fails_is_the_refusal_not_anothers_missing_one(
    receiver: Receiver,
) -> None:
    await receiver.add_integration(integration_id="int-1")  # no secret: GHL's signatures only
    await receiver.add_integration(integration_id="int-2", secret="second-secret")
    body = json.dumps({"type": "ContactCreate", "locationId": LOCATION}).encode()

    with pytest.raises(WebhookSignatureInvalidError) as refused:
        await receiver.use_case.execute(
            ReceiveWebhookCommand(
                body=body,
                headers={"x-test-signature": "hmac:stale-secret"},
                route_event="contact.created",
            )
        )

    assert not isinstance(refused.value, WebhookUnsignedError)
    assert receiver.uow.store.deliveries == {}


async def test_ghls_own_signatures_are_accepted_for_both_ghl_templates() -> None:
    for template in ("gohighlevel", "gohighlevel_oauth"):
        target = WebhookTarget(
            integration_id="int-1",
            sub_account_id="sa-1",
            template_name=template,
            is_active=True,
            status=IntegrationStatus.ACTIVE,
            config={},
        )
        assert accepted_schemes(target, routed=False) == GHL_SCHEMES, template


async def test_storage_failures_reach_the_caller(receiver: Receiver) -> None:
    await receiver.add_integration()
    receiver.inbox.error = StorageUnavailableError("down")

    with pytest.raises(StorageUnavailableError):
        await receiver.receive({"type": "ContactCreate", "locationId": LOCATION})


async def test_an_overlong_route_event_is_invalid(receiver: Receiver) -> None:
    await receiver.add_integration()

    with pytest.raises(InvalidArgumentError):
        await receiver.receive({"locationId": LOCATION}, route="x" * 129)


class CountingCipher(FakeCipher):
    def __init__(self) -> None:
        self.decrypted = 0

    async def decrypt(self, binding: SecretBinding, secret: EncryptedSecret) -> SecretStr:
        self.decrypted += 1
        return await super().decrypt(binding, secret)


class CachedTargets:
    """Hands out the same target object until `expire`, as a caching implementation does."""

    def __init__(self, targets: InMemoryWebhookTargets) -> None:
        self._targets = targets
        self._cached: dict[ProviderAccount, tuple[WebhookTarget, ...]] = {}

    async def find_owners(self, account: ProviderAccount) -> tuple[WebhookTarget, ...]:
        if account not in self._cached:
            self._cached[account] = await self._targets.find_owners(account)
        return self._cached[account]

    def expire(self) -> None:
        self._cached.clear()


async def test_a_secret_is_decrypted_once_per_target_handed_out(receiver: Receiver) -> None:
    cipher = CountingCipher()
    targets = CachedTargets(InMemoryWebhookTargets(receiver.uow))
    use_case = ReceiveWebhook(
        sender=GhlWebhooks(),
        targets=targets,
        verifier=receiver.verifier,
        inbox=receiver.inbox,
        platform=receiver.platform,
        cipher=cipher,
        ids=SequentialIds("wd"),
        clock=receiver.clock,
    )
    integration = await receiver.add_integration(secret="first-secret-value")

    async def receive(n: int) -> SecretStr | None:
        body = json.dumps({"type": "ContactCreate", "locationId": LOCATION, "n": n}).encode()
        command = ReceiveWebhookCommand(
            body=body, headers={"x-test-signature": "valid"}, route_event="x"
        )
        await use_case.execute(command)
        return receiver.verifier.calls[-1][1]

    first, second = await receive(1), await receive(2)
    assert cipher.decrypted == 1
    assert first is not None
    assert second is not None
    assert second.reveal() == "first-secret-value"

    # A new secret (or a shredded key) is seen once the targets hand out a new object.
    integration.secrets["webhookSecret"] = await cipher.encrypt(
        SecretBinding("sa-1", integration.id, "webhookSecret"), SecretStr("second-secret-value")
    )
    targets.expire()
    third = await receive(3)
    assert cipher.decrypted == 2
    assert third is not None
    assert third.reveal() == "second-secret-value"


async def test_an_agency_uninstall_reaches_the_integrations_connected_through_its_install(
    receiver: Receiver,
) -> None:
    integration = await receiver.add_integration()
    receiver.uow.store.accounts[integration.id] = frozenset(
        {location_account(LOCATION), company_account("c-1")}
    )

    result = await receiver.receive(
        {"type": "UNINSTALL", "appId": "app-1", "companyId": "c-1", "webhookId": "w-1"}
    )

    assert result.integration_ids == (integration.id,)
    assert result.kind is EventKind.APP_UNINSTALLED
    assert receiver.platform.recorded == []
