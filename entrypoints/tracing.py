"""Traces (OpenTelemetry), for `serve` when the standard OTEL_* variables ask for them
(config.py decides, docs/deployment.md lists them): gRPC server spans, webhook requests,
outbound HTTP calls, SQLAlchemy's statements, and each inbox delivery's processing, linked to
the request that stored it (trace_context.py). Loaded only when tracing is on. Every span passes `ScrubbedExporter` on its way out, so that no
query string, error text or exception message (where secrets and personal data could hide)
leaves the process."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import yarl
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorServer
from opentelemetry.instrumentation.grpc.filters import health_check, negate
from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, Status, TraceState
from opentelemetry.util.types import Attributes, AttributeValue
from sqlalchemy.ext.asyncio import AsyncEngine

DEFAULT_SERVICE_NAME = "integrations"
# Attributes that hold a URL or its query: the query's values are replaced.
_URL_ATTRIBUTES = frozenset({"http.url", "url.full", "http.target", "url.query"})
_REDACTED = "REDACTED"
# Kept of an exception event: its type, never its message or stack trace (either can quote
# a value: a database error's DETAIL, a client error's URL with its query).
_EXCEPTION_KEPT = frozenset({"exception.type", "exception.escaped"})


class _Instrumentor(Protocol):
    def uninstrument(self, **kwargs: Any) -> None: ...


class Tracing:
    """Tracing while `serve` runs: the provider, and the instrumentations it switched on."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        # Not the health checks: balancers and probes call them every few seconds.
        grpc_server = GrpcAioInstrumentorServer(filter_=negate(health_check()))  # type: ignore[no-untyped-call]
        grpc_server.instrument(tracer_provider=provider)
        webhooks = AioHttpServerInstrumentor()
        webhooks.instrument(tracer_provider=provider)
        # Outbound calls carry the trace context to the provider (a traceparent header).
        outbound = AioHttpClientInstrumentor()
        outbound.instrument(tracer_provider=provider, url_filter=_without_query)
        self._instrumentors: list[_Instrumentor] = [grpc_server, webhooks, outbound]

    def trace_engine(self, engine: AsyncEngine) -> None:
        """SQLAlchemy's statements on `engine`: their text (with placeholders), never their
        parameters (the instrumentation records none)."""
        database = SQLAlchemyInstrumentor()
        # It declares SQLAlchemy < 2.1 and would otherwise do nothing on 2.1; the engine events
        # it listens to (before/after_cursor_execute, handle_error) are unchanged in 2.1.
        database.instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        self._instrumentors.append(database)

    def shutdown(self) -> None:
        """Exports what is left (within the exporter's timeout) and switches tracing off."""
        for instrumentor in self._instrumentors:
            instrumentor.uninstrument()
        self.provider.shutdown()


def start_tracing(exporters: Sequence[str], *, exporter: SpanExporter | None = None) -> Tracing:
    """Tracing on, exporting to `exporters` (OTEL_TRACES_EXPORTER's names, checked by config.py),
    or to `exporter` (tests). Must run before the servers, the HTTP sessions and the engine are
    made: the instrumentations wrap their constructors. The SDK reads the other OTEL_* variables
    itself (service name and resource, sampler, batch sizes, the OTLP endpoint and headers)."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    # The sampler OTEL_TRACES_SAMPLER names, as the SDK reads it (default: parent-based, always).
    configured = TracerProvider(resource=resource, shutdown_on_exit=False).sampler
    provider = TracerProvider(resource=resource, sampler=NoOrphanClientSpans(configured))
    chosen = [exporter] if exporter is not None else [_exporter(name) for name in exporters]
    for each in chosen:
        provider.add_span_processor(BatchSpanProcessor(ScrubbedExporter(each)))
    trace.set_tracer_provider(provider)
    return Tracing(provider)


class NoOrphanClientSpans(Sampler):
    """Drops client spans that start no trace of their own (no parent): the database statements
    and calls of background loops between requests and deliveries (the worker's polls, the
    scheduler's timers), which would otherwise make a one-span trace each, every second. Every
    other span is sampled as `delegate` decides."""

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT and not _has_parent(parent_context):
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"NoOrphanClientSpans{{{self._delegate.get_description()}}}"


def _has_parent(parent_context: Context | None) -> bool:
    return trace.get_current_span(parent_context).get_span_context().is_valid


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        # stdout carries `serve`'s start line, which scripts read.
        return ConsoleSpanExporter(out=sys.stderr)
    return OTLPSpanExporter()


def _without_query(url: yarl.URL) -> str:
    """An outbound call's URL as recorded: no query (Graph API calls carry tokens there)."""
    return str(url.with_query(None))


class ScrubbedExporter(SpanExporter):
    """Exports spans with what could quote a secret or personal data taken out: the values of
    URL queries, status descriptions, exception messages and stack traces. Runs on the batch
    processor's thread, never on a request's path."""

    def __init__(self, exporter: SpanExporter) -> None:
        self._exporter = exporter

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self._exporter.export([scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self._exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._exporter.force_flush(timeout_millis)


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=dict(_scrubbed_attributes(span.attributes or {})),
        events=[_scrubbed_event(event) for event in span.events],
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _scrubbed_attributes(
    attributes: Mapping[str, AttributeValue],
) -> Iterator[tuple[str, AttributeValue]]:
    for key, value in attributes.items():
        if key in _URL_ATTRIBUTES and isinstance(value, str):
            yield key, _redacted_url(value, query_only=key == "url.query")
        else:
            yield key, value


def _scrubbed_event(event: Event) -> Event:
    if event.name != "exception":
        return event
    kept = {k: v for k, v in (event.attributes or {}).items() if k in _EXCEPTION_KEPT}
    return Event(event.name, kept, event.timestamp)


def _redacted_url(value: str, *, query_only: bool) -> str:
    """The URL (or query) with each query parameter's value replaced, names kept."""
    if query_only:
        return _redacted_query(value)
    parts = urlsplit(value)
    if not parts.query:
        return value
    return urlunsplit(parts._replace(query=_redacted_query(parts.query)))


def _redacted_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, _REDACTED) for name, _ in pairs], safe=_REDACTED)
