"""The funnel queue (application.ports.FunnelQueue) in SQL: `funnel_deliveries`, one row per
(integration, funnel event), and `funnel_cursor`, how far the dispatcher has read the outbox."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from adapters.ids import Uuid7Generator
from adapters.persistence.errors import translated
from adapters.persistence.models import (
    FUNNEL_CURSOR,
    FUNNEL_DELIVERIES,
    INTEGRATIONS,
    LEADS,
)
from application.ports import (
    FunnelActivity,
    FunnelEvent,
    FunnelStage,
    FunnelTarget,
    LeadOrigin,
    QueuedFunnelEvent,
)
from domain.integration import IntegrationStatus
from domain.values import SecretStr

F = FUNNEL_DELIVERIES
_CURSOR: Final = "funnel"
_PENDING, _SENDING, _SENT, _DROPPED, _SKIPPED, _DEAD = (
    "pending",
    "sending",
    "sent",
    "dropped",
    "skipped",
    "dead",
)


class SqlAlchemyFunnelQueue:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Time-ordered row ids: a lead's steps that happened at the same moment are claimed in
        # the order they were dispatched (the outbox's).
        self._ids = Uuid7Generator()
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = dialect.insert(F).on_conflict_do_nothing(
            index_elements=["integration_id", "event_id"]
        )
        self._insert_cursor = dialect.insert(FUNNEL_CURSOR).on_conflict_do_nothing(
            index_elements=["name"]
        )
        self._postgres = engine.dialect.name == "postgresql"

    @translated
    async def cursor(self) -> int:
        async with self._engine.connect() as connection:
            value = await connection.scalar(
                select(FUNNEL_CURSOR.c.sequence).where(FUNNEL_CURSOR.c.name == _CURSOR)
            )
        return int(value or 0)

    @translated
    async def targets(self, sub_account_id: str, templates: frozenset[str]) -> list[FunnelTarget]:
        query = (
            select(INTEGRATIONS.c.id, INTEGRATIONS.c.template_name)
            .where(
                INTEGRATIONS.c.sub_account_id == sub_account_id,
                INTEGRATIONS.c.template_name.in_(sorted(templates)),
                INTEGRATIONS.c.is_active.is_(True),
                INTEGRATIONS.c.status != IntegrationStatus.DISCONNECTED.value,
            )
            .order_by(INTEGRATIONS.c.id)
        )
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [FunnelTarget(integration_id=r.id, template_name=r.template_name) for r in rows]

    @translated
    async def origins(self, lead_ids: Sequence[str]) -> dict[str, LeadOrigin]:
        if not lead_ids:
            return {}
        query = select(
            LEADS.c.id, LEADS.c.integration_id, LEADS.c.external_id, INTEGRATIONS.c.template_name
        ).join(INTEGRATIONS, INTEGRATIONS.c.id == LEADS.c.integration_id)
        query = query.where(LEADS.c.id.in_(list(lead_ids)))
        async with self._engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return {
            r.id: LeadOrigin(
                lead_id=r.id,
                integration_id=r.integration_id,
                template_name=r.template_name,
                external_id=r.external_id,
            )
            for r in rows
        }

    @translated
    async def enqueue(
        self,
        events: Sequence[tuple[str, FunnelEvent]],
        *,
        after: int,
        cursor: int,
        now: datetime,
    ) -> bool:
        async with self._engine.begin() as connection:
            await connection.execute(self._insert_cursor, {"name": _CURSOR, "sequence": 0})
            moved = await connection.execute(
                update(FUNNEL_CURSOR)
                .where(FUNNEL_CURSOR.c.name == _CURSOR, FUNNEL_CURSOR.c.sequence == after)
                .values(sequence=cursor)
            )
            if moved.rowcount != 1:
                await connection.rollback()
                return False
            if events:
                await connection.execute(
                    self._insert,
                    [
                        _row(self._ids.new_id(), integration_id, e, now)
                        for integration_id, e in events
                    ],
                )
        return True

    @translated
    async def due_integrations(self, *, now: datetime, limit: int) -> list[str]:
        oldest = func.min(F.c.next_attempt_at)
        query = (
            select(F.c.integration_id)
            .where(_due(now))
            .group_by(F.c.integration_id)
            .order_by(oldest, F.c.integration_id)
            .limit(limit)
        )
        async with self._engine.connect() as connection:
            return list((await connection.scalars(query)).all())

    @translated
    async def claim(
        self, integration_id: str, *, now: datetime, limit: int, lease_until: datetime
    ) -> list[QueuedFunnelEvent]:
        picked = (
            select(F.c.id)
            .where(F.c.integration_id == integration_id, _due(now))
            .order_by(F.c.occurred_at, F.c.id)
            .limit(limit)
        )
        if self._postgres:
            picked = picked.with_for_update(skip_locked=True)
        token = str(uuid.uuid4())
        async with self._engine.begin() as connection:
            claimed = await connection.execute(
                update(F)
                .where(F.c.id.in_(picked.scalar_subquery()), _due(now))
                .values(
                    status=_SENDING,
                    attempts=F.c.attempts + 1,
                    claimed_until=lease_until,
                    claim_token=token,
                )
                .returning(F)
            )
            rows = sorted(claimed.all(), key=lambda r: (r.occurred_at, r.id))
            contacts = await _contacts(connection, {r.lead_id for r in rows})
        return [_claimed(row, contacts.get(row.lead_id, (None, None))) for row in rows]

    @translated
    async def settle(
        self,
        claims: Sequence[QueuedFunnelEvent],
        *,
        sent: Collection[str],
        dropped: Mapping[str, str],
        skipped: Collection[str],
        now: datetime,
    ) -> None:
        by_event = {claim.event.id: claim for claim in claims}
        outcomes = [
            *((by_event[e], _SENT, None) for e in sent if e in by_event),
            *((by_event[e], _DROPPED, why) for e, why in dropped.items() if e in by_event),
            *((by_event[e], _SKIPPED, None) for e in skipped if e in by_event),
        ]
        async with self._engine.begin() as connection:
            for claim, status, error in outcomes:
                await connection.execute(
                    update(F)
                    .where(_held(claim))
                    .values(
                        status=status,
                        last_error=error,
                        settled_at=now,
                        next_attempt_at=None,
                        claimed_until=None,
                        claim_token=None,
                    )
                )

    @translated
    async def retry(
        self,
        claims: Sequence[QueuedFunnelEvent],
        *,
        error: str,
        retry_at: datetime,
        count_attempt: bool,
        now: datetime,
    ) -> None:
        values: dict[str, Any] = {
            "status": _PENDING,
            "last_error": error,
            "next_attempt_at": retry_at,
            "claimed_until": None,
            "claim_token": None,
        }
        if not count_attempt:
            values["attempts"] = F.c.attempts - 1
        await self._update_held(claims, values)

    @translated
    async def dead_letter(
        self, claims: Sequence[QueuedFunnelEvent], *, error: str, now: datetime
    ) -> None:
        await self._update_held(
            claims,
            {
                "status": _DEAD,
                "last_error": error,
                "settled_at": now,
                "next_attempt_at": None,
                "claimed_until": None,
                "claim_token": None,
            },
        )

    @translated
    async def activity(
        self, integration_id: str, *, since: datetime, now: datetime
    ) -> FunnelActivity:
        mine = F.c.integration_id == integration_id
        settled = (
            select(F.c.status, func.count(), func.max(F.c.settled_at))
            .where(mine, F.c.settled_at >= since)
            .group_by(F.c.status)
        )
        waiting = select(func.count(), func.min(F.c.next_attempt_at)).where(
            mine, F.c.status.in_((_PENDING, _SENDING))
        )
        oldest_due = select(func.min(F.c.next_attempt_at)).where(mine, _due(now))
        last_sent = select(func.max(F.c.settled_at)).where(mine, F.c.status == _SENT)
        async with self._engine.connect() as connection:
            by_status = {row[0]: int(row[1]) for row in (await connection.execute(settled)).all()}
            backlog = (await connection.execute(waiting)).one()
            due_since = await connection.scalar(oldest_due)
            sent_at = await connection.scalar(last_sent)
        return FunnelActivity(
            last_sent_at=sent_at,
            sent=by_status.get(_SENT, 0),
            dropped=by_status.get(_DROPPED, 0),
            dead_lettered=by_status.get(_DEAD, 0),
            backlog=int(backlog[0]),
            oldest_due_at=due_since,
        )

    @translated
    async def counts(self) -> Mapping[str, int]:
        query = select(F.c.status, func.count()).group_by(F.c.status)
        async with self._engine.connect() as connection:
            return {status: int(n) for status, n in (await connection.execute(query)).all()}

    async def _update_held(
        self, claims: Sequence[QueuedFunnelEvent], values: Mapping[str, Any]
    ) -> None:
        if not claims:
            return
        async with self._engine.begin() as connection:
            for token in {claim.claim_token for claim in claims}:
                ids = [claim.id for claim in claims if claim.claim_token == token]
                await connection.execute(
                    update(F)
                    .where(F.c.id.in_(ids), F.c.claim_token == token, F.c.status == _SENDING)
                    .values(**values)
                )


def _due(now: datetime) -> Any:
    return or_(
        and_(F.c.status == _PENDING, F.c.next_attempt_at <= now),
        and_(F.c.status == _SENDING, F.c.claimed_until <= now),
    )


def _held(claim: QueuedFunnelEvent) -> Any:
    return and_(F.c.id == claim.id, F.c.claim_token == claim.claim_token, F.c.status == _SENDING)


def _row(row_id: str, integration_id: str, event: FunnelEvent, now: datetime) -> dict[str, Any]:
    return {
        "id": row_id,
        "integration_id": integration_id,
        "sub_account_id": event.sub_account_id,
        "event_id": event.id,
        "stage": event.stage.value,
        "lead_id": event.lead_id,
        "occurred_at": event.occurred_at,
        "source_integration_id": event.source_integration_id,
        "source_template": event.source_template,
        "source_external_id": event.source_external_id,
        "reason": event.reason,
        "status": _PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def _contacts(
    connection: AsyncConnection, lead_ids: set[str]
) -> dict[str, tuple[str | None, str | None]]:
    if not lead_ids:
        return {}
    query = select(LEADS.c.id, LEADS.c.email, LEADS.c.phone).where(LEADS.c.id.in_(sorted(lead_ids)))
    return {r.id: (r.email, r.phone) for r in (await connection.execute(query)).all()}


def _claimed(row: Any, contact: tuple[str | None, str | None]) -> QueuedFunnelEvent:
    email, phone = contact
    return QueuedFunnelEvent(
        id=row.id,
        integration_id=row.integration_id,
        attempts=row.attempts,
        claim_token=row.claim_token,
        event=FunnelEvent(
            id=row.event_id,
            stage=FunnelStage(row.stage),
            sub_account_id=row.sub_account_id,
            lead_id=row.lead_id,
            occurred_at=row.occurred_at,
            source_integration_id=row.source_integration_id,
            source_template=row.source_template,
            source_external_id=row.source_external_id,
            reason=row.reason,
            email=SecretStr(email) if email else None,
            phone=SecretStr(phone) if phone else None,
        ),
    )
