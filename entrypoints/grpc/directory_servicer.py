"""DirectoryService: the tenant directory (who gets new leads) over gRPC, for admins."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from application.directory import DirectoryUser
from application.use_cases.directory_users import (
    ListDirectoryUsers,
    ListDirectoryUsersQuery,
    NewDirectoryUser,
    ReplaceDirectoryUsers,
    ReplaceDirectoryUsersCommand,
)
from domain.errors import FieldViolation, InvalidArgumentError
from entrypoints.grpc.interceptors import current_principal
from integrations.v1 import directory_pb2, directory_service_pb2
from integrations.v1 import directory_service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

# A user's field path in the use case's terms (`users[2].id`), to be named as in the request.
_USER_FIELD = re.compile(r"users(\[\d+\])(?:\.(\w+))?")


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectoryUseCases:
    """Every use case DirectoryService calls, built by the composition root."""

    list_users: ListDirectoryUsers
    replace_users: ReplaceDirectoryUsers


class DirectoryServiceServicer(pb_grpc.DirectoryServiceServicer):
    """Thin, like IntegrationServiceServicer: the interceptors authenticate and map errors."""

    def __init__(self, use_cases: DirectoryUseCases) -> None:
        self._uc = use_cases

    async def ListDirectoryUsers(
        self, request: directory_service_pb2.ListDirectoryUsersRequest, context: Context
    ) -> directory_service_pb2.ListDirectoryUsersResponse:
        users = await self._uc.list_users.execute(
            ListDirectoryUsersQuery(
                actor=current_principal(), sub_account_id=request.sub_account_id
            )
        )
        return directory_service_pb2.ListDirectoryUsersResponse(directory_users=_protos(users))

    async def ReplaceDirectoryUsers(
        self, request: directory_service_pb2.ReplaceDirectoryUsersRequest, context: Context
    ) -> directory_service_pb2.ReplaceDirectoryUsersResponse:
        command = ReplaceDirectoryUsersCommand(
            actor=current_principal(),
            sub_account_id=request.sub_account_id,
            users=[
                NewDirectoryUser(
                    id=user.user_id,
                    role=user.role,
                    strategy_id=user.strategy_id or None,
                    position=user.position if user.HasField("position") else None,
                )
                for user in request.directory_users
            ],
            name=request.display_name or None,
        )
        with _request_field_paths():
            users = await self._uc.replace_users.execute(command)
        return directory_service_pb2.ReplaceDirectoryUsersResponse(directory_users=_protos(users))


@contextmanager
def _request_field_paths() -> Iterator[None]:
    """Name the users' invalid fields as the request does: `users[2].id` becomes
    `directory_users[2].user_id`."""
    try:
        yield
    except InvalidArgumentError as err:
        err.violations = tuple(
            FieldViolation(_request_path(v.field), v.description) for v in err.violations
        )
        raise


def _request_path(field: str) -> str:
    match = _USER_FIELD.fullmatch(field)
    if match is None:
        return field
    index, name = match.groups()
    suffix = "" if name is None else "." + ("user_id" if name == "id" else name)
    return f"directory_users{index}{suffix}"


def _protos(users: Iterable[DirectoryUser]) -> list[directory_pb2.DirectoryUser]:
    return [
        directory_pb2.DirectoryUser(
            user_id=user.id,
            role=user.role,
            strategy_id=user.strategy_id or "",
            position=user.position,
        )
        for user in users
    ]
