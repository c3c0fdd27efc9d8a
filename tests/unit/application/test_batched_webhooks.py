"""ReceiveWebhook for a sender that batches the changes of several accounts into one signed body
(as Lead Ads does): one signature vouches for all, and each change is stored, deduplicated and
routed on its own."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from application.ports import (
    DeliveryFacts,
    SecretBinding,
    SignatureScheme,
    VerifiedSignature,
    WebhookTarget,
)
from application.webhooks import ReceiveWebhook, ReceiveWebhookCommand, ReceiveWebhookResult
from domain.errors import StorageUnavailableError, WebhookSignatureInvalidError
from domain.integration import Integration, IntegrationStatus
from domain.values import ProviderAccount, SecretStr
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

APP = frozenset({SignatureScheme.APP_HMAC_SHA256})


class BatchingSender:
    """Bodies ``{"entry": [{"changes": [{"page": …, "lead": …}]}]}``."""

    name = "batcher"
    platform_schemes = APP

    def split(self, payload: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        entries = payload.get("entry")
        if not isinstance(entries, list):
            return (payload,)
        return [c for e in entries if isinstance(e, dict) for c in e.get("changes", [])]

    def read(self, payload: Mapping[str, Any], *, route_event: str | None) -> DeliveryFacts:
        page, lead = payload.get("page"), payload.get("lead")
        return DeliveryFacts(
            event_type="lead",
            kind=EventKind.LEAD_SUBMITTED,
            account=None if page is None else ProviderAccount("batcher.page", str(page)),
            delivery_id=None if lead is None else str(lead),
        )

    def accepted_schemes(
        self, target: WebhookTarget, *, routed: bool
    ) -> frozenset[SignatureScheme]:
        return APP


@dataclass
class AppSecretVerifier:
    calls: list[frozenset[SignatureScheme]] = field(default_factory=list)

    def verify(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        schemes: frozenset[SignatureScheme],
        secret: SecretStr | None,
    ) -> VerifiedSignature:
        self.calls.append(schemes)
        if headers.get("x-test-signature") != "valid" or schemes != APP:
            raise WebhookSignatureInvalidError("bad signature")
        return VerifiedSignature(SignatureScheme.APP_HMAC_SHA256)


@dataclass
class Batches:
    uow: FakeUnitOfWorkFactory
    inbox: InMemoryInboxWriter
    platform: InMemoryPlatformDeliveries
    verifier: AppSecretVerifier
    use_case: ReceiveWebhook

    def own(self, integration_id: str, page: str, *, active: bool = True) -> None:
        integration = Integration.create(
            id=integration_id,
            sub_account_id=f"sa-{integration_id}",
            template_id="tpl-1",
            template_name="batcher_ads",
            name="Page",
            now=FixedClock().now(),
            config={"pageId": page},
        )
        integration.status = IntegrationStatus.ACTIVE
        integration.is_active = active
        integration.pull_events()
        self.uow.store.integrations[integration_id] = integration
        self.uow.store.accounts[integration_id] = frozenset({ProviderAccount("batcher.page", page)})

    async def receive(self, body: bytes, *, signed: bool = True) -> ReceiveWebhookResult:
        return await self.use_case.execute(
            ReceiveWebhookCommand(
                body=body, headers={"x-test-signature": "valid" if signed else "forged"}
            )
        )

    def stored(self) -> list[tuple[str, str, DeliveryStatus]]:
        return sorted(
            (d.integration_id, d.delivery_id, d.status) for d in self.uow.store.deliveries.values()
        )


@pytest.fixture
def batches() -> Batches:
    uow = FakeUnitOfWorkFactory()
    inbox = InMemoryInboxWriter(uow)
    platform = InMemoryPlatformDeliveries()
    verifier = AppSecretVerifier()
    use_case = ReceiveWebhook(
        sender=BatchingSender(),
        targets=InMemoryWebhookTargets(uow),
        verifier=verifier,
        inbox=inbox,
        platform=platform,
        cipher=FakeCipher(),
        ids=SequentialIds("wd"),
        clock=FixedClock(),
    )
    return Batches(uow, inbox, platform, verifier, use_case)


def body(*entries: list[dict[str, Any]]) -> bytes:
    return json.dumps({"entry": [{"changes": changes} for changes in entries]}).encode()


BATCH = body(
    [{"page": 1, "lead": 11}, {"page": "1", "lead": "12"}],
    [{"page": 2, "lead": 21}, {"page": 3, "lead": 31}],
)


async def test_each_change_goes_to_the_owners_of_its_own_account(batches: Batches) -> None:
    batches.own("int-a", "1")
    batches.own("int-b", "2")
    batches.own("int-c", "2", active=False)

    result = await batches.receive(BATCH)

    assert batches.stored() == [
        ("int-a", "11", DeliveryStatus.PENDING),
        ("int-a", "12", DeliveryStatus.PENDING),
        ("int-b", "21", DeliveryStatus.PENDING),
        ("int-c", "21", DeliveryStatus.REJECTED),
    ]
    assert result.integration_ids == ("int-a", "int-b", "int-c")
    assert not result.duplicate
    # Page 3 has no owner: kept as the platform's, not an error.
    assert [(d.sender, d.delivery_id) for d in batches.platform.recorded] == [("batcher", "31")]
    # One signature check for the whole body, by the sender's own scheme.
    assert batches.verifier.calls == [APP]


async def test_a_change_keeps_only_its_own_part_of_the_body(batches: Batches) -> None:
    batches.own("int-a", "1")

    await batches.receive(BATCH)

    payloads = sorted((d.delivery_id, d.payload) for d in batches.uow.store.deliveries.values())
    assert payloads == [("11", {"page": 1, "lead": 11}), ("12", {"page": "1", "lead": "12"})]


async def test_the_same_body_again_is_a_duplicate_and_stores_nothing_new(
    batches: Batches,
) -> None:
    batches.own("int-a", "1")
    batches.own("int-b", "2")
    await batches.receive(BATCH)
    before = batches.stored()

    again = await batches.receive(BATCH)
    overlapping = await batches.receive(body([{"page": 1, "lead": 12}, {"page": 1, "lead": 13}]))

    assert again.duplicate
    assert not overlapping.duplicate
    assert batches.stored() == sorted([*before, ("int-a", "13", DeliveryStatus.PENDING)])


async def test_a_bad_signature_stores_no_change_of_the_body(batches: Batches) -> None:
    batches.own("int-a", "1")

    with pytest.raises(WebhookSignatureInvalidError):
        await batches.receive(BATCH, signed=False)

    assert batches.stored() == []
    assert batches.platform.recorded == []


async def test_a_body_that_cannot_be_stored_fails_as_a_whole(batches: Batches) -> None:
    batches.own("int-a", "1")
    batches.inbox.error = StorageUnavailableError("the database is down")

    with pytest.raises(StorageUnavailableError):
        await batches.receive(BATCH)


async def test_an_integrations_secret_is_never_needed(batches: Batches) -> None:
    batches.own("int-a", "1")
    integration = batches.uow.store.integrations["int-a"]
    integration.secrets["webhookSecret"] = await FakeCipher().encrypt(
        SecretBinding(integration.sub_account_id, "int-a", "webhookSecret"), SecretStr("s")
    )

    await batches.receive(BATCH)

    assert [d.delivery_id for d in batches.uow.store.deliveries.values()] == ["11", "12"]
