"""The trace context the service itself carries (OpenTelemetry's API only, cheap to load): a
stored webhook delivery keeps its request's W3C traceparent, and its processing is a span
linked to it. Without tracing.py's provider, the spans are the API's no-op ones."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager

from opentelemetry import context, trace
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from application.ports import ClaimedDelivery

_TRACER = trace.get_tracer("integrations")
_W3C = TraceContextTextMapPropagator()
_TRACEPARENT = "traceparent"


def traceparent_source(trace_exporters: Sequence[str]) -> Callable[[], str | None] | None:
    """What the inbox writer calls for the storing request's trace context: nothing at all
    while tracing is off (no exporters)."""
    return current_traceparent if trace_exporters else None


def current_traceparent() -> str | None:
    """The current span's W3C traceparent, None outside a span."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier.get(_TRACEPARENT)


def processing(claim: ClaimedDelivery) -> AbstractContextManager[trace.Span]:
    """The span of one attempt at a claimed delivery: a trace of its own (processing happens
    after the request was answered), linked to the request that stored the delivery."""
    return _TRACER.start_as_current_span(
        "inbox process",
        context=context.Context(),
        kind=SpanKind.CONSUMER,
        links=_links(claim.trace_context),
        attributes={
            "messaging.operation.type": "process",
            "integrations.webhook_delivery.id": claim.id,
            "integrations.integration.id": claim.integration_id,
            "integrations.webhook_delivery.kind": claim.kind.value,
            "integrations.webhook_delivery.attempt": claim.attempts,
        },
    )


def _links(traceparent: str | None) -> list[Link]:
    if traceparent is None:
        return []
    context = trace.get_current_span(_W3C.extract({_TRACEPARENT: traceparent})).get_span_context()
    return [Link(context)] if context.is_valid else []
