"""The webhook inbox on SQLAlchemy Core: the ingest path's group-committed INSERT, the owners of a
provider account looked up, and the worker's claims (the dialect-specific SQL of the inbox lives
here)."""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeAlias, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Text,
    and_,
    bindparam,
    case,
    func,
    null,
    or_,
    select,
    update,
)
from sqlalchemy import cast as cast_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from adapters.persistence.errors import translated
from adapters.persistence.models import (
    INTEGRATION_ACCOUNTS,
    INTEGRATIONS,
    PLATFORM_DELIVERIES,
    WEBHOOK_DELIVERIES,
)
from adapters.persistence.repositories import SeenAggregates
from application.ports import (
    WEBHOOK_SECRET_FIELD,
    ClaimedDelivery,
    ClaimLostError,
    DeliveryFilter,
    NewDelivery,
    Page,
    PageRequest,
    PlatformDelivery,
    SignatureScheme,
    WebhookDeliveryView,
    WebhookTarget,
    accepts_deliveries,
)
from domain.errors import (
    ConcurrencyError,
    InvalidTransitionError,
    NotFoundError,
    StorageUnavailableError,
)
from domain.integration import IntegrationStatus
from domain.values import EncryptedSecret, ProviderAccount
from domain.webhook_delivery import REPLAYABLE, DeliveryStatus, EventKind

T = WEBHOOK_DELIVERIES
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
_UNIQUE = ("integration_id", "delivery_id")
_PURGEABLE = sorted(
    s.value for s in (DeliveryStatus.DONE, DeliveryStatus.IGNORED, DeliveryStatus.REJECTED)
)
_WAITING = sorted(s.value for s in (DeliveryStatus.PENDING, DeliveryStatus.FAILED))
_SUCCEEDED = frozenset({DeliveryStatus.DONE, DeliveryStatus.IGNORED})
_SETTLED = _SUCCEEDED | {DeliveryStatus.REJECTED}

_VIEW_COLUMNS = (
    T.c.id,
    T.c.integration_id,
    T.c.sub_account_id,
    T.c.delivery_id,
    T.c.event_type,
    T.c.kind,
    T.c.status,
    T.c.signature_scheme,
    T.c.attempts,
    T.c.last_error,
    T.c.received_at,
    T.c.next_attempt_at,
    T.c.processed_at,
    T.c.updated_at,
    T.c.payload.is_(None).label("payload_purged"),
)
_CLAIM_COLUMNS = (
    T.c.id,
    T.c.integration_id,
    T.c.sub_account_id,
    T.c.delivery_id,
    T.c.event_type,
    T.c.kind,
    cast_(T.c.payload, Text).label("payload"),
    T.c.attempts,
    T.c.received_at,
    T.c.claim_token,
    T.c.claimed_until,
    T.c.traceparent,
)


# SQLite writes a batch as one multi-row INSERT in one transaction.
_SQLITE_BATCH_INSERT = (
    sqlite.insert(T).on_conflict_do_nothing(index_elements=list(_UNIQUE)).returning(T.c.id)
)


# Postgres writes a batch with one statement whose text never changes (one prepared statement
# whatever the batch size), its rows one JSON document: `json_to_recordset` reads it back into
# typed columns, and each payload goes in as the JSON text it arrived as. (Arrays per column cost
# more: asyncpg checks every element of an array for nesting.) The times a delivery is due and
# settled follow from its status and arrival, so they are not sent. The statement goes to asyncpg
# directly: SQLAlchemy's execution path cost as much CPU per batch as the driver's. The document
# is sent as text (cast to json by the server), whatever json codec the connection has.
_BATCH_COLUMNS = (
    ("id", "varchar"),
    ("integration_id", "varchar"),
    ("sub_account_id", "varchar"),
    ("delivery_id", "varchar"),
    ("event_type", "varchar"),
    ("kind", "varchar"),
    ("status", "varchar"),
    ("signature_scheme", "varchar"),
    ("payload", "jsonb"),
    ("last_error", "text"),
    ("received_at", "timestamptz"),
)
_PENDING = DeliveryStatus.PENDING.value


def _postgres_batch_insert(*, traced: bool) -> str:
    """The batch statement; `traced`: with each delivery's trace context (only while tracing is
    on, so that the untraced path sends and parses no extra column)."""
    columns = (*_BATCH_COLUMNS, ("traceparent", "varchar")) if traced else _BATCH_COLUMNS
    return (
        # Built from the constants above only.
        f"INSERT INTO {T.name} (id, integration_id, sub_account_id, delivery_id, event_type, "  # noqa: S608
        "kind, status, signature_scheme, payload, last_error, next_attempt_at, received_at, "
        f"processed_at, attempts, claimed_until, claim_token, updated_at{', traceparent' * traced}) "
        "SELECT d.id, d.integration_id, d.sub_account_id, d.delivery_id, d.event_type, d.kind, "
        "d.status, d.signature_scheme, d.payload, d.last_error, "
        f"CASE WHEN d.status = '{_PENDING}' THEN d.received_at END, d.received_at, "
        f"CASE WHEN d.status <> '{_PENDING}' THEN d.received_at END, 0, NULL, NULL, d.received_at"
        f"{', d.traceparent' * traced} "
        "FROM json_to_recordset($1::text::json) AS d("
        + ", ".join(f"{name} {kind}" for name, kind in columns)
        + f") ON CONFLICT ({', '.join(_UNIQUE)}) DO NOTHING RETURNING id"
    )


MAX_BATCH = 1000

_Waiter: TypeAlias = tuple[NewDelivery, "asyncio.Future[bool]", str | None]
"""A delivery, its request's future, and the request's trace context (None when not traced)."""


class SqlAlchemyInboxWriter:
    """An InboxWriter with group commit: deliveries stored concurrently are written together,
    one statement and one commit per batch (Postgres: ``INSERT … SELECT FROM
    json_to_recordset(…)`` in autocommit; SQLite: a multi-row INSERT in one transaction). One
    batch is written at a time; the deliveries that arrive meanwhile form the next one, so the batch grows with the load and
    a lone delivery waits for no one. Each `store` returns only once its own batch committed.

    A batch that fails because the database is unavailable fails each of its deliveries with
    StorageUnavailableError; one refused for another reason is written again one delivery at a
    time, so that a bad delivery fails alone."""

    def __init__(
        self,
        engine: AsyncEngine,
        pool: Any = None,
        *,
        max_batch: int = MAX_BATCH,
        on_stored: Callable[[], None] | None = None,
        trace_context: Callable[[], str | None] | None = None,
    ) -> None:
        """`pool`: on PostgreSQL, the asyncpg pool on the engine's database (driver_pool.py)
        that the batches are written on; None on SQLite. `on_stored` is called after each batch
        that stored a delivery to process (to wake a worker in the same process).
        `trace_context`, given only while tracing is on, is called in each `store` for the
        storing request's trace context, which is stored with the delivery."""
        if (engine.dialect.name == "postgresql") != (pool is not None):
            raise ValueError("the inbox writer takes a driver pool on PostgreSQL, and only there")
        self._engine = engine
        self._pool = pool
        self._on_stored = on_stored
        self._trace_context = trace_context
        self._postgres_insert = _postgres_batch_insert(traced=trace_context is not None)
        self._max_batch = max_batch
        self._pending: list[_Waiter] = []
        self._flusher: asyncio.Task[None] | None = None

    async def store(self, delivery: NewDelivery) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        trace = self._trace_context
        self._pending.append((delivery, future, None if trace is None else trace()))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_pending())
        return await future

    async def _flush_pending(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: len(batch)]
            try:
                await self._flush(batch)
            finally:
                # Cancelled mid-batch (the loop is closing): nobody may wait forever.
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(
                            StorageUnavailableError("the delivery could not be stored, retry")
                        )

    async def _flush(self, batch: Sequence[_Waiter]) -> None:
        try:
            inserted = await self._insert(batch)
        except Exception as err:
            if len(batch) > 1 and not isinstance(err, StorageUnavailableError):
                for waiter in batch:
                    await self._flush([waiter])
                return
            for _, future, _ in batch:
                if not future.done():
                    future.set_exception(_for_one_waiter(err, alone=len(batch) == 1))
            return
        for delivery, future, _ in batch:
            if not future.done():  # its request may have been cancelled meanwhile
                future.set_result(delivery.id in inserted)
        if inserted and self._on_stored is not None:
            self._on_stored()

    @translated
    async def _insert(self, batch: Sequence[_Waiter]) -> set[str]:
        """Write the batch's deliveries; returns the ids of those that were new."""
        if self._pool is not None:
            document = _rows_document(batch, traced=self._trace_context is not None)
            # asyncpg's pool closes a connection that broke or was cancelled mid-statement
            # rather than hand it out again. One statement commits by itself: no BEGIN and
            # COMMIT round trips around it.
            async with self._pool.acquire() as connection:
                rows = await connection.fetch(self._postgres_insert, document)
            return {row[0] for row in rows}
        async with self._engine.begin() as connection:
            result = await connection.execute(
                _SQLITE_BATCH_INSERT, [_row(d, traceparent) for d, _, traceparent in batch]
            )
            return {row[0] for row in result}


class SqlAlchemyPlatformDeliveries:
    """PlatformDeliveries: one INSERT … ON CONFLICT DO NOTHING per delivery, committed at once
    (they are rare: an agency's installs, a location created)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
        self._insert = (
            dialect.insert(PLATFORM_DELIVERIES)
            .on_conflict_do_nothing(index_elements=["sender", "delivery_id"])
            .returning(PLATFORM_DELIVERIES.c.id)
        )

    @translated
    async def record(self, delivery: PlatformDelivery) -> bool:
        async with self._engine.begin() as connection:
            result = await connection.execute(
                self._insert,
                {
                    "id": delivery.id,
                    "sender": delivery.sender,
                    "delivery_id": delivery.delivery_id,
                    "event_type": delivery.event_type,
                    "kind": delivery.kind.value,
                    "status": DeliveryStatus.IGNORED.value,
                    "signature_scheme": delivery.signature_scheme.value,
                    "payload": delivery.payload,
                    "received_at": delivery.received_at,
                },
            )
            return result.first() is not None


def _rows_document(batch: Sequence[_Waiter], *, traced: bool) -> str:
    """The batch as a JSON array of objects keyed by `_BATCH_COLUMNS`' names (and
    `traceparent` when `traced`)."""
    rows: list[dict[str, Any]] = [
        {
            "id": d.id,
            "integration_id": d.integration_id,
            "sub_account_id": d.sub_account_id,
            "delivery_id": d.delivery_id,
            "event_type": d.event_type,
            "kind": d.kind.value,
            "status": d.status.value,
            "signature_scheme": d.signature_scheme.value,
            "payload": orjson.Fragment(_json_text(d)),
            "last_error": d.last_error,
            "received_at": d.received_at,
        }
        for d, _, _ in batch
    ]
    if traced:
        for row, (_, _, traceparent) in zip(rows, batch, strict=True):
            row["traceparent"] = traceparent
    return orjson.dumps(rows).decode()


def _row(delivery: NewDelivery, traceparent: str | None = None) -> dict[str, Any]:
    settled = delivery.status is not DeliveryStatus.PENDING
    return {
        "id": delivery.id,
        "integration_id": delivery.integration_id,
        "sub_account_id": delivery.sub_account_id,
        "delivery_id": delivery.delivery_id,
        "event_type": delivery.event_type,
        "kind": delivery.kind.value,
        "status": delivery.status.value,
        "signature_scheme": delivery.signature_scheme.value,
        "payload": _exact_payload(delivery),
        "attempts": 0,
        "next_attempt_at": None if settled else delivery.received_at,
        "claimed_until": None,
        "claim_token": None,
        "last_error": delivery.last_error,
        "received_at": delivery.received_at,
        "processed_at": delivery.received_at if settled else None,
        "updated_at": delivery.received_at,
        "traceparent": traceparent,
    }


def _exact_payload(delivery: NewDelivery) -> Any:
    """The payload to store as a JSON value, read by the standard library from the text
    `_json_text` gives, which keeps integers of any size exact (the ingest path's parser reads
    those beyond 64 bits as floats)."""
    return json.loads(_json_text(delivery))


def _json_text(delivery: NewDelivery) -> str:
    """The payload as JSON text: the body it came from when that is a UTF-8 JSON object (no
    second serialization on the hot path), else the payload serialized."""
    if delivery.raw_payload is not None and delivery.raw_payload[:1] == b"{":
        try:
            return delivery.raw_payload.decode()
        except UnicodeDecodeError:
            pass
    return json.dumps(delivery.payload)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number beyond a double's range")
    return value


def _not_a_number(text: str) -> float:
    raise ValueError(f"{text} is not JSON")


def _for_one_waiter(err: Exception, *, alone: bool) -> Exception:
    """The failure to hand one waiter: its own copy when the batch is shared (an exception
    raised in several tasks would collect all their tracebacks)."""
    if alone:
        return err
    copy = StorageUnavailableError("the database is unavailable, try again")
    copy.__cause__ = err.__cause__ or err
    return copy


class SqlAlchemyWebhookTargets:
    """WebhookTargets by the index of owned provider accounts (integration_accounts), its answers
    cached for `cache_seconds` so that a burst of deliveries costs one query. A change (an
    integration switched off, a new secret, a new owner) reaches the ingest path within that
    time; the worker checks that an integration still takes deliveries when it processes them."""

    def __init__(self, engine: AsyncEngine, *, cache_seconds: float = 5.0) -> None:
        self._engine = engine
        self._ttl = cache_seconds
        self._cache: dict[ProviderAccount, tuple[float, tuple[WebhookTarget, ...]]] = {}
        self._loading: dict[ProviderAccount, asyncio.Future[tuple[WebhookTarget, ...]]] = {}
        self._query = (
            select(
                INTEGRATIONS.c.id,
                INTEGRATIONS.c.sub_account_id,
                INTEGRATIONS.c.template_name,
                INTEGRATIONS.c.is_active,
                INTEGRATIONS.c.status,
                INTEGRATIONS.c.config,
                INTEGRATIONS.c.secrets,
            )
            .join(INTEGRATION_ACCOUNTS, INTEGRATION_ACCOUNTS.c.integration_id == INTEGRATIONS.c.id)
            .where(
                INTEGRATION_ACCOUNTS.c.kind == bindparam("kind"),
                INTEGRATION_ACCOUNTS.c.account_id == bindparam("account_id"),
            )
            .order_by(INTEGRATIONS.c.id)
        )

    async def find_owners(self, account: ProviderAccount) -> tuple[WebhookTarget, ...]:
        now = time.monotonic()
        cached = self._cache.get(account)
        if cached is not None and cached[0] > now:
            return cached[1]
        # One query per account at a time: when the entry expires under load, the deliveries
        # in flight wait for it rather than each taking a connection for the same query.
        loading = self._loading.get(account)
        if loading is None:
            loading = asyncio.ensure_future(self._load(account))
            self._loading[account] = loading
            loading.add_done_callback(lambda _: self._loading.pop(account, None))
        owners = await asyncio.shield(loading)
        if self._ttl > 0:
            if len(self._cache) > 10_000:  # unknown accounts must not grow it without bound
                self._cache.clear()
            self._cache[account] = (now + self._ttl, owners)
        return owners

    @translated
    async def _load(self, account: ProviderAccount) -> tuple[WebhookTarget, ...]:
        async with self._engine.connect() as connection:
            result = await connection.execute(
                self._query, {"kind": account.kind, "account_id": account.id}
            )
            return tuple(_target(row) for row in result.all())


def _target(row: AnyRow) -> WebhookTarget:
    secret = row.secrets.get(WEBHOOK_SECRET_FIELD)
    return WebhookTarget(
        integration_id=row.id,
        sub_account_id=row.sub_account_id,
        template_name=row.template_name,
        is_active=row.is_active,
        status=IntegrationStatus(row.status),
        config=row.config,
        webhook_secret=None
        if secret is None
        else EncryptedSecret(token=secret["token"], hint=secret.get("hint", "")),
    )


class SqlAlchemyInbox:
    """The Inbox of one unit of work: its session's transaction, and its seen aggregates (the
    dead-letter events)."""

    def __init__(self, session: AsyncSession, seen: SeenAggregates) -> None:
        self._session = session
        self._seen = seen

    @translated
    async def claim_due(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        exclude: Collection[str] = (),
        per_integration: int | None = None,
    ) -> list[ClaimedDelivery]:
        due = or_(
            and_(T.c.status.in_(_WAITING), T.c.next_attempt_at <= now),
            and_(T.c.status == DeliveryStatus.PROCESSING.value, T.c.claimed_until <= now),
        )
        # Each due delivery's turn within its integration: 1 for the oldest of each, 2 for the
        # second... Taking them by turn, then age, is a round robin across integrations.
        ranked = select(
            T.c.id,
            func.row_number().over(partition_by=T.c.integration_id, order_by=T.c.id).label("turn"),
        ).where(due)
        if exclude:
            ranked = ranked.where(T.c.integration_id.not_in(sorted(exclude)))
        turns = ranked.subquery()
        # `due` again on the locked rows: Postgres re-checks the conditions of the level that
        # locks against a row changed meanwhile, so a row another worker has just claimed is
        # not taken twice.
        picked = (
            select(T.c.id)
            .join(turns, turns.c.id == T.c.id)
            .where(due)
            .order_by(turns.c.turn, T.c.id)
            .limit(limit)
        )
        if per_integration is not None:
            picked = picked.where(turns.c.turn <= per_integration)
        if self._session.get_bind().dialect.name == "postgresql":
            # Concurrent workers skip each other's rows instead of queueing behind them. SQLite
            # has one writer at a time (BEGIN IMMEDIATE), so its UPDATE … RETURNING is atomic.
            picked = picked.with_for_update(skip_locked=True, of=T)
        token = str(uuid.uuid4())
        result = await self._session.execute(
            update(T)
            .where(T.c.id.in_(picked.scalar_subquery()))
            .values(
                status=DeliveryStatus.PROCESSING.value,
                attempts=T.c.attempts + 1,
                claimed_until=now + lease,
                claim_token=token,
                updated_at=now,
            )
            .returning(*_CLAIM_COLUMNS)
        )
        rows = result.all()
        if not rows:
            return []
        states = await self._integration_states({row.integration_id for row in rows})
        turn: dict[str, int] = {}
        claimed = []
        for row in sorted(rows, key=lambda r: r.id):
            turn[row.integration_id] = turn.get(row.integration_id, 0) + 1
            claimed.append((turn[row.integration_id], _claimed(row, states)))
        return [claim for _, claim in sorted(claimed, key=lambda c: (c[0], c[1].id))]

    async def _integration_states(self, ids: set[str]) -> dict[str, tuple[bool, str, str]]:
        """(is_active, status, template) of each integration, as the claim's transaction sees
        them."""
        query = select(
            INTEGRATIONS.c.id,
            INTEGRATIONS.c.is_active,
            INTEGRATIONS.c.status,
            INTEGRATIONS.c.template_name,
        ).where(INTEGRATIONS.c.id.in_(sorted(ids)))
        return {
            row.id: (row.is_active, row.status, row.template_name)
            for row in (await self._session.execute(query)).all()
        }

    async def mark_done(self, claim: ClaimedDelivery, *, now: datetime) -> None:
        await self._settle(claim, DeliveryStatus.DONE, now=now)

    async def mark_ignored(self, claim: ClaimedDelivery, *, now: datetime) -> None:
        await self._settle(claim, DeliveryStatus.IGNORED, now=now)

    async def mark_failed(
        self, claim: ClaimedDelivery, *, error: str, retry_at: datetime, now: datetime
    ) -> None:
        await self._settle(
            claim, DeliveryStatus.FAILED, now=now, last_error=error, next_attempt_at=retry_at
        )

    async def dead_letter(self, claim: ClaimedDelivery, *, error: str, now: datetime) -> None:
        await self._settle(claim, DeliveryStatus.DEAD, now=now, last_error=error)
        self._seen.add(claim.dead_lettered(error=error, now=now))

    async def mark_rejected(self, claim: ClaimedDelivery, *, error: str, now: datetime) -> None:
        await self._settle(claim, DeliveryStatus.REJECTED, now=now, last_error=error)

    @translated
    async def release(
        self, claims: Sequence[ClaimedDelivery], *, now: datetime, due_at: datetime | None = None
    ) -> None:
        for token in {c.claim_token for c in claims}:
            ids = [c.id for c in claims if c.claim_token == token]
            await self._session.execute(
                update(T)
                .where(_held(ids, token))
                .values(
                    status=case(
                        (T.c.attempts <= 1, DeliveryStatus.PENDING.value),
                        else_=DeliveryStatus.FAILED.value,
                    ),
                    attempts=T.c.attempts - 1,
                    next_attempt_at=due_at or now,
                    claimed_until=None,
                    claim_token=None,
                    updated_at=now,
                )
            )

    @translated
    async def get(self, id: str) -> WebhookDeliveryView | None:
        row = (await self._session.execute(select(*_VIEW_COLUMNS).where(T.c.id == id))).first()
        return None if row is None else _view(row)

    @translated
    async def list_page(
        self, filter: DeliveryFilter, page: PageRequest
    ) -> Page[WebhookDeliveryView]:
        query = select(*_VIEW_COLUMNS)
        if filter.sub_account_id is not None:
            query = query.where(T.c.sub_account_id == filter.sub_account_id)
        if filter.integration_id is not None:
            query = query.where(T.c.integration_id == filter.integration_id)
        if filter.statuses:
            query = query.where(T.c.status.in_(sorted(s.value for s in filter.statuses)))
        if filter.event_type is not None:
            query = query.where(T.c.event_type == filter.event_type)
        if filter.kind is not None:
            query = query.where(T.c.kind == filter.kind.value)
        if page.after_id is not None:
            query = query.where(T.c.id > page.after_id)
        rows = (await self._session.execute(query.order_by(T.c.id).limit(page.size + 1))).all()
        items = [_view(row) for row in rows[: page.size]]
        more = len(rows) > page.size and bool(items)
        return Page(items, items[-1].id if more else None)

    @translated
    async def replay(self, id: str, *, now: datetime) -> WebhookDeliveryView:
        current = await self.get(id)
        if current is None:
            raise NotFoundError("webhook delivery", id)
        if current.status not in REPLAYABLE:
            raise InvalidTransitionError(
                f"only dead or rejected deliveries can be replayed; this one is {current.status}",
                metadata={"from": current.status.value, "to": DeliveryStatus.PENDING.value},
            )
        if current.payload_purged:
            raise InvalidTransitionError("the delivery's payload was purged: it cannot be replayed")
        result = await self._session.execute(
            update(T)
            .where((T.c.id == id) & (T.c.status == current.status.value))
            .values(
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                processed_at=None,
                updated_at=now,
            )
        )
        if cast("CursorResult[Any]", result).rowcount != 1:
            raise ConcurrencyError("the delivery changed while it was being replayed")
        replayed = await self.get(id)
        assert replayed is not None
        return replayed

    @translated
    async def purge_payloads(self, *, processed_before: datetime) -> int:
        result = await self._session.execute(
            update(T)
            .where(
                T.c.status.in_(_PURGEABLE),
                T.c.processed_at < processed_before,
                T.c.payload.is_not(None),
            )
            .values(payload=null())
        )
        return int(cast("CursorResult[Any]", result).rowcount)

    @translated
    async def _settle(
        self,
        claim: ClaimedDelivery,
        status: DeliveryStatus,
        *,
        now: datetime,
        last_error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {
            "status": status.value,
            "next_attempt_at": next_attempt_at,
            "claimed_until": None,
            "claim_token": None,
            "updated_at": now,
        }
        if status in _SETTLED:
            values["processed_at"] = now
        if status in _SUCCEEDED:
            values["last_error"] = None  # a replayed or retried delivery that now succeeded
        elif last_error is not None:
            values["last_error"] = last_error
        result = await self._session.execute(
            update(T).where(_held([claim.id], claim.claim_token)).values(values)
        )
        if cast("CursorResult[Any]", result).rowcount != 1:
            raise ClaimLostError(
                f"the claim on delivery {claim.id!r} was lost (its lease ended)",
                metadata={"resource": "webhook delivery", "id": claim.id},
            )


def _held(ids: Sequence[str], token: str) -> ColumnElement[bool]:
    """Rows still under this claim: not re-claimed by another worker after the lease ended."""
    return and_(
        T.c.id.in_(ids),
        T.c.claim_token == token,
        T.c.status == DeliveryStatus.PROCESSING.value,
    )


def _claimed(row: AnyRow, states: dict[str, tuple[bool, str, str]]) -> ClaimedDelivery:
    kind = EventKind(row.kind)
    is_active, status, template_name = states.get(
        row.integration_id, (False, IntegrationStatus.DISCONNECTED, "")
    )
    payload, unreadable = _read_payload(row.payload)
    return ClaimedDelivery(
        id=row.id,
        integration_id=row.integration_id,
        sub_account_id=row.sub_account_id,
        template_name=template_name,
        delivery_id=row.delivery_id,
        event_type=row.event_type,
        kind=kind,
        payload=payload,
        attempts=row.attempts,
        received_at=row.received_at,
        claim_token=row.claim_token,
        claimed_until=row.claimed_until,
        integration_accepts=accepts_deliveries(
            kind, is_active=is_active, status=IntegrationStatus(status)
        ),
        unreadable=unreadable,
        trace_context=row.traceparent,
    )


def _read_payload(text: str | None) -> tuple[dict[str, Any], str | None]:
    """A stored payload (read as text, so that one row that cannot be read fails alone), by the
    standard library, which keeps integers of any size exact; ({}, why) when it cannot be read.
    A purged payload reads as empty."""
    if text is None:
        return {}, None
    try:
        payload = json.loads(text, parse_float=_finite, parse_constant=_not_a_number)
    except (ValueError, RecursionError) as err:  # ValueError: also too many digits for an int
        return {}, f"the stored payload cannot be read: {type(err).__name__}"
    if not isinstance(payload, dict):
        return {}, "the stored payload is not a JSON object"
    return payload, None


def _view(row: AnyRow) -> WebhookDeliveryView:
    status = DeliveryStatus(row.status)
    return WebhookDeliveryView(
        id=row.id,
        integration_id=row.integration_id,
        sub_account_id=row.sub_account_id,
        delivery_id=row.delivery_id,
        event_type=row.event_type,
        kind=EventKind(row.kind),
        status=status,
        signature_scheme=SignatureScheme(row.signature_scheme),
        attempts=row.attempts,
        last_error=row.last_error,
        received_at=row.received_at,
        next_attempt_at=row.next_attempt_at
        if status in (DeliveryStatus.PENDING, DeliveryStatus.FAILED)
        else None,
        processed_at=row.processed_at,
        updated_at=row.updated_at,
        payload_purged=bool(row.payload_purged),
    )
