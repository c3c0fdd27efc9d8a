"""The tenant directory as admins keep it: its entries, their rules, and the port that stores them.

A directory document (``integrations directory import FILE.json``) has this shape::

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

Each sub-account given is replaced whole: afterwards it has exactly the users listed.
Sub-accounts not mentioned are left as they are. A replacement is one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

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

    def in_assignment_order(self) -> tuple[DirectoryUser, ...]:
        """The users in the order new leads look for their user: by position, then id."""
        return tuple(sorted(self.users, key=lambda u: (u.position, u.id)))


@dataclass(frozen=True, slots=True)
class DirectoryImportSummary:
    sub_accounts: int
    users: int


class TenantDirectoryAdmin(Protocol):
    """Keeps the tenant directory (the lead-assignment side is ports.TenantDirectory)."""

    async def sub_account(self, sub_account_id: str) -> DirectorySubAccount | None:
        """The sub-account with every one of its users, or None if the directory has none."""
        ...

    async def replace(self, sub_accounts: Sequence[DirectorySubAccount]) -> DirectoryImportSummary:
        """Store each sub-account with exactly its users, in one transaction."""
        ...


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
        sub_id = parse_id(item.get("id"), f"{where}.id", violations)
        if sub_id is not None and sub_id in seen:
            violations.append(FieldViolation(f"{where}.id", "appears twice"))
        name = item.get("name", sub_id or "")
        if not isinstance(name, str):
            violations.append(FieldViolation(f"{where}.name", "must be a string"))
        users = parse_users(item.get("users", []), f"{where}.users", violations)
        if sub_id is not None and isinstance(name, str):
            seen.add(sub_id)
            result.append(DirectorySubAccount(sub_id, name, users))
    if violations:
        raise InvalidArgumentError("the directory is not valid", tuple(violations))
    return result


def parse_users(
    raw: Any, where: str, violations: list[FieldViolation]
) -> tuple[DirectoryUser, ...]:
    """The users of one sub-account in the document's shape; problems go to `violations`, with
    field paths under `where`."""
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
        user_id = parse_id(item.get("id"), f"{at}.id", violations)
        role = item.get("role")
        if not isinstance(role, str) or not role.strip() or len(role) > _ROLE_MAX:
            violations.append(
                FieldViolation(f"{at}.role", f"is required, at most {_ROLE_MAX} characters")
            )
            role = None
        strategy = item.get("strategy_id")
        if strategy is not None and parse_id(strategy, f"{at}.strategy_id", violations) is None:
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


def parse_id(value: Any, where: str, violations: list[FieldViolation]) -> str | None:
    """A sub-account, user or strategy id: a non-blank string of at most 128 characters."""
    if not isinstance(value, str) or not value.strip() or len(value) > _ID_MAX:
        violations.append(FieldViolation(where, f"is required, at most {_ID_MAX} characters"))
        return None
    return value
