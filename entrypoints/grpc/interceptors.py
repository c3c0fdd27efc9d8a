"""The server interceptor: request logging, metrics, error mapping and authentication (a bearer
token, or a client certificate on the allow-list)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from inspect import isasyncgenfunction
from typing import TYPE_CHECKING, Any, TypeAlias

import grpc
import structlog
from google.protobuf.message import DecodeError

from domain.errors import InvalidArgumentError, UnauthenticatedError
from domain.values import Principal
from entrypoints.auth import CertificateIdentities, JwtAuthenticator
from entrypoints.grpc.errors import abort_with
from entrypoints.grpc.metrics import GRPC_SERVER, SERVER_STREAM, UNARY
from entrypoints.in_flight import InFlight
from entrypoints.logging import request_id_of, start_request

if TYPE_CHECKING:
    Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
    Behavior: TypeAlias = Callable[[Any, Context], Awaitable[Any]]
    StreamBehavior: TypeAlias = Callable[[Any, Context], AsyncIterator[Any]]
    Continuation: TypeAlias = Callable[
        [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
    ]
    Deserializer: TypeAlias = Callable[[bytes], Any]

# Services any caller may use without a token: load balancers probe health, tools reflect.
PUBLIC_SERVICES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
_SERVER_ERRORS = frozenset(
    {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
)


class _Undecodable:
    """Stands for a request whose bytes are not the method's message. gRPC answers a
    deserializer's exception with UNKNOWN; the wrapped behaviour answers this INVALID_ARGUMENT
    instead, with the service's error details, once the caller is authenticated."""

    __slots__ = ()


_UNDECODABLE = _Undecodable()


def _tolerant(deserializer: Deserializer | None) -> Deserializer | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except DecodeError:
            return _UNDECODABLE

    return deserialize


def _unreadable() -> InvalidArgumentError:
    return InvalidArgumentError("the request is not a valid message of the method's type")


def _readable(request: Any) -> None:
    if request is _UNDECODABLE:
        raise _unreadable()


_principal: ContextVar[Principal | None] = ContextVar("grpc_principal", default=None)
_log = structlog.get_logger("entrypoints.grpc")
_stdlib_log = logging.getLogger("entrypoints.grpc")


def current_principal() -> Principal:
    """The caller of the RPC being served, as authenticated by ServingInterceptor."""
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


class ServingInterceptor(grpc.aio.ServerInterceptor):
    """Every unary-unary and server-streaming RPC outside the public services runs inside one
    wrapper, outermost first:

    - logging and metrics: one log line per RPC (method, code, duration; messages sent, for
      streams), with a fresh log context bound to the request id (`x-request-id` if the caller
      sent a sane one), so that every line logged while serving it carries that id. Request and
      response bodies are never logged. The same outcome is counted (entrypoints.grpc.metrics);
    - error mapping, the safety net: any exception escaping a servicer becomes a status through
      the one error table; aborts and cancellations pass through untouched;
    - authentication: the caller becomes available to servicers through `current_principal()`:
      the bearer token's, or without one, that of the client certificate (mutual TLS) if its
      identity is among `certificates`.

    Public services (health, reflection) are served without any of these, but a request of theirs
    that does not parse is answered INVALID_ARGUMENT too, as every other method's (`_tolerant`).

    Unary RPCs count in `in_flight` while they run (a draining copy waits for them; streams
    end when it stops). A client-streaming RPC, which it cannot guard, is not served
    (UNIMPLEMENTED). The wrapped handler of each method is built at its first call and reused:
    a call pays one wrapper, not a pass through an interceptor chain that builds fresh
    handlers."""

    def __init__(
        self,
        authenticator: JwtAuthenticator,
        in_flight: InFlight | None = None,
        *,
        certificates: CertificateIdentities | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._in_flight = in_flight or InFlight()
        self._certificates = certificates
        # Only methods the server serves are kept, so the callers' method names cannot grow it.
        self._handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method = handler_call_details.method
        handler = self._handlers.get(method)
        if handler is None:
            handler = self._wrapped(await continuation(handler_call_details), method)
            if handler is not None:
                self._handlers[method] = handler
        return handler

    def _wrapped(
        self, handler: grpc.RpcMethodHandler[Any, Any] | None, method: str
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        if handler is None:
            return None
        if _is_public(method):
            return _public(handler)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, method),  # type: ignore[arg-type]  # aio behaviours are async
                request_deserializer=_tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_unary is None:
            return None  # fail closed: the RPC is answered UNIMPLEMENTED
        return grpc.unary_unary_rpc_method_handler(
            self._wrap(handler.unary_unary, method),  # type: ignore[arg-type]  # aio behaviours are async
            request_deserializer=_tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, behavior: Behavior, method: str) -> Behavior:
        read = _is_read(method)
        in_flight = self._in_flight
        counts = GRPC_SERVER.method(method, UNARY)

        async def served(request: Any, context: Context) -> Any:
            fields, started = _start_request(context, method)
            code = grpc.StatusCode.UNKNOWN
            in_flight.started()
            counts.start()
            try:
                response = await self._call(behavior, request, context, fields)
                code = grpc.StatusCode.OK
                return response
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = _aborted_code(context)
                raise
            finally:
                in_flight.finished()
                seconds = time.perf_counter() - started
                counts.finish(code, seconds, sent=1 if code is grpc.StatusCode.OK else 0)
                _log_finished(code, seconds, read=read)

        return served

    async def _call(
        self, behavior: Behavior, request: Any, context: Context, fields: dict[str, Any]
    ) -> Any:
        """Error mapping around authentication around the behaviour."""
        try:
            token = _principal.set(self._authenticate(context, fields))
            try:
                _readable(request)
                return await behavior(request, context)
            finally:
                _principal.reset(token)
        except grpc.aio.AbortError:
            raise
        except Exception as err:
            await abort_with(context, err)

    def _wrap_stream(self, behavior: StreamBehavior, method: str) -> StreamBehavior:
        counts = GRPC_SERVER.method(method, SERVER_STREAM)

        async def served(request: Any, context: Context) -> AsyncIterator[Any]:
            fields, started = _start_request(context, method)
            code = grpc.StatusCode.UNKNOWN
            sent = 0
            counts.start()
            try:
                try:
                    # Not reset afterwards: each RPC runs in a task of its own, whose context
                    # ends with it, and a stream the garbage collector closes would reset from
                    # another context.
                    _principal.set(self._authenticate(context, fields))
                    _readable(request)
                    async for response in behavior(request, context):
                        sent += 1
                        yield response
                except grpc.aio.AbortError:
                    raise
                except Exception as err:
                    await abort_with(context, err)
                code = grpc.StatusCode.OK
            except (asyncio.CancelledError, GeneratorExit):
                code = grpc.StatusCode.CANCELLED
                raise
            except BaseException:
                code = _aborted_code(context)
                raise
            finally:
                seconds = time.perf_counter() - started
                counts.finish(code, seconds, sent=sent)
                _log_finished(code, seconds, messages_sent=sent)

        return served

    def _authenticate(self, context: Context, fields: dict[str, Any]) -> Principal:
        """The caller, whose identity joins the request's log context. A bearer token, when
        sent, names the caller even on a certificate of the allow-list (a service calling on a
        user's behalf)."""
        authorization = _metadata_value(context, "authorization")
        principal = None
        if authorization is None and self._certificates is not None:
            principal = self._certificates.principal(context.peer_identities())
        if principal is None:
            principal = self._authenticator.authenticate(authorization)
        fields["subject"] = principal.subject
        fields["role"] = principal.role.value
        fields["sub_account_id"] = principal.sub_account_id
        return principal


def _public(handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
    """A public service's unary or server-streaming method, its unreadable requests answered
    INVALID_ARGUMENT; other kinds (reflection streams both ways) as they are."""
    deserializer = _tolerant(handler.request_deserializer)
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(
            _checked(handler.unary_unary),  # type: ignore[arg-type]  # aio behaviours are async
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    if handler.unary_stream is not None:
        behavior: Any = handler.unary_stream
        # Health's Watch writes through the context instead of yielding: keep its shape.
        checked = _checked_stream(behavior) if isasyncgenfunction(behavior) else _checked(behavior)
        return grpc.unary_stream_rpc_method_handler(
            checked,
            request_deserializer=deserializer,
            response_serializer=handler.response_serializer,
        )
    return handler


def _checked(behavior: Behavior) -> Behavior:
    async def served(request: Any, context: Context) -> Any:
        if request is _UNDECODABLE:
            await abort_with(context, _unreadable())
        return await behavior(request, context)

    return served


def _checked_stream(behavior: StreamBehavior) -> StreamBehavior:
    async def served(request: Any, context: Context) -> AsyncIterator[Any]:
        if request is _UNDECODABLE:
            await abort_with(context, _unreadable())
        async for response in behavior(request, context):
            yield response

    return served


def _start_request(context: Context, method: str) -> tuple[dict[str, Any], float]:
    """The RPC's log context, in place of any earlier one, and its start time."""
    request_id = request_id_of(_metadata_value(context, "x-request-id"))
    return start_request(request_id=request_id, method=method), time.perf_counter()


def _aborted_code(context: Context) -> grpc.StatusCode:
    # The stubs say code() is a StatusCode; it is None until a status is set.
    aborted: grpc.StatusCode | None = context.code()
    return grpc.StatusCode.UNKNOWN if aborted is None else aborted


def _is_read(method: str) -> bool:
    return method.rsplit("/", 1)[-1].startswith(("Get", "List"))


def _log_finished(
    code: grpc.StatusCode, seconds: float, *, read: bool = False, **fields: Any
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
        duration_ms=round(seconds * 1000, 2),
        **fields,
    )
