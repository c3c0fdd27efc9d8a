"""The integration lifecycle use cases, on in-memory fakes of every port."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from application.connection import ConnectionTester
from application.ports import ConnectionTestResult, PageRequest, ProviderContext
from application.use_cases.create_integration import CreateIntegrationCommand
from application.use_cases.delete_integration import DeleteIntegrationCommand
from application.use_cases.get_integration import GetIntegrationQuery, ListIntegrationsQuery
from application.use_cases.run_connection_test import TestIntegration, TestIntegrationCommand
from application.use_cases.switch_integration import SwitchIntegrationCommand
from application.use_cases.update_integration import UpdateIntegrationCommand
from domain.errors import (
    ConcurrencyError,
    ConfigSchemaInvalidError,
    ErrorCode,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitExceededError,
)
from domain.events import IntegrationActivated, IntegrationCreated, IntegrationFailed
from domain.integration import IntegrationStatus
from domain.values import SecretStr
from tests.fakes import FakeProvider, FakeProviderRegistry
from tests.unit.application.conftest import ADMIN, OTHER_USER, USER, App

API_KEY = "pit-7f3e2a1b-0000-4c1d-9a2b-5e6f7a8b1a2b"
CONFIG = {"apiKey": API_KEY, "locationId": "loc-1", "webhookSecret": "whsec-abcdefghijkl"}


async def create(app: App, **overrides: object) -> str:
    cmd = CreateIntegrationCommand(
        actor=ADMIN, sub_account_id="sa-1", template="gohighlevel", name="CRM", config=CONFIG
    )
    result = await app.create.execute(dataclasses.replace(cmd, **overrides))  # type: ignore[arg-type]
    return result.integration.id


async def test_creating_an_integration_seals_its_secrets_tests_it_and_activates_it(
    app: App,
) -> None:
    result = await app.create.execute(
        CreateIntegrationCommand(
            actor=ADMIN, sub_account_id="sa-1", template="gohighlevel", name="CRM", config=CONFIG
        )
    )
    view = result.integration
    assert view.status is IntegrationStatus.ACTIVE
    assert result.test is not None
    assert result.test.success
    assert view.config == {
        "locationId": "loc-1",
        "apiKey": "••••1a2b",
        "webhookSecret": "••••ijkl",
    }
    stored = app.uow.store.integrations[view.id]
    assert API_KEY not in repr(stored.secrets)
    assert "apiKey" not in stored.config
    [ctx] = app.provider.calls
    assert ctx.credentials.get("apiKey") == SecretStr(API_KEY)
    assert ctx.config == {"locationId": "loc-1"}
    kinds = [type(e) for e in app.uow.outbox if e.aggregate_id == view.id]
    assert kinds == [IntegrationCreated, IntegrationActivated]


async def test_a_failed_test_leaves_the_integration_in_error_with_the_code(app: App) -> None:
    app.provider.result = ConnectionTestResult(
        success=False, message="token rejected", error_code=ErrorCode.INVALID_CREDENTIALS
    )
    integration_id = await create(app)
    view = await app.get.execute(GetIntegrationQuery(actor=ADMIN, integration_id=integration_id))
    assert (view.status, view.error_code, view.error_message) == (
        IntegrationStatus.ERROR,
        "INVALID_CREDENTIALS",
        "token rejected",
    )
    assert isinstance(app.uow.outbox[-1], IntegrationFailed)


async def test_a_provider_not_implemented_yet_answers_not_supported_never_success(
    app: App,
) -> None:
    result = await app.create.execute(
        CreateIntegrationCommand(
            actor=ADMIN,
            sub_account_id="sa-1",
            template="google_analytics",
            name="GA",
            config={"measurementId": "G-ABC123", "apiSecret": "s3cr3t-s3cr3t"},
        )
    )
    assert result.test is not None
    assert not result.test.success
    assert result.test.error_code is ErrorCode.PROVIDER_NOT_SUPPORTED
    assert result.integration.status is IntegrationStatus.ERROR
    assert result.integration.error_code == "PROVIDER_NOT_SUPPORTED"


async def test_every_config_violation_is_reported_at_once_and_nothing_is_stored(app: App) -> None:
    with pytest.raises(ConfigSchemaInvalidError) as caught:
        await create(app, config={"apiKey": 42, "calendarId": 7, "typo": "x"})
    fields = {v.field for v in caught.value.violations}
    assert fields == {"config.apiKey", "config.calendarId", "config.locationId", "config.typo"}
    assert "42" not in str([v.description for v in caught.value.violations])
    assert app.uow.store.integrations == {}


async def test_only_admins_create_update_delete_and_switch_integrations(app: App) -> None:
    integration_id = await create(app)
    with pytest.raises(PermissionDeniedError):
        await create(app, actor=USER)
    with pytest.raises(PermissionDeniedError):
        await app.update.execute(
            UpdateIntegrationCommand(
                actor=USER, integration_id=integration_id, update_mask=("name",), name="x"
            )
        )
    with pytest.raises(PermissionDeniedError):
        await app.delete.execute(
            DeleteIntegrationCommand(actor=USER, integration_id=integration_id)
        )
    with pytest.raises(PermissionDeniedError):
        await app.deactivate.execute(
            SwitchIntegrationCommand(actor=USER, integration_id=integration_id)
        )


async def test_another_tenants_integration_is_not_found_like_a_missing_one(app: App) -> None:
    integration_id = await create(app)
    await app.get.execute(GetIntegrationQuery(actor=USER, integration_id=integration_id))
    for query in (
        GetIntegrationQuery(actor=OTHER_USER, integration_id=integration_id),
        GetIntegrationQuery(actor=OTHER_USER, integration_id="missing"),
    ):
        with pytest.raises(NotFoundError) as caught:
            await app.get.execute(query)
        assert caught.value.resource == "integration"
    with pytest.raises(NotFoundError):
        await app.test.execute(
            TestIntegrationCommand(actor=OTHER_USER, integration_id=integration_id)
        )


async def test_listing_confines_non_admins_to_their_own_sub_account(app: App) -> None:
    await create(app)
    await create(app, sub_account_id="sa-2")
    mine = await app.list.execute(ListIntegrationsQuery(actor=USER, page=PageRequest(10)))
    assert {i.sub_account_id for i in mine.items} == {"sa-1"}
    everything = await app.list.execute(ListIntegrationsQuery(actor=ADMIN, page=PageRequest(10)))
    assert len(everything.items) == 2
    with pytest.raises(PermissionDeniedError):
        await app.list.execute(
            ListIntegrationsQuery(actor=USER, page=PageRequest(10), sub_account_id="sa-2")
        )


async def test_listing_pages_through_and_filters_by_status_and_template(app: App) -> None:
    for _ in range(5):
        await create(app)
    app.provider.result = ConnectionTestResult(success=False, message="down")
    await create(app)
    first = await app.list.execute(ListIntegrationsQuery(actor=ADMIN, page=PageRequest(4)))
    assert len(first.items) == 4
    assert first.next_after_id == first.items[-1].id
    rest = await app.list.execute(
        ListIntegrationsQuery(actor=ADMIN, page=PageRequest(4, first.next_after_id))
    )
    assert len(rest.items) == 2
    assert rest.next_after_id is None
    failing = await app.list.execute(
        ListIntegrationsQuery(
            actor=ADMIN, page=PageRequest(10), statuses=frozenset({IntegrationStatus.ERROR})
        )
    )
    assert len(failing.items) == 1
    none = await app.list.execute(
        ListIntegrationsQuery(actor=ADMIN, page=PageRequest(10), template_name="facebook_ads")
    )
    assert none.items == []


async def test_a_masked_secret_sent_back_keeps_the_stored_one_and_new_ones_are_retested(
    app: App,
) -> None:
    integration_id = await create(app)
    before = app.uow.store.integrations[integration_id].secrets["apiKey"]
    result = await app.update.execute(
        UpdateIntegrationCommand(
            actor=ADMIN,
            integration_id=integration_id,
            update_mask=("config",),
            config={"apiKey": "••••1a2b", "locationId": "loc-2"},
        )
    )
    stored = app.uow.store.integrations[integration_id]
    assert stored.secrets["apiKey"] == before
    assert "webhookSecret" in stored.secrets  # left out: kept
    assert stored.config == {"locationId": "loc-2"}
    assert result.test is not None  # the config changed, so it was re-tested
    assert len(app.provider.calls) == 2

    app.provider.result = ConnectionTestResult(
        success=False, message="bad", error_code=ErrorCode.INVALID_CREDENTIALS
    )
    result = await app.update.execute(
        UpdateIntegrationCommand(
            actor=ADMIN,
            integration_id=integration_id,
            update_mask=("config.apiKey",),
            config={"apiKey": "pit-new-key-000000000000"},
        )
    )
    assert result.integration.status is IntegrationStatus.ERROR
    assert app.provider.calls[-1].credentials.get("apiKey") == SecretStr("pit-new-key-000000000000")


async def test_an_empty_optional_secret_is_removed_and_a_required_one_cannot_be(app: App) -> None:
    integration_id = await create(app)
    await app.update.execute(
        UpdateIntegrationCommand(
            actor=ADMIN,
            integration_id=integration_id,
            update_mask=("config.webhookSecret",),
            config={"webhookSecret": ""},
        )
    )
    assert "webhookSecret" not in app.uow.store.integrations[integration_id].secrets
    with pytest.raises(ConfigSchemaInvalidError) as caught:
        await app.update.execute(
            UpdateIntegrationCommand(
                actor=ADMIN,
                integration_id=integration_id,
                update_mask=("config.apiKey",),
                config={"apiKey": ""},
            )
        )
    assert [v.field for v in caught.value.violations] == ["config.apiKey"]


async def test_renaming_does_not_retest_and_a_stale_version_is_refused(app: App) -> None:
    integration_id = await create(app)
    result = await app.update.execute(
        UpdateIntegrationCommand(
            actor=ADMIN, integration_id=integration_id, update_mask=("name",), name="Renamed"
        )
    )
    assert result.test is None
    assert result.integration.name == "Renamed"
    with pytest.raises(ConcurrencyError):
        await app.update.execute(
            UpdateIntegrationCommand(
                actor=ADMIN,
                integration_id=integration_id,
                update_mask=("name",),
                name="Again",
                expected_version=1,
            )
        )


@pytest.mark.parametrize("mask", [(), ("status",), ("config.",), ("sub_account_id",)])
async def test_an_update_mask_must_name_updatable_fields(app: App, mask: tuple[str, ...]) -> None:
    integration_id = await create(app)
    with pytest.raises(InvalidArgumentError):
        await app.update.execute(
            UpdateIntegrationCommand(actor=ADMIN, integration_id=integration_id, update_mask=mask)
        )


async def test_deactivating_then_reactivating_retests_the_integration(app: App) -> None:
    integration_id = await create(app)
    off = await app.deactivate.execute(
        SwitchIntegrationCommand(actor=ADMIN, integration_id=integration_id)
    )
    assert (off.integration.status, off.integration.is_active) == (
        IntegrationStatus.DISCONNECTED,
        False,
    )
    app.provider.result = ConnectionTestResult(success=False, message="revoked")
    on = await app.reactivate.execute(
        SwitchIntegrationCommand(actor=ADMIN, integration_id=integration_id)
    )
    assert on.test is not None
    assert not on.test.success
    assert (on.integration.status, on.integration.is_active) == (IntegrationStatus.ERROR, True)


async def test_testing_a_switched_off_integration_reports_but_keeps_its_status(app: App) -> None:
    integration_id = await create(app)
    await app.deactivate.execute(
        SwitchIntegrationCommand(actor=ADMIN, integration_id=integration_id)
    )
    result = await app.test.execute(
        TestIntegrationCommand(actor=USER, integration_id=integration_id)
    )
    assert result.test.success
    assert result.integration.status is IntegrationStatus.DISCONNECTED


async def test_a_retried_create_with_the_same_request_id_returns_the_first(app: App) -> None:
    first = await create(app, request_id="req-1")
    second = await create(app, request_id="req-1")
    assert first == second
    assert len(app.uow.store.integrations) == 1


async def test_deleting_removes_the_integration_and_records_it(app: App) -> None:
    integration_id = await create(app)
    await app.delete.execute(DeleteIntegrationCommand(actor=ADMIN, integration_id=integration_id))
    assert integration_id not in app.uow.store.integrations
    assert app.uow.outbox[-1].event_type == "IntegrationDeleted"
    with pytest.raises(NotFoundError):
        await app.delete.execute(
            DeleteIntegrationCommand(actor=ADMIN, integration_id=integration_id)
        )


async def test_a_throttled_test_concludes_nothing_and_leaves_the_status_as_it_is(
    app: App,
) -> None:
    integration_id = await create(app)
    recorded = len(app.uow.outbox)
    app.provider.result = ConnectionTestResult(
        success=False,
        message="GoHighLevel's rate limit was reached",
        error_code=ErrorCode.RATE_LIMIT_EXCEEDED,
        retry_after_seconds=7.5,
    )
    with pytest.raises(RateLimitExceededError) as raised:
        await app.test.execute(TestIntegrationCommand(actor=USER, integration_id=integration_id))
    assert raised.value.retry_after_seconds == 7.5
    stored = app.uow.store.integrations[integration_id]
    assert (stored.status, stored.error_code) == (IntegrationStatus.ACTIVE, None)
    assert len(app.uow.outbox) == recorded


class _GatedProvider(FakeProvider):
    """Holds every test until the gate opens, so that calls overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.started = asyncio.Event()

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        self.calls.append(ctx)
        self.started.set()
        await self.gate.wait()
        return self.result


async def test_concurrent_tests_of_one_integration_share_one_provider_call(app: App) -> None:
    integration_id = await create(app)
    gated = _GatedProvider()
    tester = ConnectionTester(
        uow_factory=app.uow,
        providers=FakeProviderRegistry({"gohighlevel": gated}),
        cipher=app.cipher,
        clock=app.clock,
    )
    test = TestIntegration(uow=app.uow, tester=tester)
    calls = [
        asyncio.create_task(
            test.execute(TestIntegrationCommand(actor=USER, integration_id=integration_id))
        )
        for _ in range(20)
    ]
    await gated.started.wait()
    for _ in range(5):  # let every call reach the tester before the test answers
        await asyncio.sleep(0)
    gated.gate.set()
    results = await asyncio.gather(*calls)
    assert len(gated.calls) == 1
    assert {r.integration.status for r in results} == {IntegrationStatus.ACTIVE}


async def test_a_test_that_began_before_a_newer_recorded_one_does_not_overwrite_it(
    app: App,
) -> None:
    """Two copies test one integration at once: the result recorded last, by a test that began
    earlier, does not move the status again (no flapping, no second event)."""
    integration_id = await create(app)
    copy = ConnectionTester(
        uow_factory=app.uow,
        providers=FakeProviderRegistry({"gohighlevel": FakeProvider()}),
        cipher=app.cipher,
        clock=app.clock,
    )
    began = app.clock.now()
    app.clock.advance(seconds=1)
    await copy.record(integration_id, ConnectionTestResult(success=True, message="ok"))
    recorded = len(app.uow.outbox)
    late = ConnectionTestResult(
        success=False, message="refused", error_code=ErrorCode.CONNECTION_FAILED
    )
    stored = await copy.record(integration_id, late, began_at=began)
    assert stored.status is IntegrationStatus.ACTIVE
    assert len(app.uow.outbox) == recorded
