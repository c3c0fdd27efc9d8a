"""Tracing's parts that need no running service: when the OTEL_* variables switch it on, what
is taken out of spans before they leave, which spans are sampled, and the trace context a
stored delivery keeps and its processing links to."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from entrypoints.config import ConfigurationError, Settings
from entrypoints.trace_context import _links, current_traceparent, traceparent_source
from entrypoints.tracing import NoOrphanClientSpans, ScrubbedExporter

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
SPAN_ID = 0xB7AD6B7169203331
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _exporters(tmp_path: Path, **env: str) -> tuple[str, ...]:
    return Settings.from_env({"INTEGRATIONS_DATA_DIR": str(tmp_path), **env}).trace_exporters


def test_tracing_is_off_unless_the_otel_variables_ask_for_it(tmp_path: Path) -> None:
    assert _exporters(tmp_path) == ()
    assert _exporters(tmp_path, OTEL_SERVICE_NAME="integrations") == ()
    assert _exporters(tmp_path, OTEL_EXPORTER_OTLP_ENDPOINT="http://collector:4317") == ("otlp",)
    assert _exporters(tmp_path, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://c:4317") == ("otlp",)
    assert _exporters(tmp_path, OTEL_TRACES_EXPORTER="console,otlp") == ("console", "otlp")
    assert _exporters(tmp_path, OTEL_TRACES_EXPORTER="none", OTEL_EXPORTER_OTLP_ENDPOINT="x") == ()
    assert _exporters(tmp_path, OTEL_SDK_DISABLED="true", OTEL_TRACES_EXPORTER="otlp") == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [("OTEL_TRACES_EXPORTER", "zipkin"), ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
)
def test_an_exporter_or_protocol_the_service_cannot_use_is_a_configuration_problem(
    tmp_path: Path, name: str, value: str
) -> None:
    env = {"INTEGRATIONS_DATA_DIR": str(tmp_path), "OTEL_TRACES_EXPORTER": "otlp", name: value}
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    assert [p.split()[0] for p in caught.value.problems] == [name]


def _span(**overrides: object) -> ReadableSpan:
    fields: dict[str, object] = {
        "name": "GET",
        "context": SpanContext(TRACE_ID, SPAN_ID, is_remote=False),
        "kind": SpanKind.CLIENT,
        "attributes": {
            "http.url": "https://graph.example/v21.0/me?access_token=EAAB-secret&fields=id",
            "url.full": "https://graph.example/leads?email=ada%40example.com",
            "http.target": "/webhooks/meta?hub.mode=subscribe&hub.verify_token=tok-secret",
            "url.query": "hub.verify_token=tok-secret",
            "db.statement": "SELECT 1 WHERE id = $1",
            "http.status_code": 400,
        },
        "events": [
            Event(
                "exception",
                {
                    "exception.type": "ClientResponseError",
                    "exception.message": "400, url='https://graph.example/me?access_token=EAAB-secret'",
                    "exception.stacktrace": "Traceback ... access_token=EAAB-secret",
                },
            ),
            Event("retry", {"attempt": 2}),
        ],
        "status": Status(StatusCode.ERROR, "Key (email)=(ada@example.com) already exists"),
    }
    fields.update(overrides)
    return ReadableSpan(**fields)  # type: ignore[arg-type]


def test_spans_leave_without_query_values_error_texts_or_exception_messages() -> None:
    memory = InMemorySpanExporter()

    assert ScrubbedExporter(memory).export([_span()]) is SpanExportResult.SUCCESS

    [span] = memory.get_finished_spans()
    assert dict(span.attributes or {}) == {
        "http.url": "https://graph.example/v21.0/me?access_token=REDACTED&fields=REDACTED",
        "url.full": "https://graph.example/leads?email=REDACTED",
        "http.target": "/webhooks/meta?hub.mode=REDACTED&hub.verify_token=REDACTED",
        "url.query": "hub.verify_token=REDACTED",
        "db.statement": "SELECT 1 WHERE id = $1",
        "http.status_code": 400,
    }
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        ("exception", {"exception.type": "ClientResponseError"}),
        ("retry", {"attempt": 2}),
    ]
    assert (span.status.status_code, span.status.description) == (StatusCode.ERROR, None)
    assert (span.context, span.kind, span.name) == (_span().context, SpanKind.CLIENT, "GET")


def test_client_spans_outside_any_trace_are_dropped_and_the_others_sampled() -> None:
    sampler = NoOrphanClientSpans(ALWAYS_ON)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    with tracer.start_as_current_span("a poll's statement", kind=SpanKind.CLIENT):
        pass
    with (
        tracer.start_as_current_span("a request", kind=SpanKind.SERVER),
        tracer.start_as_current_span("its statement", kind=SpanKind.CLIENT),
    ):
        pass
    with tracer.start_as_current_span("a delivery's processing", kind=SpanKind.CONSUMER):
        pass

    finished = [span.name for span in exporter.get_finished_spans()]
    assert finished == ["its statement", "a request", "a delivery's processing"]
    orphan = sampler.should_sample(None, TRACE_ID, "x", SpanKind.CLIENT)
    assert orphan.decision is Decision.DROP


def test_the_current_spans_traceparent_is_what_a_delivery_keeps() -> None:
    tracer = TracerProvider().get_tracer("test")

    assert current_traceparent() is None
    with tracer.start_as_current_span("a request") as span:
        context = span.get_span_context()
        flags = int(context.trace_flags)
        expected = f"00-{context.trace_id:032x}-{context.span_id:016x}-{flags:02x}"
        assert current_traceparent() == expected
    assert traceparent_source(()) is None
    assert traceparent_source(("otlp",)) is current_traceparent


def test_a_delivery_links_to_its_stored_trace_context_and_to_nothing_without_one() -> None:
    [link] = _links(TRACEPARENT)

    assert (link.context.trace_id, link.context.span_id) == (TRACE_ID, SPAN_ID)
    assert link.context.trace_flags == TraceFlags.SAMPLED
    assert _links(None) == []
    assert _links("not a traceparent") == []
