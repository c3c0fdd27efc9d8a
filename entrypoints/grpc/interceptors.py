"""Server interceptors: request logging, error mapping and bearer-token authentication."""

from __future__ import annotations

import abc
import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
import structlog

from domain.errors import UnauthenticatedError
from domain.values import Principal
from entrypoints.auth import JwtAuthenticator
from entrypoints.grpc.errors import abort_with

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
    Behavior: TypeAlias = Callable[[Any, Context], Awaitable[Any]]
    Continuation: TypeAlias = Callable[
        [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
    ]

# Services any caller may use without a token: load balancers probe health, tools reflect.
PUBLIC_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_SERVER_ERRORS = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
)

_principal: ContextVar[Principal | None] = ContextVar("grpc_principal", default=None)
_log = structlog.get_logger("entrypoints.grpc")


def current_principal() -> Principal:
    """The caller of the RPC being served, as authenticated by AuthInterceptor."""
    principal = _principal.get()
    if principal is None:
        raise UnauthenticatedError("a bearer token is required")
    return principal


def _is_public(method: str) -> bool:
    return method.startswith(PUBLIC_SERVICES)


def _metadata_value(context: Context, key: str) -> str | None:
    for item_key, value in context.invocation_metadata() or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return None


class _UnaryInterceptor(grpc.aio.ServerInterceptor):
    """Wraps the behaviour of every unary-unary RPC outside the public services."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or _is_public(method):
            return handler
        if handler.unary_unary is None:
            return self._streaming(handler)
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, method),  # type: ignore[arg-type]  # aio behaviours are async
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _streaming(
        self, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        return handler

    @abc.abstractmethod
    def _wrap(self, behavior: Behavior, method: str) -> Behavior: ...


class RequestLoggingInterceptor(_UnaryInterceptor):
    """One log line per RPC (method, code, duration), with a fresh log context bound to the
    request id (`x-request-id` if the caller sent a sane one) so that every line logged while
    serving it carries that id. Request and response bodies are never logged."""

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        async def logged(request: Any, context: Context) -> Any:
            structlog.contextvars.clear_contextvars()
            given = _metadata_value(context, "x-request-id")
            request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
            structlog.contextvars.bind_contextvars(request_id=request_id, method=method)
            started = time.perf_counter()
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await behavior(request, context)
                code = grpc.StatusCode.OK
                return response
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                # The stubs say code() is a StatusCode; it is None until a status is set.
                aborted: grpc.StatusCode | None = context.code()
                code = grpc.StatusCode.UNKNOWN if aborted is None else aborted
                raise
            finally:
                log = _log.error if code in _SERVER_ERRORS else _log.info
                log(
                    "rpc_finished",
                    code=code.name,
                    duration_ms=round((time.perf_counter() - started) * 1000, 2),
                )

        return logged


class ErrorMappingInterceptor(_UnaryInterceptor):
    """The safety net: any exception escaping a servicer becomes a status through the one error
    table; aborts and cancellations pass through untouched."""

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        async def mapped(request: Any, context: Context) -> Any:
            try:
                return await behavior(request, context)
            except grpc.aio.AbortError:
                raise
            except Exception as err:
                await abort_with(context, err)

        return mapped


class AuthInterceptor(_UnaryInterceptor):
    """Authenticates every RPC outside the public services and makes the caller available to
    servicers through `current_principal()`. A streaming RPC it cannot guard is not served."""

    def __init__(self, authenticator: JwtAuthenticator) -> None:
        self._authenticator = authenticator

    def _streaming(
        self, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        return None  # fail closed: the RPC is answered UNIMPLEMENTED

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        async def authenticated(request: Any, context: Context) -> Any:
            principal = self._authenticator.authenticate(_metadata_value(context, "authorization"))
            structlog.contextvars.bind_contextvars(
                subject=principal.subject,
                role=principal.role.value,
                sub_account_id=principal.sub_account_id,
            )
            token = _principal.set(principal)
            try:
                return await behavior(request, context)
            finally:
                _principal.reset(token)

        return authenticated
