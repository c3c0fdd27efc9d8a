"""SqlAlchemyTenantDirectory and its import file (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.persistence.directory import (
    SqlAlchemyTenantDirectory,
    import_directory_file,
    parse_directory,
)
from application.ports import AssignedUser
from domain.errors import InvalidArgumentError

DOCUMENT: dict[str, Any] = {
    "sub_accounts": [
        {
            "id": "sa-1",
            "name": "Acme Dental",
            "users": [
                {"id": "u-owner", "role": "admin", "strategy_id": "st-admin"},
                {"id": "u-ben", "role": "user", "strategy_id": None, "position": 5},
                {"id": "u-ana", "role": "user", "strategy_id": "st-fast"},
            ],
        },
        {"id": "sa-2", "users": [{"id": "u-only-admin", "role": "Admin"}]},
    ]
}


@pytest.fixture
def directory(session_factory: async_sessionmaker[AsyncSession]) -> SqlAlchemyTenantDirectory:
    return SqlAlchemyTenantDirectory(session_factory)


async def test_a_lead_goes_to_the_first_non_admin_user_and_their_strategy(
    directory: SqlAlchemyTenantDirectory, tmp_path: Path
) -> None:
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(DOCUMENT))

    summary = await import_directory_file(directory, path)

    assert (summary.sub_accounts, summary.users) == (2, 4)
    assert await directory.first_assignable_user("sa-1") == AssignedUser("u-ana", "st-fast")
    assert await directory.first_assignable_user("sa-2") is None  # admins only, in any case
    assert await directory.first_assignable_user("sa-unknown") is None


async def test_users_at_the_same_position_are_ordered_by_id(
    directory: SqlAlchemyTenantDirectory,
) -> None:
    users = [
        {"id": "u-zed", "role": "user", "position": 1},
        {"id": "u-amy", "role": "user", "position": 1, "strategy_id": "st-1"},
    ]

    await directory.replace(parse_directory({"sub_accounts": [{"id": "sa-1", "users": users}]}))

    assert await directory.first_assignable_user("sa-1") == AssignedUser("u-amy", "st-1")


async def test_importing_a_sub_account_again_replaces_its_users_and_keeps_the_others(
    directory: SqlAlchemyTenantDirectory,
) -> None:
    await directory.replace(parse_directory(DOCUMENT))

    await directory.replace(
        parse_directory(
            {"sub_accounts": [{"id": "sa-1", "users": [{"id": "u-new", "role": "user"}]}]}
        )
    )

    assert await directory.first_assignable_user("sa-1") == AssignedUser("u-new", None)
    await directory.replace(
        parse_directory({"sub_accounts": [{"id": "sa-2", "users": [{"id": "u-2", "role": "rep"}]}]})
    )
    assert await directory.first_assignable_user("sa-1") == AssignedUser("u-new", None)


def test_a_malformed_directory_lists_every_problem_before_anything_is_written() -> None:
    document = {
        "sub_accounts": [
            {"id": "", "users": []},
            {
                "id": "sa-1",
                "users": [
                    {"id": "u-1", "role": "user"},
                    {"id": "u-1", "role": "user"},
                    {"id": "u-2"},
                    {"id": "u-3", "role": "user", "position": "first"},
                ],
            },
            "not an object",
        ]
    }

    with pytest.raises(InvalidArgumentError) as caught:
        parse_directory(document)

    assert [v.field for v in caught.value.violations] == [
        "sub_accounts[0].id",
        "sub_accounts[1].users[1].id",
        "sub_accounts[1].users[2].role",
        "sub_accounts[1].users[3].position",
        "sub_accounts[2]",
    ]


async def test_a_file_that_is_not_json_is_refused(
    directory: SqlAlchemyTenantDirectory, tmp_path: Path
) -> None:
    path = tmp_path / "directory.json"
    path.write_text("{not json")

    with pytest.raises(InvalidArgumentError, match="cannot read"):
        await import_directory_file(directory, path)
