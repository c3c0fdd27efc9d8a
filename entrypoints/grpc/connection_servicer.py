"""ConnectionService: connecting an account by signing in at the provider (OAuth 2.0)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc

from application.use_cases.choose_connection_accounts import (
    ChooseConnectionAccounts,
    ChooseConnectionAccountsCommand,
)
from application.use_cases.get_connection_session import GetConnectionSession
from application.use_cases.start_connection import StartConnection, StartConnectionCommand
from domain.connection_session import ConnectionSession, SessionStatus
from entrypoints.grpc import mappers
from entrypoints.grpc.interceptors import current_principal
from integrations.v1 import connection_pb2, connection_service_pb2
from integrations.v1 import connection_service_pb2_grpc as pb_grpc

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

SESSIONS = "connectionSessions/"
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")

State = connection_pb2.ConnectionSession.State
STATES: Mapping[SessionStatus, State.ValueType] = {
    SessionStatus.PENDING: State.STATE_PENDING,
    SessionStatus.EXCHANGING: State.STATE_EXCHANGING,
    SessionStatus.CHOOSING: State.STATE_CHOOSING,
    SessionStatus.CONNECTED: State.STATE_CONNECTED,
    SessionStatus.FAILED: State.STATE_FAILED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionUseCases:
    """Every use case ConnectionService calls, built by the composition root."""

    start: StartConnection
    get: GetConnectionSession
    choose: ChooseConnectionAccounts


class ConnectionServiceServicer(pb_grpc.ConnectionServiceServicer):
    """Thin, like the other servicers: the interceptors authenticate and map errors."""

    def __init__(self, use_cases: ConnectionUseCases) -> None:
        self._uc = use_cases

    async def StartConnection(
        self, request: connection_service_pb2.StartConnectionRequest, context: Context
    ) -> connection_service_pb2.StartConnectionResponse:
        integration_id = (
            mappers.integration_id_of(request.integration, field="integration")
            if request.integration
            else None
        )
        template = request.template
        if template.startswith(mappers.TEMPLATES):
            template = mappers.template_id_of(template, field="template")
        elif not template:
            raise mappers.invalid("template", "is required")
        started = await self._uc.start.execute(
            StartConnectionCommand(
                actor=current_principal(),
                sub_account_id=request.sub_account_id,
                template=template,
                display_name=request.display_name,
                return_url=request.return_url,
                integration_id=integration_id,
                account_ids=tuple(request.account_ids),
                config=mappers.struct_to_dict(request.config),
            )
        )
        return connection_service_pb2.StartConnectionResponse(
            authorization_url=started.authorization_url,
            connection_session=session_message(started.session),
        )

    async def GetConnectionSession(
        self, request: connection_service_pb2.GetConnectionSessionRequest, context: Context
    ) -> connection_service_pb2.GetConnectionSessionResponse:
        session = await self._uc.get.execute(current_principal(), session_id_of(request.name))
        return connection_service_pb2.GetConnectionSessionResponse(
            connection_session=session_message(session)
        )

    async def ChooseConnectionAccounts(
        self, request: connection_service_pb2.ChooseConnectionAccountsRequest, context: Context
    ) -> connection_service_pb2.ChooseConnectionAccountsResponse:
        session = await self._uc.choose.execute(
            ChooseConnectionAccountsCommand(
                actor=current_principal(),
                session_id=session_id_of(request.name),
                account_ids=tuple(request.account_ids),
            )
        )
        return connection_service_pb2.ChooseConnectionAccountsResponse(
            connection_session=session_message(session)
        )


def session_id_of(name: str) -> str:
    session_id = name.removeprefix(SESSIONS)
    if not name or session_id == name or not _SESSION_ID.fullmatch(session_id):
        raise mappers.invalid("name", f"must be a resource name of the form {SESSIONS}{{id}}")
    return session_id


def session_message(session: ConnectionSession) -> connection_pb2.ConnectionSession:
    message = connection_pb2.ConnectionSession(
        name=SESSIONS + session.id,
        sub_account_id=session.sub_account_id,
        template=mappers.template_name(session.template_name),
        display_name=session.display_name,
        state=STATES[session.status],
        error_code="" if session.failure is None else session.failure.value,
        error_detail=session.failure_detail,
        choices=[
            connection_pb2.ConnectionSession.AccountChoice(id=c.id, display_name=c.name)
            for c in session.choices
        ],
        integrations=[mappers.integration_name(i) for i in session.integration_ids],
    )
    mappers.set_moment(message.create_time, session.created_at)
    mappers.set_moment(message.expire_time, session.expires_at)
    return message
