"""In-memory fakes of the application ports, for unit tests of the domain and use cases."""

from __future__ import annotations

import base64
import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self

from application.ports import (
    ConnectionTestResult,
    IntegrationFilter,
    IntegrationProvider,
    Page,
    PageRequest,
    ProviderContext,
    SecretBinding,
    WrappedDataKey,
)
from domain.aggregate import Aggregate
from domain.errors import AlreadyExistsError, ConcurrencyError, SecretUnreadableError
from domain.events import DomainEvent
from domain.integration import Integration
from domain.template import IntegrationTemplate
from domain.values import EncryptedSecret, SecretStr


class FixedClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


class SequentialIds:
    def __init__(self, prefix: str = "id") -> None:
        self._counter = itertools.count(1)
        self._prefix = prefix

    def new_id(self) -> str:
        return f"{self._prefix}-{next(self._counter):06d}"


@dataclass
class _Store:
    """The 'database' shared by every FakeUnitOfWork of one factory."""

    templates: dict[str, IntegrationTemplate] = field(default_factory=dict)
    integrations: dict[str, Integration] = field(default_factory=dict)
    request_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    outbox: list[DomainEvent] = field(default_factory=list)


def _page(items: list[Any], page: PageRequest) -> Page[Any]:
    items = sorted(items, key=lambda a: a.id)
    if page.after_id is not None:
        items = [a for a in items if a.id > page.after_id]
    more = len(items) > page.size
    items = items[: page.size]
    return Page(items, items[-1].id if more and items else None)


class _Repository:
    """Copy-on-read, copy-on-write storage with version checks, like a real database row."""

    def __init__(self, rows: dict[str, Any], seen: set[Aggregate]) -> None:
        self._rows = rows
        self._pending: dict[str, Any] = {}
        self._deleted: set[str] = set()
        self.seen = seen

    def _load(self, key: str) -> Any:
        if key in self._deleted:
            return None
        row = self._pending.get(key) or self._rows.get(key)
        if row is None:
            return None
        aggregate = copy.deepcopy(row)
        aggregate.pull_events()
        self.seen.add(aggregate)
        return aggregate

    def _stored_version(self, key: str) -> int | None:
        row = self._pending.get(key) or self._rows.get(key)
        return None if row is None or key in self._deleted else int(row.version)

    def _write(self, aggregate: Any) -> None:
        if self._stored_version(aggregate.id) != aggregate.version:
            raise ConcurrencyError("stale version")
        aggregate.version += 1
        self._pending[aggregate.id] = copy.deepcopy(aggregate)
        self.seen.add(aggregate)

    def _all(self) -> list[Any]:
        merged = {**self._rows, **self._pending}
        return [copy.deepcopy(v) for k, v in merged.items() if k not in self._deleted]

    def flush(self) -> None:
        self._rows.update(self._pending)
        for key in self._deleted:
            self._rows.pop(key, None)


class InMemoryTemplateRepository(_Repository):
    async def get(self, template_id: str) -> IntegrationTemplate | None:
        return self._load(template_id)  # type: ignore[no-any-return]

    async def get_by_name(self, name: str) -> IntegrationTemplate | None:
        for t in self._all():
            if t.name == name:
                return self._load(t.id)  # type: ignore[no-any-return]
        return None

    async def list_page(
        self, page: PageRequest, *, include_inactive: bool
    ) -> Page[IntegrationTemplate]:
        return _page([t for t in self._all() if include_inactive or t.is_active], page)

    async def add(self, template: IntegrationTemplate) -> None:
        if any(t.name == template.name for t in self._all()):
            raise AlreadyExistsError(f"template {template.name!r} already exists")
        self._pending[template.id] = copy.deepcopy(template)
        self.seen.add(template)

    async def update(self, template: IntegrationTemplate) -> None:
        self._write(template)


class InMemoryIntegrationRepository(_Repository):
    def __init__(
        self, rows: dict[str, Any], seen: set[Aggregate], request_ids: dict[tuple[str, str], str]
    ) -> None:
        super().__init__(rows, seen)
        self._request_ids = request_ids
        self._new_request_ids: dict[tuple[str, str], str] = {}

    async def get(self, integration_id: str) -> Integration | None:
        return self._load(integration_id)  # type: ignore[no-any-return]

    async def list_page(self, filter: IntegrationFilter, page: PageRequest) -> Page[Integration]:
        def keep(i: Integration) -> bool:
            return (
                (filter.sub_account_id is None or i.sub_account_id == filter.sub_account_id)
                and (not filter.statuses or i.status in filter.statuses)
                and (filter.template_name is None or i.template_name == filter.template_name)
            )

        return _page([i for i in self._all() if keep(i)], page)

    async def list_sub_account_ids(self) -> list[str]:
        return sorted({i.sub_account_id for i in self._all()})

    async def add(self, integration: Integration, *, request_id: str | None = None) -> None:
        if request_id is not None:
            key = (integration.sub_account_id, request_id)
            if key in self._request_ids or key in self._new_request_ids:
                raise AlreadyExistsError("request id already used")
            self._new_request_ids[key] = integration.id
        self._pending[integration.id] = copy.deepcopy(integration)
        self.seen.add(integration)

    async def update(self, integration: Integration) -> None:
        self._write(integration)

    async def delete(self, integration: Integration) -> None:
        if self._stored_version(integration.id) != integration.version:
            raise ConcurrencyError("stale version")
        self._deleted.add(integration.id)
        self.seen.add(integration)

    async def find_by_request_id(self, sub_account_id: str, request_id: str) -> Integration | None:
        key = (sub_account_id, request_id)
        integration_id = self._new_request_ids.get(key) or self._request_ids.get(key)
        return None if integration_id is None else await self.get(integration_id)

    def flush(self) -> None:
        super().flush()
        self._request_ids.update(self._new_request_ids)


class FakeUnitOfWork:
    def __init__(self, store: _Store, on_commit: Callable[[], None] | None = None) -> None:
        self._store = store
        self._seen: set[Aggregate] = set()
        self.templates = InMemoryTemplateRepository(store.templates, self._seen)
        self.integrations = InMemoryIntegrationRepository(
            store.integrations, self._seen, store.request_ids
        )
        self.committed = False
        self._on_commit = on_commit

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def commit(self) -> None:
        if self._on_commit is not None:
            self._on_commit()
        for aggregate in self._seen:
            self._store.outbox.extend(aggregate.pull_events())
        self.templates.flush()
        self.integrations.flush()
        self.committed = True

    async def rollback(self) -> None:
        return None


class FakeUnitOfWorkFactory:
    """Makes FakeUnitOfWorks over one shared in-memory store; records every commit."""

    def __init__(self) -> None:
        self.store = _Store()
        self.commits = 0

    def __call__(self) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store, on_commit=self._count)

    def _count(self) -> None:
        self.commits += 1

    @property
    def outbox(self) -> list[DomainEvent]:
        return self.store.outbox


class FakeCipher:
    """A reversible stand-in that still enforces the binding, like the AEAD associated data."""

    key_id = "fake-key"

    async def encrypt(self, binding: SecretBinding, plaintext: SecretStr) -> EncryptedSecret:
        raw = f"{binding.sub_account_id}|{binding.integration_id}|{binding.field}|{plaintext.reveal()}"
        payload = base64.urlsafe_b64encode(raw.encode()).decode()
        return EncryptedSecret(token=f"v1.{self.key_id}.{payload}", hint=plaintext.hint())

    async def decrypt(self, binding: SecretBinding, secret: EncryptedSecret) -> SecretStr:
        raw = base64.urlsafe_b64decode(secret.token.split(".", 2)[2]).decode()
        sub, integration, name, value = raw.split("|", 3)
        if (sub, integration, name) != (
            binding.sub_account_id,
            binding.integration_id,
            binding.field,
        ):
            raise SecretUnreadableError("secret is bound to another integration or field")
        return SecretStr(value)

    async def needs_reencryption(self, sub_account_id: str, secret: EncryptedSecret) -> bool:
        return secret.key_id != self.key_id


class InMemoryDataKeyStore:
    def __init__(self) -> None:
        self.keys: dict[str, WrappedDataKey] = {}

    async def newest(self, sub_account_id: str) -> WrappedDataKey | None:
        mine = [k for k in self.keys.values() if k.sub_account_id == sub_account_id]
        return max(mine, key=lambda k: (k.created_at, k.key_id), default=None)

    async def get(self, key_id: str) -> WrappedDataKey | None:
        return self.keys.get(key_id)

    async def add(self, key: WrappedDataKey) -> None:
        self.keys[key.key_id] = key

    async def list_all(self) -> list[WrappedDataKey]:
        return list(self.keys.values())

    async def rewrap(self, key_id: str, *, wrapped: bytes, master_key_id: str) -> None:
        old = self.keys[key_id]
        self.keys[key_id] = WrappedDataKey(
            key_id, old.sub_account_id, wrapped, master_key_id, old.created_at
        )

    async def delete(self, key_id: str) -> None:
        self.keys.pop(key_id, None)

    async def delete_sub_account(self, sub_account_id: str) -> int:
        doomed = [k for k, v in self.keys.items() if v.sub_account_id == sub_account_id]
        for key_id in doomed:
            del self.keys[key_id]
        return len(doomed)


class FakeProvider:
    """Answers connection tests with a scripted result and records what it was given."""

    def __init__(self, result: ConnectionTestResult | None = None) -> None:
        self.result = result or ConnectionTestResult(
            success=True, message="connected", details={"account_name": "Acme"}
        )
        self.calls: list[ProviderContext] = []

    async def test_connection(self, ctx: ProviderContext) -> ConnectionTestResult:
        self.calls.append(ctx)
        return self.result


class FakeProviderRegistry:
    def __init__(self, providers: dict[str, IntegrationProvider] | None = None) -> None:
        self.providers = dict(providers or {})

    def get(self, template_name: str) -> IntegrationProvider | None:
        return self.providers.get(template_name)
