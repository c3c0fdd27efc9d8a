"""The sync scheduler: runs each operational integration on its interval, skips the others,
shares the work between copies, and pushes local changes in between."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import pytest

from application.sync_records import RunTrigger
from application.use_cases.create_lead import CreateLeadCommand
from application.use_cases.sync_integration import SyncIntegrationCommand
from domain.errors import ProviderNotSupportedError
from domain.integration import Integration
from domain.lead import ContactDetails
from entrypoints.worker.sync_scheduler import SyncScheduler
from tests.support.builders import a_template
from tests.unit.sync.support import SERVICE, Sync

INTERVAL = timedelta(minutes=15)


def scheduler(
    app: Sync, *, seed: int = 3, first_run_within: timedelta = timedelta(0)
) -> SyncScheduler:
    return SyncScheduler(
        sync=app.sync,
        push=app.push,
        leases=app.leases,
        clock=app.clock,
        crm_templates=CRMS,
        interval=INTERVAL,
        first_run_within=first_run_within,
        jitter=0.1,
        poll_interval=0.01,
        push_interval=0.01,
        rng=random.Random(seed),
    )


CRMS = frozenset({"gohighlevel", "gohighlevel_oauth", "crm_off", "crm_untested"})
"""The templates the scheduler syncs: every one these tests make but ``ads``."""


async def add_integration(
    app: Sync,
    name: str,
    *,
    switched_off: bool = False,
    active: bool = False,
    template_name: str | None = None,
) -> Integration:
    template = a_template(name=template_name or f"crm_{name}")
    integration = Integration.create(
        id=f"int-{name}",
        sub_account_id="sa-1",
        template_id=template.id,
        template_name=template.name,
        name=name,
        config={"locationId": "loc-1"},
        now=app.clock.now(),
    )
    if switched_off or active:
        integration.activate(now=app.clock.now())
    if switched_off:
        integration.deactivate(now=app.clock.now())
    async with app.uow() as uow:
        await uow.templates.add(template)
        await uow.integrations.add(integration)
        await uow.commit()
    return integration


async def test_only_integrations_of_a_crm_are_synced(app: Sync) -> None:
    crm = await add_integration(app, "oauth", active=True, template_name="gohighlevel_oauth")
    ads = await add_integration(app, "ads", active=True, template_name="ads")  # nothing to pull

    result = await scheduler(app).run_due()

    assert result.ran == 2
    assert await runs_of(app, crm.id) == 1
    assert await runs_of(app, ads.id) == 0


async def test_an_integration_whose_provider_lists_submitted_leads_is_backfilled(
    app: Sync,
) -> None:
    ads = await add_integration(app, "ads", active=True, template_name="ads")
    backfilled: list[str] = []

    async def backfill(integration_id: str) -> int:
        backfilled.append(integration_id)
        return 3

    tick = SyncScheduler(
        sync=app.sync,
        push=app.push,
        leases=app.leases,
        clock=app.clock,
        crm_templates=CRMS,
        backfill=backfill,
        backfill_templates=frozenset({"ads"}),
        interval=INTERVAL,
        first_run_within=timedelta(0),
    )
    result = await tick.run_due()

    assert result.ran == 2
    assert backfilled == [ads.id]
    assert await runs_of(app, ads.id) == 0  # backfilled, not synced
    assert await runs_of(app, app.integration.id) == 1


async def test_a_sync_asked_for_an_integration_without_a_crm_is_not_supported(app: Sync) -> None:
    ads = await add_integration(app, "ads", active=True, template_name="ads")

    with pytest.raises(ProviderNotSupportedError, match="no contacts"):
        await app.sync.execute(SyncIntegrationCommand(integration_id=ads.id))
    assert await runs_of(app, ads.id) == 0


async def runs_of(app: Sync, integration_id: str) -> int:
    async with app.uow() as uow:
        return len(await uow.sync.recent_runs(integration_id, limit=100))


async def test_due_integrations_run_and_inactive_or_disconnected_ones_are_skipped(
    app: Sync,
) -> None:
    disconnected = await add_integration(app, "off", switched_off=True)
    pending = await add_integration(app, "untested")

    result = await scheduler(app).run_due()

    assert result.ran == 1
    assert await runs_of(app, app.integration.id) == 1
    assert await runs_of(app, disconnected.id) == 0
    assert await runs_of(app, pending.id) == 0
    async with app.uow() as uow:
        [run] = await uow.sync.recent_runs(app.integration.id, limit=1)
    assert run.trigger is RunTrigger.SCHEDULE


async def test_an_integration_runs_again_only_after_its_interval_with_jitter(app: Sync) -> None:
    tick = scheduler(app)
    await tick.run_due()
    planned = app.leases.leases[app.integration.id].next_run_at
    assert planned is not None
    delay = planned - app.clock.now()
    assert INTERVAL * 0.9 <= delay <= INTERVAL * 1.1
    assert delay != INTERVAL  # jittered

    app.clock.advance(minutes=5)
    assert (await tick.run_due()).ran == 0
    app.clock.advance(seconds=(planned - app.clock.now()).total_seconds())
    assert (await tick.run_due()).ran == 1
    assert await runs_of(app, app.integration.id) == 2


async def test_a_new_integrations_first_run_is_spread_over_one_interval(app: Sync) -> None:
    tick = scheduler(app, first_run_within=INTERVAL)

    assert (await tick.run_due()).ran == 0  # planned, not run
    planned = app.leases.leases[app.integration.id].next_run_at
    assert planned is not None
    assert app.clock.now() < planned <= app.clock.now() + INTERVAL
    app.clock.advance(seconds=(planned - app.clock.now()).total_seconds())
    assert (await tick.run_due()).ran == 1


async def test_of_two_copies_only_one_runs_a_due_integration(app: Sync) -> None:
    first, second = scheduler(app, seed=1), scheduler(app, seed=2)

    results = await asyncio.gather(first.run_due(), second.run_due())

    assert sum(r.ran for r in results) == 1
    assert await runs_of(app, app.integration.id) == 1


async def test_an_integration_being_synced_elsewhere_is_skipped(app: Sync) -> None:
    await app.leases.acquire(
        app.integration.id, holder="another-copy", now=app.clock.now(), ttl=timedelta(minutes=5)
    )

    tick = scheduler(app)

    assert (await tick.run_due()).ran == 0
    assert await runs_of(app, app.integration.id) == 0
    app.clock.advance(minutes=6)  # that copy stopped renewing: its lease ran out
    assert (await tick.run_due()).ran == 1


async def test_local_changes_are_pushed_between_scheduled_runs(app: Sync) -> None:
    await app.create_lead.execute(
        CreateLeadCommand(
            actor=SERVICE,
            integration_id=app.integration.id,
            details=ContactDetails(email="neo@example.com"),
        )
    )

    assert await scheduler(app).push_due() == 1

    assert [c.email for c in app.ghl.contacts.values()] == ["neo@example.com"]
    assert await runs_of(app, app.integration.id) == 0  # a push, not a run


async def test_the_running_scheduler_syncs_and_stops_when_asked(app: Sync) -> None:
    running = scheduler(app)
    task = asyncio.create_task(running.run())
    for _ in range(100):
        if await runs_of(app, app.integration.id):
            break
        await asyncio.sleep(0.01)

    running.stop()
    await asyncio.wait_for(task, timeout=2)

    assert await runs_of(app, app.integration.id) == 1
