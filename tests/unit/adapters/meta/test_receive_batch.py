"""Meta's batched POST through the core's receive path (ReceiveWebhook with MetaWebhooks and the
core's app-secret verifier): the reference batch, signed as in the notes' worked example, stored
once per change for the owner of its Page, the unowned Page's change kept as the platform's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters.crypto.signatures import WebhookSignatureVerifier
from adapters.meta.webhooks import MetaWebhooks, page_account
from application.webhooks import ReceiveWebhook, ReceiveWebhookCommand
from domain.errors import WebhookSignatureInvalidError
from domain.integration import Integration
from domain.values import SecretStr
from domain.webhook_delivery import EventKind
from tests.fakes import (
    FakeCipher,
    FakeUnitOfWorkFactory,
    FixedClock,
    InMemoryInboxWriter,
    InMemoryPlatformDeliveries,
    InMemoryWebhookTargets,
    SequentialIds,
)
from tests.support.meta import example

WORKED = example("x-hub-signature-256-example.json")
BODY = WORKED["raw_body"].encode()
HEADERS = {"x-hub-signature-256": WORKED["expected_header"]["X-Hub-Signature-256"]}
NOW = datetime(2026, 7, 29, 8, 40, tzinfo=UTC)
OWNED_PAGE = "104561234567890"


class Receiving:
    def __init__(self) -> None:
        self.uow = FakeUnitOfWorkFactory()
        self.platform = InMemoryPlatformDeliveries()
        self.use_case = ReceiveWebhook(
            sender=MetaWebhooks(verify_token=SecretStr("my-verify-token-123")),
            targets=InMemoryWebhookTargets(self.uow),
            verifier=WebhookSignatureVerifier(app_secret=SecretStr(WORKED["app_secret"])),
            inbox=InMemoryInboxWriter(self.uow),
            platform=self.platform,
            cipher=FakeCipher(),
            ids=SequentialIds("wd"),
            clock=FixedClock(NOW),
        )
        integration = Integration.create(
            id="fb-1",
            sub_account_id="sa-1",
            template_id="tpl",
            template_name="facebook_ads",
            name="Acme Solar leads",
            now=NOW,
            config={"pageId": OWNED_PAGE},
        )
        integration.activate(now=NOW)
        integration.pull_events()
        self.uow.store.integrations[integration.id] = integration
        self.uow.store.accounts[integration.id] = frozenset({page_account(OWNED_PAGE)})

    async def receive(self, body: bytes = BODY, headers: dict[str, str] = HEADERS) -> None:
        await self.use_case.execute(ReceiveWebhookCommand(body=body, headers=headers))


async def test_each_change_of_the_owned_page_is_stored_once_and_the_other_kept() -> None:
    receiving = Receiving()

    for _ in range(2):  # Meta repeats deliveries
        await receiving.receive()

    stored = sorted(
        (d.integration_id, d.delivery_id, d.kind) for d in receiving.uow.store.deliveries.values()
    )
    assert stored == [
        ("fb-1", "1234567890123456", EventKind.LEAD_SUBMITTED),
        ("fb-1", "1234567890123457", EventKind.LEAD_SUBMITTED),
    ]
    assert [(d.delivery_id, d.kind) for d in receiving.platform.recorded] == [
        ("2345678901234567", EventKind.LEAD_SUBMITTED)
    ]


async def test_a_batch_with_a_bad_signature_stores_nothing() -> None:
    receiving = Receiving()
    pretty = WORKED["same_payload_pretty_printed_with_indent_2_plus_newline_gives"]

    with pytest.raises(WebhookSignatureInvalidError):
        await receiving.receive(headers={"x-hub-signature-256": pretty})

    assert receiving.uow.store.deliveries == {}
    assert receiving.platform.recorded == []
