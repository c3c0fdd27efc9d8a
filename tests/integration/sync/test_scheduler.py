"""The scheduler and the sync leases on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

from application.sync_records import RunTrigger
from domain.integration import Integration
from entrypoints.worker.sync_scheduler import SyncScheduler
from tests.integration.sync.support import SUB_ACCOUNT, SyncStack

INTERVAL = timedelta(minutes=15)


def scheduler(stack: SyncStack, seed: int) -> SyncScheduler:
    return SyncScheduler(
        sync=stack.sync,
        push=stack.push,
        leases=stack.leases,
        clock=stack.clock,
        crm_templates=frozenset({stack.integration.template_name}),
        interval=INTERVAL,
        first_run_within=timedelta(0),
        rng=random.Random(seed),
    )


async def add_switched_off(stack: SyncStack) -> Integration:
    async with stack.uow() as uow:
        template = await uow.templates.get(stack.integration.template_id)
        assert template is not None
        integration = Integration.create(
            id="0190aaaa-0000-7000-8000-000000000001",
            sub_account_id=SUB_ACCOUNT,
            template_id=template.id,
            template_name=template.name,
            name="Old CRM",
            config={"locationId": "elsewhere"},
            now=stack.clock.now(),
        )
        integration.activate(now=stack.clock.now())
        integration.deactivate(now=stack.clock.now())
        await uow.integrations.add(integration)
        await uow.commit()
    return integration


async def runs(stack: SyncStack, integration_id: str) -> list[RunTrigger]:
    async with stack.uow() as uow:
        return [r.trigger for r in await uow.sync.recent_runs(integration_id, limit=10)]


async def test_copies_sharing_a_database_run_a_due_integration_once_and_skip_a_disconnected_one(
    stack: SyncStack,
) -> None:
    off = await add_switched_off(stack)
    copies = [scheduler(stack, 1), scheduler(stack, 2)]

    results = await asyncio.gather(*(c.run_due() for c in copies))

    assert sum(r.ran for r in results) == 1
    assert await runs(stack, stack.integration.id) == [RunTrigger.SCHEDULE]
    assert await runs(stack, off.id) == []
    # Planned again an interval (with jitter) later: nothing is due before then.
    stack.clock.advance(seconds=INTERVAL.total_seconds() * 0.85)
    assert sum([(await c.run_due()).ran for c in copies]) == 0
    stack.clock.advance(seconds=INTERVAL.total_seconds() * 0.3)
    assert sum([(await c.run_due()).ran for c in copies]) == 1


async def test_a_lease_is_held_by_one_holder_until_released_or_expired(stack: SyncStack) -> None:
    leases, now, ttl = stack.leases, stack.clock.now(), timedelta(minutes=5)
    integration_id = stack.integration.id

    assert await leases.acquire(integration_id, holder="copy-a", now=now, ttl=ttl)
    assert not await leases.acquire(integration_id, holder="copy-b", now=now, ttl=ttl)
    assert await leases.renew(integration_id, holder="copy-a", now=now + ttl / 2, ttl=ttl)
    assert not await leases.renew(integration_id, holder="copy-b", now=now, ttl=ttl)
    templates = {stack.integration.template_name}
    assert await leases.due_for_sync(now=now, limit=10, templates=templates) == []  # leased
    # copy-a died: once its (renewed) lease ran out, copy-b takes over.
    assert not await leases.acquire(integration_id, holder="copy-b", now=now + ttl, ttl=ttl)
    assert await leases.acquire(integration_id, holder="copy-b", now=now + ttl * 2, ttl=ttl)
    await leases.release(integration_id, holder="copy-a")  # not its lease any more
    assert not await leases.acquire(integration_id, holder="copy-a", now=now + ttl * 2, ttl=ttl)
    await leases.release(integration_id, holder="copy-b")
    assert await leases.acquire(integration_id, holder="copy-a", now=now + ttl * 2, ttl=ttl)
