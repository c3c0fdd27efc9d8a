"""The tenant directory in this service's database, and its import file (the format and its
rules: application.directory)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.clock import SystemClock
from adapters.persistence.errors import translated
from adapters.persistence.models import DIRECTORY_SUB_ACCOUNTS, DIRECTORY_USERS
from application.directory import (
    ADMIN_ROLE,
    DirectoryImportSummary,
    DirectorySubAccount,
    DirectoryUser,
    parse_directory,
)
from application.ports import AssignedUser, Clock
from domain.errors import FieldViolation, InvalidArgumentError


class SqlAlchemyTenantDirectory:
    """A TenantDirectory and TenantDirectoryAdmin on this service's tables; each call is its own
    short transaction."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], *, clock: Clock | None = None
    ) -> None:
        self._session_factory = session_factory
        self._clock = clock or SystemClock()

    @translated
    async def first_assignable_user(self, sub_account_id: str) -> AssignedUser | None:
        users = DIRECTORY_USERS.c
        query = (
            select(users.user_id, users.strategy_id)
            .where(
                (users.sub_account_id == sub_account_id) & (func.lower(users.role) != ADMIN_ROLE)
            )
            .order_by(users.position, users.user_id)
            .limit(1)
        )
        async with self._session_factory() as session:
            row = (await session.execute(query)).first()
        return None if row is None else AssignedUser(row.user_id, row.strategy_id)

    @translated
    async def sub_account(self, sub_account_id: str) -> DirectorySubAccount | None:
        users = DIRECTORY_USERS.c
        async with self._session_factory() as session:
            name = (
                await session.execute(
                    select(DIRECTORY_SUB_ACCOUNTS.c.name).where(
                        DIRECTORY_SUB_ACCOUNTS.c.id == sub_account_id
                    )
                )
            ).scalar_one_or_none()
            if name is None:
                return None
            rows = (
                await session.execute(
                    select(users.user_id, users.role, users.strategy_id, users.position)
                    .where(users.sub_account_id == sub_account_id)
                    .order_by(users.position, users.user_id)
                )
            ).all()
        return DirectorySubAccount(
            sub_account_id,
            name,
            tuple(DirectoryUser(r.user_id, r.role, r.strategy_id, r.position) for r in rows),
        )

    @translated
    async def replace(self, sub_accounts: Sequence[DirectorySubAccount]) -> DirectoryImportSummary:
        """Store each sub-account with exactly its users, in one transaction."""
        now = self._clock.now()
        async with self._session_factory() as session, session.begin():
            for sub_account in sub_accounts:
                await _replace_one(session, sub_account, now)
        return DirectoryImportSummary(
            sub_accounts=len(sub_accounts), users=sum(len(s.users) for s in sub_accounts)
        )


async def import_directory_file(
    directory: SqlAlchemyTenantDirectory, path: Path
) -> DirectoryImportSummary:
    """Load a directory file (application.directory's format) into `directory`. Raises InvalidArgumentError
    listing every problem of the file, before anything is written."""
    return await directory.replace(await asyncio.to_thread(read_directory_file, path))


def read_directory_file(path: Path) -> list[DirectorySubAccount]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InvalidArgumentError(
            f"cannot read the directory file {path.name!r}",
            (FieldViolation("file", type(err).__name__),),
        ) from err
    return parse_directory(document)


async def _replace_one(
    session: AsyncSession, sub_account: DirectorySubAccount, now: datetime
) -> None:
    await session.execute(
        delete(DIRECTORY_USERS).where(DIRECTORY_USERS.c.sub_account_id == sub_account.id)
    )
    await session.execute(
        delete(DIRECTORY_SUB_ACCOUNTS).where(DIRECTORY_SUB_ACCOUNTS.c.id == sub_account.id)
    )
    await session.execute(
        insert(DIRECTORY_SUB_ACCOUNTS).values(
            id=sub_account.id, name=sub_account.name, updated_at=now
        )
    )
    if sub_account.users:
        await session.execute(
            insert(DIRECTORY_USERS),
            [
                {
                    "sub_account_id": sub_account.id,
                    "user_id": user.id,
                    "role": user.role,
                    "strategy_id": user.strategy_id,
                    "position": user.position,
                }
                for user in sub_account.users
            ],
        )
