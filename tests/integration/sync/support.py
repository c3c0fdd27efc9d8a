"""Sync wired on a real database and the fake GHL over loopback: the pieces and their helpers."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.ghl.client import HttpGhlClient
from adapters.ghl.fake import FakeGhl
from adapters.ghl.fake.seed import DEFAULT_SEED, DEMO_LOCATION_ID
from adapters.persistence.models import BOOKINGS, LEADS, SYNC_CONFLICTS, WEBHOOK_DELIVERIES
from adapters.persistence.sync_repository import SqlAlchemySyncLeases
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.lead_sync import LeadSync
from application.sync_records import SyncRun
from application.use_cases.cancel_booking import CancelBooking
from application.use_cases.create_booking import CreateBooking
from application.use_cases.create_lead import CreateLead
from application.use_cases.push_changes import PushPendingChanges
from application.use_cases.sync_integration import SyncIntegration, SyncIntegrationCommand
from application.use_cases.update_lead import UpdateLead
from domain.integration import Integration
from domain.values import Principal, Role
from entrypoints.worker.inbox_worker import InboxWorker
from tests.fakes import FixedClock

SUB_ACCOUNT = "sa-1"
SERVICE = Principal("svc-booking", Role.SERVICE, SUB_ACCOUNT)
CALENDAR = "fakeCalendar00000001"
PIPELINE = "fakePipeline00000001"


def seed() -> dict[str, Any]:
    """The fake's demo location, token and calendar; no contacts, appointments or deals."""
    data = copy.deepcopy(DEFAULT_SEED)
    data["contacts"] = []
    data["opportunities"] = []
    return data


def ghl_time(moment: datetime) -> str:
    """GHL's own format for contact times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def add_contacts(fake: FakeGhl, count: int, *, changed: datetime, prefix: str = "c") -> None:
    """`count` contacts straight into the fake's state, each changed a millisecond apart."""
    for n in range(count):
        at = ghl_time(changed + timedelta(milliseconds=n))
        contact_id = f"{prefix}{n:019d}"[-20:]
        fake.state.contacts[contact_id] = {
            "id": contact_id,
            "locationId": DEMO_LOCATION_ID,
            "firstName": f"First{n}",
            "lastName": "Lead",
            "name": f"First{n} Lead",
            "email": f"{prefix}{n}@example.com",
            "type": "lead",
            "tags": [],
            "customFields": [],
            "dateAdded": at,
            "dateUpdated": at,
        }


def add_opportunities(
    fake: FakeGhl, contact_ids: list[str], *, status: str, changed: datetime
) -> list[str]:
    """An opportunity in the demo pipeline for each contact, straight into the fake's state."""
    ids = []
    for n, contact_id in enumerate(contact_ids):
        at = ghl_time(changed + timedelta(milliseconds=n))
        opportunity_id = f"o{n:019d}"[-20:]
        fake.state.opportunities[opportunity_id] = {
            "id": opportunity_id,
            "name": f"Deal {n}",
            "pipelineId": PIPELINE,
            "pipelineStageId": "fakeStage00000000001",
            "status": status,
            "contactId": contact_id,
            "locationId": DEMO_LOCATION_ID,
            "lastStatusChangeAt": at,
            "createdAt": at,
            "updatedAt": at,
        }
        ids.append(opportunity_id)
    return ids


@dataclass
class SyncStack:
    engine: AsyncEngine
    worker: InboxWorker
    uow: SqlAlchemyUnitOfWorkFactory
    clock: FixedClock
    client: HttpGhlClient
    fake: FakeGhl
    integration: Integration
    leases: SqlAlchemySyncLeases
    leads: LeadSync
    push: PushPendingChanges
    sync: SyncIntegration
    create_lead: CreateLead
    update_lead: UpdateLead
    create_booking: CreateBooking
    cancel_booking: CancelBooking

    async def run(self) -> SyncRun:
        result = await self.sync.execute(SyncIntegrationCommand(integration_id=self.integration.id))
        return result.run

    async def count(self, table: Any) -> int:
        async with self.engine.connect() as connection:
            return int(
                (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            )

    async def leads_count(self) -> int:
        return await self.count(LEADS)

    async def bookings_count(self) -> int:
        return await self.count(BOOKINGS)

    async def conflicts_count(self) -> int:
        return await self.count(SYNC_CONFLICTS)

    async def deliver_webhooks(self) -> list[str]:
        """Let the fake send what it queued, then process the inbox: the deliveries' statuses."""
        await self.fake.webhooks.drain()
        await self.worker.run_once()
        async with self.engine.connect() as connection:
            rows = await connection.execute(
                select(WEBHOOK_DELIVERIES.c.status).order_by(WEBHOOK_DELIVERIES.c.id)
            )
            return [row.status for row in rows]

    def ghl_requests(self, method: str, path: str) -> int:
        return sum(1 for r in self.fake.log if r.method == method and r.path == path)
