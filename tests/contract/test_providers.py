"""The contract every provider's capabilities keep, run for each provider in
tests/contract/providers.py: its deliveries are stored once when signed and never when not, reach
only the integrations owning their account, and are read without error whatever they hold; its
connection test proves the account its credentials reach and maps refused credentials to
INVALID_CREDENTIALS; its catalogue entries are valid templates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.schema import JsonSchemaConfigValidator
from application.use_cases.create_template import checked_schema
from application.webhooks import ReceiveWebhook, ReceiveWebhookCommand
from domain.errors import ErrorCode, NotFoundError, WebhookSignatureInvalidError
from domain.integration import Integration
from domain.webhook_delivery import DeliveryStatus
from tests.contract.providers import PROVIDERS, ProviderUnderTest
from tests.fakes import (
    FakeCipher,
    FakeUnitOfWorkFactory,
    FixedClock,
    InMemoryInboxWriter,
    InMemoryPlatformDeliveries,
    InMemoryWebhookTargets,
    SequentialIds,
)

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
with_webhooks = [p for p in PROVIDERS if p.sender is not None]


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request: pytest.FixtureRequest) -> ProviderUnderTest:
    subject: ProviderUnderTest = request.param
    return subject


class Receiving:
    def __init__(self, provider: ProviderUnderTest) -> None:
        assert provider.sender is not None
        self.provider = provider
        self.uow = FakeUnitOfWorkFactory()
        self.platform = InMemoryPlatformDeliveries()
        self.use_case = ReceiveWebhook(
            sender=provider.sender,
            targets=InMemoryWebhookTargets(self.uow),
            verifier=provider.verifier(),
            inbox=InMemoryInboxWriter(self.uow),
            platform=self.platform,
            cipher=FakeCipher(),
            ids=SequentialIds("wd"),
            clock=FixedClock(NOW),
        )

    def add_integration(self, integration_id: str, *, owner: bool = True) -> None:
        integration = Integration.create(
            id=integration_id,
            sub_account_id=f"sa-{integration_id}",
            template_id="tpl",
            template_name=str(self.provider.templates[0]["name"]),
            name=integration_id,
            now=NOW,
            config={},
        )
        integration.activate(now=NOW)
        integration.pull_events()
        self.uow.store.integrations[integration.id] = integration
        if owner:
            self.uow.store.accounts[integration.id] = frozenset({self.provider.account})

    async def receive(self, body: bytes, headers: dict[str, str]) -> object:
        return await self.use_case.execute(ReceiveWebhookCommand(body=body, headers=headers))

    def stored(self) -> list[tuple[str, str]]:
        return sorted((d.integration_id, d.delivery_id) for d in self.uow.store.deliveries.values())


@pytest.fixture(params=with_webhooks, ids=lambda p: p.name)
def receiving(request: pytest.FixtureRequest) -> Receiving:
    return Receiving(request.param)


async def test_a_signed_delivery_is_stored_once(receiving: Receiving) -> None:
    receiving.add_integration("owner")
    body = receiving.provider.delivery("d-1")

    for _ in range(2):
        await receiving.receive(body, receiving.provider.sign(body))

    assert receiving.stored() == [("owner", "d-1")]
    [delivery] = receiving.uow.store.deliveries.values()
    assert delivery.status is DeliveryStatus.PENDING


async def test_a_delivery_with_a_bad_or_missing_signature_stores_nothing(
    receiving: Receiving,
) -> None:
    receiving.add_integration("owner")
    body = receiving.provider.delivery("d-1")
    forged = receiving.provider.sign(body + b" ")

    for headers in (forged, {}):
        with pytest.raises(WebhookSignatureInvalidError):
            await receiving.receive(body, headers)
    assert receiving.stored() == []


async def test_a_delivery_reaches_the_accounts_owners_and_no_one_else(
    receiving: Receiving,
) -> None:
    receiving.add_integration("first-owner")
    receiving.add_integration("second-owner")
    receiving.add_integration("claimant", owner=False)
    body = receiving.provider.delivery("d-1")

    await receiving.receive(body, receiving.provider.sign(body))

    assert receiving.stored() == [("first-owner", "d-1"), ("second-owner", "d-1")]


async def test_an_account_nobody_owns_reaches_no_integration(receiving: Receiving) -> None:
    receiving.add_integration("claimant", owner=False)
    body = receiving.provider.delivery("d-1")

    if receiving.provider.batches:
        await receiving.receive(body, receiving.provider.sign(body))
        assert [d.delivery_id for d in receiving.platform.recorded] == ["d-1"]
    else:
        with pytest.raises(NotFoundError):
            await receiving.receive(body, receiving.provider.sign(body))
    assert receiving.stored() == []


json_objects = st.dictionaries(
    st.text(max_size=12),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    ),
    max_size=6,
)


@pytest.mark.parametrize("subject", with_webhooks, ids=lambda p: p.name)
@settings(max_examples=200, derandomize=True, deadline=None)
@given(payload=json_objects, route=st.none() | st.text(max_size=20))
def test_reading_a_body_never_fails_whatever_it_holds(
    subject: ProviderUnderTest, payload: dict[str, object], route: str | None
) -> None:
    assert subject.sender is not None
    facts = subject.sender.read(payload, route_event=route)

    assert isinstance(facts.event_type, str)
    assert facts.account is None or facts.account.kind == subject.account.kind


async def test_a_connection_test_with_good_credentials_proves_the_account(
    provider: ProviderUnderTest,
) -> None:
    async with provider.connection() as connection:
        result = await connection.provider.test_connection(connection.good)

    assert result.success, result.message
    assert provider.account in result.accounts


async def test_refused_credentials_are_invalid_credentials_and_prove_nothing(
    provider: ProviderUnderTest,
) -> None:
    async with provider.connection() as connection:
        result = await connection.provider.test_connection(connection.bad)

    assert not result.success
    assert result.error_code is ErrorCode.INVALID_CREDENTIALS
    assert result.accounts == frozenset()
    assert "pit-revoked" not in json.dumps([result.message, result.details])


def test_the_catalogue_entries_are_valid_templates_with_secret_fields(
    provider: ProviderUnderTest,
) -> None:
    validator = JsonSchemaConfigValidator()
    for template in provider.templates:
        schema = checked_schema(validator, dict(template["config_schema"]))
        assert schema.secret_fields, template["name"]
        assert {"name", "display_name", "category"} <= set(template)
