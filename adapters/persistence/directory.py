"""The tenant directory in this service's database, and its import file.

``integrations directory import FILE.json`` loads a file of this shape::

    {
      "sub_accounts": [
        {
          "id": "sa-1",
          "name": "Acme Dental",
          "users": [
            {"id": "u-owner", "role": "admin"},
            {"id": "u-ana", "role": "user", "strategy_id": "strategy-fast-follow-up"},
            {"id": "u-ben", "role": "user", "strategy_id": null, "position": 5}
          ]
        }
      ]
    }

- ``id`` (sub-account and user): required strings of at most 128 characters; user ids are
  unique within their sub-account. ``name`` is optional (default: the id).
- ``role``: required; any word, ``admin`` (in any case) marking the users who never get leads.
- ``strategy_id``: optional, the sales strategy the user follows (a new lead gets it).
- ``position``: optional integer, default the user's index in the list. Leads go to the first
  non-admin user by position, then by id.

Each sub-account in the file is replaced whole: afterwards it has exactly the users listed.
Sub-accounts the file does not mention are left as they are. The import is one transaction.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.clock import SystemClock
from adapters.persistence.errors import translated
from adapters.persistence.models import DIRECTORY_SUB_ACCOUNTS, DIRECTORY_USERS
from application.ports import AssignedUser, Clock
from domain.errors import FieldViolation, InvalidArgumentError

ADMIN_ROLE = "admin"
_ID_MAX = 128
_ROLE_MAX = 32


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    id: str
    role: str
    strategy_id: str | None
    position: int


@dataclass(frozen=True, slots=True)
class DirectorySubAccount:
    id: str
    name: str
    users: tuple[DirectoryUser, ...]


@dataclass(frozen=True, slots=True)
class DirectoryImportSummary:
    sub_accounts: int
    users: int


class SqlAlchemyTenantDirectory:
    """A TenantDirectory on this service's tables; each call is its own short transaction."""

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
    """Load a directory file (the format above) into `directory`. Raises InvalidArgumentError
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


def parse_directory(document: object) -> list[DirectorySubAccount]:
    """The sub-accounts of a directory document; InvalidArgumentError lists every violation."""
    violations: list[FieldViolation] = []
    raw = document.get("sub_accounts") if isinstance(document, Mapping) else None
    if not isinstance(raw, list):
        raise InvalidArgumentError(
            "the directory is not valid",
            (FieldViolation("sub_accounts", "must be a list of sub-accounts"),),
        )
    result: list[DirectorySubAccount] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        where = f"sub_accounts[{index}]"
        if not isinstance(item, Mapping):
            violations.append(FieldViolation(where, "must be an object"))
            continue
        sub_id = _id(item.get("id"), f"{where}.id", violations)
        if sub_id is not None and sub_id in seen:
            violations.append(FieldViolation(f"{where}.id", "appears twice"))
        name = item.get("name", sub_id or "")
        if not isinstance(name, str):
            violations.append(FieldViolation(f"{where}.name", "must be a string"))
        users = _users(item.get("users", []), f"{where}.users", violations)
        if sub_id is not None and isinstance(name, str):
            seen.add(sub_id)
            result.append(DirectorySubAccount(sub_id, name, users))
    if violations:
        raise InvalidArgumentError("the directory is not valid", tuple(violations))
    return result


def _users(raw: Any, where: str, violations: list[FieldViolation]) -> tuple[DirectoryUser, ...]:
    if not isinstance(raw, list):
        violations.append(FieldViolation(where, "must be a list of users"))
        return ()
    users: list[DirectoryUser] = []
    ids: set[str] = set()
    for index, item in enumerate(raw):
        at = f"{where}[{index}]"
        if not isinstance(item, Mapping):
            violations.append(FieldViolation(at, "must be an object"))
            continue
        user_id = _id(item.get("id"), f"{at}.id", violations)
        role = item.get("role")
        if not isinstance(role, str) or not role.strip() or len(role) > _ROLE_MAX:
            violations.append(
                FieldViolation(f"{at}.role", f"is required, at most {_ROLE_MAX} characters")
            )
            role = None
        strategy = item.get("strategy_id")
        if strategy is not None and _id(strategy, f"{at}.strategy_id", violations) is None:
            strategy = None
        position = item.get("position", index)
        if not isinstance(position, int) or isinstance(position, bool):
            violations.append(FieldViolation(f"{at}.position", "must be an integer"))
            position = None
        if user_id is not None and user_id in ids:
            violations.append(FieldViolation(f"{at}.id", "appears twice in this sub-account"))
            continue
        if user_id is not None and role is not None and position is not None:
            ids.add(user_id)
            users.append(DirectoryUser(user_id, role.strip(), strategy, position))
    return tuple(users)


def _id(value: Any, where: str, violations: list[FieldViolation]) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > _ID_MAX:
        violations.append(FieldViolation(where, f"is required, at most {_ID_MAX} characters"))
        return None
    return value


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
