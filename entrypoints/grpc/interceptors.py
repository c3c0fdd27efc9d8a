"""Server interceptors: request logging, error mapping and bearer-token authentication."""

from __future__ import annotations

import abc
import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
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
    StreamBehavior: TypeAlias = Callable[[Any, Context], AsyncIterator[Any]]
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
_stdlib_log = logging.getLogger("entrypoints.grpc")


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
    """Wraps the behaviour of every unary-unary and server-streaming RPC outside the public
    services; client-streaming ones go to `_streaming`."""

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or _is_public(method):
            return handler
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method),  # type: ignore[arg-type]  # aio behaviours are async
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
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

    @abc.abstractmethod
    def _wrap_stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior: ...


class RequestLoggingInterceptor(_UnaryInterceptor):
    """One log line per RPC (method, code, duration; messages sent, for streams), with a fresh
    log context bound to the request id (`x-request-id` if the caller sent a sane one) so that
    every line logged while serving it carries that id. Request and response bodies are never
    logged."""

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        async def logged(request: Any, context: Context) -> Any:
            started = _bind_request(context, method)
            code = grpc.StatusCode.UNKNOWN
            try:
                response = await behavior(request, context)
                code = grpc.StatusCode.OK
                return response
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = _aborted_code(context)
                raise
            finally:
                _log_finished(code, started, read=_is_read(method))

        return logged

    def _wrap_stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior:
        async def logged(request: Any, context: Context) -> AsyncIterator[Any]:
            started = _bind_request(context, method)
            code = grpc.StatusCode.UNKNOWN
            sent = 0
            try:
                async for response in behavior(request, context):
                    sent += 1
                    yield response
                code = grpc.StatusCode.OK
            except (asyncio.CancelledError, GeneratorExit):
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = _aborted_code(context)
                raise
            finally:
                _log_finished(code, started, messages_sent=sent)

        return logged


def _bind_request(context: Context, method: str) -> float:
    structlog.contextvars.clear_contextvars()
    given = _metadata_value(context, "x-request-id")
    request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    structlog.contextvars.bind_contextvars(request_id=request_id, method=method)
    return time.perf_counter()


def _aborted_code(context: Context) -> grpc.StatusCode:
    # The stubs say code() is a StatusCode; it is None until a status is set.
    aborted: grpc.StatusCode | None = context.code()
    return grpc.StatusCode.UNKNOWN if aborted is None else aborted


def _is_read(method: str) -> bool:
    return method.rsplit("/", 1)[-1].startswith(("Get", "List"))


def _log_finished(
    code: grpc.StatusCode, started: float, *, read: bool = False, **fields: Any
) -> None:
    # A read that succeeded is logged at DEBUG only: at INFO, the line costs as much as the
    # read (docs/performance.md). Failures and every write stay at INFO or above.
    if read and code is grpc.StatusCode.OK:
        if not _stdlib_log.isEnabledFor(logging.DEBUG):
            return
        log = _log.debug
    else:
        log = _log.error if code in _SERVER_ERRORS else _log.info
    log(
        "rpc_finished",
        code=code.name,
        duration_ms=round((time.perf_counter() - started) * 1000, 2),
        **fields,
    )


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

    def _wrap_stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior:
        async def mapped(request: Any, context: Context) -> AsyncIterator[Any]:
            try:
                async for response in behavior(request, context):
                    yield response
            except grpc.aio.AbortError:
                raise
            except Exception as err:
                await abort_with(context, err)

        return mapped


class AuthInterceptor(_UnaryInterceptor):
    """Authenticates every RPC outside the public services and makes the caller available to
    servicers through `current_principal()`. A client-streaming RPC, which it cannot guard, is
    not served."""

    def __init__(self, authenticator: JwtAuthenticator) -> None:
        self._authenticator = authenticator

    def _streaming(
        self, handler: grpc.RpcMethodHandler[Any, Any]
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        return None  # fail closed: the RPC is answered UNIMPLEMENTED

    def _authenticate(self, context: Context) -> Principal:
        principal = self._authenticator.authenticate(_metadata_value(context, "authorization"))
        structlog.contextvars.bind_contextvars(
            subject=principal.subject,
            role=principal.role.value,
            sub_account_id=principal.sub_account_id,
        )
        return principal

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        async def authenticated(request: Any, context: Context) -> Any:
            token = _principal.set(self._authenticate(context))
            try:
                return await behavior(request, context)
            finally:
                _principal.reset(token)

        return authenticated

    def _wrap_stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior:
        async def authenticated(request: Any, context: Context) -> AsyncIterator[Any]:
            principal = self._authenticate(context)
            # Not reset afterwards: each RPC runs in a task of its own, whose context ends with
            # it, and a stream the garbage collector closes would reset from another context.
            _principal.set(principal)
            async for response in behavior(request, context):
                yield response

        return authenticated
