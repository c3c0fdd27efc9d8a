"""SqlAlchemyIntegrationRepository against the IntegrationRepository contract."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from application.ports import IntegrationFilter, PageRequest, UnitOfWorkFactory
from domain.errors import AlreadyExistsError, ConcurrencyError, ErrorCode
from domain.integration import Integration, IntegrationStatus
from domain.template import IntegrationTemplate
from domain.values import EncryptedSecret
from tests.integration.persistence.listing_cases import LISTING_CASES, add_listing_integrations
from tests.support.builders import NOW, a_secret, a_template, an_integration


@pytest.fixture
async def template(uow_factory: UnitOfWorkFactory) -> IntegrationTemplate:
    template = a_template()
    async with uow_factory() as uow:
        await uow.templates.add(template)
        await uow.commit()
    return template


async def _add(
    uow_factory: UnitOfWorkFactory,
    *integrations: Integration,
    request_id: str | None = None,
) -> None:
    async with uow_factory() as uow:
        for integration in integrations:
            await uow.integrations.add(integration, request_id=request_id)
        await uow.commit()


async def _get(uow_factory: UnitOfWorkFactory, integration_id: str) -> Integration | None:
    async with uow_factory() as uow:
        return await uow.integrations.get(integration_id)


async def _list(
    uow_factory: UnitOfWorkFactory, filter: IntegrationFilter, size: int = 100
) -> list[str]:
    async with uow_factory() as uow:
        page = await uow.integrations.list_page(filter, PageRequest(size=size))
    return [i.name for i in page.items]


def _fields(integration: Integration) -> dict[str, object]:
    return {k: v for k, v in vars(integration).items() if k != "_events"}


async def test_an_added_integration_reads_back_field_for_field(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(
        template,
        description="the sales team's",
        config={"locationId": "loc-9", "nested": {"tags": ["a", "b"], "n": 3}},
        secrets={
            "apiKey": a_secret("v1.dk-1.AAA", "abcd"),
            "webhookSecret": a_secret("v1.dk-2.BBB", ""),
        },
    )
    integration.fail(code=ErrorCode.INVALID_CREDENTIALS, message="401 from GHL", now=NOW)
    integration.last_sync_at = NOW - timedelta(days=1)
    await _add(uow_factory, integration)

    loaded = await _get(uow_factory, integration.id)

    assert loaded is not None
    assert _fields(loaded) == _fields(integration)
    assert loaded.status is IntegrationStatus.ERROR


async def test_secrets_come_back_as_encrypted_secrets_with_token_and_hint(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template, secrets={"apiKey": a_secret("v1.dk-7.c2VhbGVk", "wxyz")})
    await _add(uow_factory, integration)

    loaded = await _get(uow_factory, integration.id)

    assert loaded is not None
    secret = loaded.secrets["apiKey"]
    assert isinstance(secret, EncryptedSecret)
    assert (secret.token, secret.hint, secret.key_id) == ("v1.dk-7.c2VhbGVk", "wxyz", "dk-7")
    assert "apiKey" not in loaded.config


async def test_loaded_datetimes_are_timezone_aware_utc_whatever_zone_they_were_written_in(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    in_paris = NOW.astimezone(timezone(timedelta(hours=2)))
    integration = an_integration(template, now=in_paris)
    integration.activate(now=in_paris + timedelta(seconds=1.5))
    await _add(uow_factory, integration)

    loaded = await _get(uow_factory, integration.id)

    assert loaded is not None
    for value in (loaded.created_at, loaded.updated_at, loaded.last_tested_at):
        assert value is not None
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
    assert loaded.created_at == NOW
    assert loaded.last_tested_at == NOW + timedelta(seconds=1.5)


async def test_a_naive_datetime_is_refused_rather_than_stored_ambiguously(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template, now=NOW.replace(tzinfo=None))

    async with uow_factory() as uow:
        with pytest.raises(StatementError, match="naive datetime"):
            await uow.integrations.add(integration)

    assert await _get(uow_factory, integration.id) is None


async def test_an_unknown_id_reads_as_none(uow_factory: UnitOfWorkFactory) -> None:
    assert await _get(uow_factory, "0190a0b0-0000-7000-8000-000000000000") is None


async def test_listing_filters_by_sub_account_status_and_template(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    await add_listing_integrations(uow_factory, template)

    for filter, names in LISTING_CASES:
        assert await _list(uow_factory, filter) == names, filter


async def test_pages_of_a_filtered_listing_walk_every_match_in_id_order(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    mine = [an_integration(template, sub_account_id="sub-a", name=f"mine-{n}") for n in range(5)]
    others = [an_integration(template, sub_account_id="sub-b", name=f"other-{n}") for n in range(3)]
    await _add(uow_factory, *others[:1], *mine[:3], *others[1:], *mine[3:])

    names: list[str] = []
    page_sizes: list[int] = []
    after: str | None = None
    async with uow_factory() as uow:
        while True:
            page = await uow.integrations.list_page(
                IntegrationFilter(sub_account_id="sub-a"), PageRequest(size=2, after_id=after)
            )
            names.extend(i.name for i in page.items)
            page_sizes.append(len(page.items))
            if page.next_after_id is None:
                break
            after = page.next_after_id

    assert names == [f"mine-{n}" for n in range(5)]
    assert page_sizes == [2, 2, 1]


async def test_sub_account_ids_are_listed_once_each(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    await _add(
        uow_factory,
        an_integration(template, sub_account_id="sub-b"),
        an_integration(template, sub_account_id="sub-a"),
        an_integration(template, sub_account_id="sub-b"),
    )

    async with uow_factory() as uow:
        assert await uow.integrations.list_sub_account_ids() == ["sub-a", "sub-b"]


async def test_an_update_writes_the_changes_and_bumps_the_version(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)
    await _add(uow_factory, integration)
    later = NOW + timedelta(minutes=5)

    async with uow_factory() as uow:
        loaded = await uow.integrations.get(integration.id)
        assert loaded is not None
        loaded.activate(now=later)
        loaded.change_config(
            config={"locationId": "loc-2"},
            secrets={"apiKey": a_secret("v1.dk-2.bmV3", "new1")},
            credentials_changed=True,
            now=later,
        )
        await uow.integrations.update(loaded)
        assert loaded.version == 2
        await uow.commit()

    stored = await _get(uow_factory, integration.id)
    assert stored is not None
    assert stored.status is IntegrationStatus.ACTIVE
    assert stored.config == {"locationId": "loc-2"}
    assert stored.secrets == {"apiKey": a_secret("v1.dk-2.bmV3", "new1")}
    assert (stored.version, stored.updated_at) == (2, later)


async def test_an_update_from_a_stale_copy_fails_and_changes_nothing(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)
    await _add(uow_factory, integration)
    stale = await _get(uow_factory, integration.id)
    fresh = await _get(uow_factory, integration.id)
    assert stale is not None
    assert fresh is not None

    async with uow_factory() as uow:
        fresh.edit(name="Fresh", now=NOW)
        await uow.integrations.update(fresh)
        await uow.commit()

    async with uow_factory() as uow:
        stale.edit(name="Stale", now=NOW)
        with pytest.raises(ConcurrencyError):
            await uow.integrations.update(stale)
        assert stale.version == 1

    stored = await _get(uow_factory, integration.id)
    assert stored is not None
    assert (stored.name, stored.version) == ("Fresh", 2)


async def test_two_updates_in_one_unit_of_work_each_bump_the_version(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)
    await _add(uow_factory, integration)

    async with uow_factory() as uow:
        loaded = await uow.integrations.get(integration.id)
        assert loaded is not None
        loaded.edit(name="One", now=NOW)
        await uow.integrations.update(loaded)
        loaded.edit(name="Two", now=NOW)
        await uow.integrations.update(loaded)
        await uow.commit()

    stored = await _get(uow_factory, integration.id)
    assert stored is not None
    assert (stored.name, stored.version) == ("Two", 3)


async def test_a_delete_removes_the_integration(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)
    await _add(uow_factory, integration)

    async with uow_factory() as uow:
        loaded = await uow.integrations.get(integration.id)
        assert loaded is not None
        loaded.mark_deleted(now=NOW)
        await uow.integrations.delete(loaded)
        await uow.commit()

    assert await _get(uow_factory, integration.id) is None


async def test_a_delete_from_a_stale_copy_fails_and_keeps_the_integration(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)
    await _add(uow_factory, integration)
    stale = await _get(uow_factory, integration.id)
    assert stale is not None
    async with uow_factory() as uow:
        fresh = await uow.integrations.get(integration.id)
        assert fresh is not None
        fresh.activate(now=NOW)
        await uow.integrations.update(fresh)
        await uow.commit()

    async with uow_factory() as uow:
        with pytest.raises(ConcurrencyError):
            await uow.integrations.delete(stale)

    stored = await _get(uow_factory, integration.id)
    assert stored is not None
    assert stored.status is IntegrationStatus.ACTIVE


async def test_an_integration_is_found_by_the_request_id_that_created_it(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template, sub_account_id="sub-a")
    await _add(uow_factory, integration, request_id="req-1")

    async with uow_factory() as uow:
        found = await uow.integrations.find_by_request_id("sub-a", "req-1")
        assert await uow.integrations.find_by_request_id("sub-b", "req-1") is None
        assert await uow.integrations.find_by_request_id("sub-a", "req-2") is None

    assert found is not None
    assert found.id == integration.id


async def test_a_request_id_is_used_once_per_sub_account(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    await _add(uow_factory, an_integration(template, sub_account_id="sub-a"), request_id="req-1")

    async with uow_factory() as uow:
        with pytest.raises(AlreadyExistsError):
            await uow.integrations.add(
                an_integration(template, sub_account_id="sub-a"), request_id="req-1"
            )

    # Another sub-account may use the same request id, and creates without one never clash.
    await _add(uow_factory, an_integration(template, sub_account_id="sub-b"), request_id="req-1")
    await _add(
        uow_factory,
        an_integration(template, sub_account_id="sub-a"),
        an_integration(template, sub_account_id="sub-a"),
    )
    assert len(await _list(uow_factory, IntegrationFilter(sub_account_id="sub-a"))) == 3


async def test_an_integration_with_an_id_already_stored_is_refused(
    uow_factory: UnitOfWorkFactory, template: IntegrationTemplate
) -> None:
    integration = an_integration(template)
    await _add(uow_factory, integration)

    async with uow_factory() as uow:
        with pytest.raises(AlreadyExistsError):
            await uow.integrations.add(integration)
