"""SqlAlchemyTemplateRepository against the TemplateRepository contract."""

from __future__ import annotations

from datetime import timedelta

import pytest

from application.ports import PageRequest, UnitOfWorkFactory
from domain.errors import AlreadyExistsError, ConcurrencyError
from domain.template import ConfigSchema, IntegrationTemplate
from tests.support.builders import NOW, SCHEMA_SOURCE, a_template


async def _add(uow_factory: UnitOfWorkFactory, *templates: IntegrationTemplate) -> None:
    async with uow_factory() as uow:
        for template in templates:
            await uow.templates.add(template)
        await uow.commit()


def _fields(template: IntegrationTemplate) -> dict[str, object]:
    return {k: v for k, v in vars(template).items() if k != "_events"}


async def test_an_added_template_reads_back_field_for_field_by_id_and_by_name(
    uow_factory: UnitOfWorkFactory,
) -> None:
    template = a_template(
        description="CRM",
        category="CRM",
        icon="ghl",
        setup_instructions="1. Paste the key.",
        webhook_url="https://example.test/hook",
        api_version="2021-07-28",
        rate_limit_per_minute=42,
        created_by_admin_id="admin-7",
    )
    await _add(uow_factory, template)

    async with uow_factory() as uow:
        by_id = await uow.templates.get(template.id)
        by_name = await uow.templates.get_by_name("gohighlevel")

    assert by_id is not None
    assert by_name is not None
    assert _fields(by_id) == _fields(template)
    assert _fields(by_name) == _fields(template)


async def test_the_schema_is_stored_as_written_and_normalised_again_on_load(
    uow_factory: UnitOfWorkFactory,
) -> None:
    template = a_template()
    await _add(uow_factory, template)

    async with uow_factory() as uow:
        loaded = await uow.templates.get(template.id)

    assert loaded is not None
    assert loaded.config_schema.source == SCHEMA_SOURCE
    assert loaded.config_schema.secret_fields == {"apiKey", "webhookSecret"}
    assert loaded.config_schema.json_schema["required"] == ["apiKey", "locationId"]


async def test_unknown_ids_and_names_read_as_none(uow_factory: UnitOfWorkFactory) -> None:
    async with uow_factory() as uow:
        assert await uow.templates.get("0190a0b0-0000-7000-8000-000000000000") is None
        assert await uow.templates.get_by_name("nothing_here") is None


async def test_a_second_template_with_a_taken_name_is_refused(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await _add(uow_factory, a_template(name="gohighlevel"))

    async with uow_factory() as uow:
        with pytest.raises(AlreadyExistsError):
            await uow.templates.add(a_template(name="gohighlevel"))

    async with uow_factory() as uow:
        page = await uow.templates.list_page(PageRequest(size=10), include_inactive=True)
    assert len(page.items) == 1


async def test_pages_walk_every_template_in_id_order(
    uow_factory: UnitOfWorkFactory,
) -> None:
    templates = [a_template(name=f"template_{n}") for n in range(5)]
    await _add(uow_factory, *reversed(templates))

    seen: list[str] = []
    after: str | None = None
    pages = 0
    async with uow_factory() as uow:
        while True:
            page = await uow.templates.list_page(
                PageRequest(size=2, after_id=after), include_inactive=True
            )
            pages += 1
            seen.extend(t.name for t in page.items)
            if page.next_after_id is None:
                break
            assert page.next_after_id == page.items[-1].id
            after = page.next_after_id

    assert seen == [t.name for t in templates]
    assert pages == 3


async def test_a_page_that_ends_on_the_last_template_says_no_more_follow(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await _add(uow_factory, *(a_template(name=f"template_{n}") for n in range(4)))

    async with uow_factory() as uow:
        first = await uow.templates.list_page(PageRequest(size=2), include_inactive=True)
        second = await uow.templates.list_page(
            PageRequest(size=2, after_id=first.next_after_id), include_inactive=True
        )

    assert first.next_after_id is not None
    assert len(second.items) == 2
    assert second.next_after_id is None


async def test_inactive_templates_are_listed_only_when_asked(
    uow_factory: UnitOfWorkFactory,
) -> None:
    await _add(uow_factory, a_template(name="live"), a_template(name="retired", is_active=False))

    async with uow_factory() as uow:
        active = await uow.templates.list_page(PageRequest(size=10), include_inactive=False)
        every = await uow.templates.list_page(PageRequest(size=10), include_inactive=True)

    assert [t.name for t in active.items] == ["live"]
    assert sorted(t.name for t in every.items) == ["live", "retired"]


async def test_an_update_writes_the_changes_and_bumps_the_version(
    uow_factory: UnitOfWorkFactory,
) -> None:
    template = a_template()
    await _add(uow_factory, template)
    later = NOW + timedelta(hours=1)
    new_schema = ConfigSchema.from_source({"properties": {"token": {"encrypted": True}}})

    async with uow_factory() as uow:
        loaded = await uow.templates.get(template.id)
        assert loaded is not None
        loaded.update(
            {"display_name": "GHL", "config_schema": new_schema, "is_active": False}, now=later
        )
        await uow.templates.update(loaded)
        assert loaded.version == 2
        await uow.commit()

    async with uow_factory() as uow:
        stored = await uow.templates.get(template.id)
    assert stored is not None
    assert (stored.display_name, stored.is_active, stored.version) == ("GHL", False, 2)
    assert stored.config_schema.secret_fields == {"token"}
    assert stored.updated_at == later


async def test_an_update_from_a_stale_copy_fails_and_changes_nothing(
    uow_factory: UnitOfWorkFactory,
) -> None:
    template = a_template()
    await _add(uow_factory, template)

    async with uow_factory() as uow:
        stale = await uow.templates.get(template.id)
    async with uow_factory() as uow:
        fresh = await uow.templates.get(template.id)
        assert fresh is not None
        fresh.update({"display_name": "Mine"}, now=NOW)
        await uow.templates.update(fresh)
        await uow.commit()

    assert stale is not None
    async with uow_factory() as uow:
        stale.update({"display_name": "Theirs"}, now=NOW)
        with pytest.raises(ConcurrencyError):
            await uow.templates.update(stale)
        assert stale.version == 1

    async with uow_factory() as uow:
        stored = await uow.templates.get(template.id)
    assert stored is not None
    assert (stored.display_name, stored.version) == ("Mine", 2)
