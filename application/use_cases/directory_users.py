"""ListDirectoryUsers and ReplaceDirectoryUsers: admins keep the tenant directory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from application.access import require_admin
from application.directory import (
    DirectorySubAccount,
    DirectoryUser,
    TenantDirectoryAdmin,
    parse_id,
    parse_users,
)
from domain.errors import FieldViolation, InvalidArgumentError
from domain.values import Principal


@dataclass(frozen=True, slots=True, kw_only=True)
class ListDirectoryUsersQuery:
    actor: Principal
    sub_account_id: str


class ListDirectoryUsers:
    """Rules: admins only; the users in the order leads are assigned in (by position, then id),
    admins included; none for a sub-account the directory does not know."""

    def __init__(self, *, directory: TenantDirectoryAdmin) -> None:
        self._directory = directory

    async def execute(self, query: ListDirectoryUsersQuery) -> tuple[DirectoryUser, ...]:
        require_admin(query.actor, "reading the tenant directory")
        _check_sub_account_id(query.sub_account_id)
        sub_account = await self._directory.sub_account(query.sub_account_id)
        return () if sub_account is None else sub_account.in_assignment_order()


@dataclass(frozen=True, slots=True, kw_only=True)
class NewDirectoryUser:
    """A user as an admin gives it; None takes the directory file's default."""

    id: str
    role: str
    strategy_id: str | None = None
    position: int | None = None
    """None: the user's index in the list."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplaceDirectoryUsersCommand:
    actor: Principal
    sub_account_id: str
    users: Sequence[NewDirectoryUser] = field(default_factory=tuple)
    name: str | None = None
    """None: the sub-account's id."""


class ReplaceDirectoryUsers:
    """Rules: admins only; the rules of the directory file (application.directory): ids of at
    most 128 characters, unique users, a role each, `admin` never getting leads; every
    violation is reported at once and then nothing is written; the sub-account is replaced
    whole, the others are untouched."""

    def __init__(self, *, directory: TenantDirectoryAdmin) -> None:
        self._directory = directory

    async def execute(self, cmd: ReplaceDirectoryUsersCommand) -> tuple[DirectoryUser, ...]:
        require_admin(cmd.actor, "changing the tenant directory")
        violations: list[FieldViolation] = []
        sub_account_id = parse_id(cmd.sub_account_id, "sub_account_id", violations)
        users = parse_users([_document(u) for u in cmd.users], "users", violations)
        if violations or sub_account_id is None:
            raise InvalidArgumentError("the directory users are not valid", tuple(violations))
        sub_account = DirectorySubAccount(sub_account_id, cmd.name or sub_account_id, users)
        await self._directory.replace([sub_account])
        return sub_account.in_assignment_order()


def _check_sub_account_id(sub_account_id: str) -> None:
    violations: list[FieldViolation] = []
    if parse_id(sub_account_id, "sub_account_id", violations) is None:
        raise InvalidArgumentError("the sub-account id is not valid", tuple(violations))


def _document(user: NewDirectoryUser) -> dict[str, Any]:
    """The user in the directory file's shape, so that the file's rules apply unchanged."""
    document: dict[str, Any] = {"id": user.id, "role": user.role, "strategy_id": user.strategy_id}
    if user.position is not None:
        document["position"] = user.position
    return document
