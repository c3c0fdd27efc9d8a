"""Wrapped data keys in the service's database, each call its own transaction."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.errors import is_unique_violation, translated
from adapters.persistence.mappers import data_key_from_row, data_key_to_row
from adapters.persistence.models import DATA_KEYS
from application.ports import WrappedDataKey
from domain.errors import AlreadyExistsError, NotFoundError


class SqlAlchemyDataKeyStore:
    """A DataKeyStore. Each call commits before it returns, so a data key is durable before
    anything is sealed under it."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory

    @translated
    async def newest(self, sub_account_id: str) -> WrappedDataKey | None:
        keys = await self._read(
            select(DATA_KEYS)
            .where(DATA_KEYS.c.sub_account_id == sub_account_id)
            .order_by(DATA_KEYS.c.created_at.desc(), DATA_KEYS.c.key_id.desc())
            .limit(1)
        )
        return keys[0] if keys else None

    @translated
    async def get(self, key_id: str) -> WrappedDataKey | None:
        keys = await self._read(select(DATA_KEYS).where(DATA_KEYS.c.key_id == key_id))
        return keys[0] if keys else None

    @translated
    async def list_all(self) -> list[WrappedDataKey]:
        return await self._read(
            select(DATA_KEYS).order_by(DATA_KEYS.c.created_at, DATA_KEYS.c.key_id)
        )

    @translated
    async def add(self, key: WrappedDataKey) -> None:
        try:
            await self._write(insert(DATA_KEYS).values(data_key_to_row(key)))
        except IntegrityError as err:
            if is_unique_violation(err):
                raise AlreadyExistsError(
                    f"data key {key.key_id!r} already exists",
                    metadata={"resource": "data key", "id": key.key_id},
                ) from err
            raise

    @translated
    async def rewrap(self, key_id: str, *, wrapped: bytes, master_key_id: str) -> None:
        changed = await self._write(
            update(DATA_KEYS)
            .where(DATA_KEYS.c.key_id == key_id)
            .values(wrapped=wrapped, master_key_id=master_key_id)
        )
        if changed == 0:
            raise NotFoundError("data key", key_id)

    @translated
    async def delete(self, key_id: str) -> None:
        await self._write(delete(DATA_KEYS).where(DATA_KEYS.c.key_id == key_id))

    @translated
    async def delete_sub_account(self, sub_account_id: str) -> int:
        return await self._write(
            delete(DATA_KEYS).where(DATA_KEYS.c.sub_account_id == sub_account_id)
        )

    async def _read(self, query: Executable) -> list[WrappedDataKey]:
        async with self._session_factory() as session:
            rows = (await session.execute(query)).all()
        return [data_key_from_row(row) for row in rows]

    async def _write(self, statement: Executable) -> int:
        """Run one statement in its own transaction; returns how many rows it touched."""
        async with self._session_factory() as session, session.begin():
            result = await session.execute(statement)
            return cast("CursorResult[Any]", result).rowcount
