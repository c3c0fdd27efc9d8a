"""DirectoryService over a real server: admins keep who gets new leads, by the rules of
`integrations directory import`."""

from __future__ import annotations

import grpc

from application.ports import AssignedUser
from integrations.v1 import directory_pb2
from integrations.v1 import directory_service_pb2 as pb
from tests.entrypoints.grpc.conftest import TENANT, admin_md, rejected, user_md
from tests.entrypoints.leads.conftest import Store, Stubs, violated_fields


def user(
    user_id: str, role: str = "user", strategy_id: str = "", position: int | None = None
) -> directory_pb2.DirectoryUser:
    return directory_pb2.DirectoryUser(
        user_id=user_id, role=role, strategy_id=strategy_id, position=position
    )


async def test_an_admin_replaces_a_sub_accounts_users_and_new_leads_follow_them(
    stubs: Stubs, store: Store
) -> None:
    replaced = await stubs.directory.ReplaceDirectoryUsers(
        pb.ReplaceDirectoryUsersRequest(
            sub_account_id=TENANT,
            display_name="Acme Dental",
            directory_users=[
                user("u-owner", role="Admin"),
                user("u-ben", position=5),
                user("u-ana", strategy_id="st-fast"),
            ],
        ),
        metadata=admin_md(),
    )
    listed = await stubs.directory.ListDirectoryUsers(
        pb.ListDirectoryUsersRequest(sub_account_id=TENANT), metadata=admin_md()
    )

    # Positions default to the index in the request; the order is the order of assignment.
    expected = [
        user("u-owner", role="Admin", position=0),
        user("u-ana", strategy_id="st-fast", position=2),
        user("u-ben", position=5),
    ]
    assert list(replaced.directory_users) == expected
    assert list(listed.directory_users) == expected
    assert await store.directory.first_assignable_user(TENANT) == AssignedUser("u-ana", "st-fast")


async def test_replacing_again_keeps_exactly_the_new_users_and_none_removes_them_all(
    stubs: Stubs, store: Store
) -> None:
    async def replace(*users: directory_pb2.DirectoryUser) -> None:
        await stubs.directory.ReplaceDirectoryUsers(
            pb.ReplaceDirectoryUsersRequest(sub_account_id=TENANT, directory_users=users),
            metadata=admin_md(),
        )

    async def listed() -> list[str]:
        reply = await stubs.directory.ListDirectoryUsers(
            pb.ListDirectoryUsersRequest(sub_account_id=TENANT), metadata=admin_md()
        )
        return [u.user_id for u in reply.directory_users]

    await replace(user("u-1"), user("u-2"))
    await replace(user("u-3"))
    after_second = await listed()
    await replace()

    assert after_second == ["u-3"]
    assert await listed() == []
    assert await store.directory.first_assignable_user(TENANT) is None


async def test_every_invalid_user_is_reported_at_once_and_nothing_changes(
    stubs: Stubs, store: Store
) -> None:
    await stubs.directory.ReplaceDirectoryUsers(
        pb.ReplaceDirectoryUsersRequest(sub_account_id=TENANT, directory_users=[user("u-1")]),
        metadata=admin_md(),
    )

    rejection = await rejected(
        stubs.directory.ReplaceDirectoryUsers(
            pb.ReplaceDirectoryUsersRequest(
                sub_account_id=TENANT,
                directory_users=[user("u-2"), user(""), user("u-3", role=""), user("u-2")],
            ),
            metadata=admin_md(),
        )
    )

    assert rejection.code == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(rejection) == [
        "directory_users[1].user_id",
        "directory_users[2].role",
        "directory_users[3].user_id",
    ]
    assert await store.directory.first_assignable_user(TENANT) == AssignedUser("u-1", None)


async def test_the_directory_is_for_admins_only(stubs: Stubs, store: Store) -> None:
    listing = await rejected(
        stubs.directory.ListDirectoryUsers(
            pb.ListDirectoryUsersRequest(sub_account_id=TENANT), metadata=user_md()
        )
    )
    replacing = await rejected(
        stubs.directory.ReplaceDirectoryUsers(
            pb.ReplaceDirectoryUsersRequest(sub_account_id=TENANT, directory_users=[user("u-1")]),
            metadata=user_md(),
        )
    )

    assert listing.code == replacing.code == grpc.StatusCode.PERMISSION_DENIED
    assert await store.directory.first_assignable_user(TENANT) is None


async def test_an_unknown_sub_account_has_no_users_and_a_missing_id_is_invalid(
    stubs: Stubs, store: Store
) -> None:
    unknown = await stubs.directory.ListDirectoryUsers(
        pb.ListDirectoryUsersRequest(sub_account_id="sub-nobody-knows"), metadata=admin_md()
    )
    missing = await rejected(
        stubs.directory.ListDirectoryUsers(pb.ListDirectoryUsersRequest(), metadata=admin_md())
    )

    assert list(unknown.directory_users) == []
    assert missing.code == grpc.StatusCode.INVALID_ARGUMENT
    assert violated_fields(missing) == ["sub_account_id"]
