"""Traces across every hop of the running service, exported over OTLP to a collector in the test:
a `CreateIntegration` call continues the caller's trace through the database and the call to
(the fake) GoHighLevel, whose request carries the trace on; a webhook delivery's request trace
is linked from the trace of its processing by the worker; and no span carries a secret or a
contact's personal data."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from grpc_health.v1 import health_pb2, health_pb2_grpc

from adapters.ghl.fake import FAKE_GHL, create_app
from adapters.ghl.fake.seed import DEMO_LOCATION_ID, DEMO_PRIVATE_TOKEN
from integrations.v1 import (
    directory_pb2,
    directory_service_pb2,
    integration_pb2,
    integration_service_pb2,
)
from tests.e2e.conftest import Service, stop_service
from tests.e2e.test_webhooks_to_leads import (
    SUB_ACCOUNT,
    Client,
    FakeGhlServer,
    create_contact,
    eventually,
)
from tests.integration.ghl.support import SPECS_DIR
from tests.support.otlp_collector import (
    CLIENT,
    CONSUMER,
    SERVER,
    Collector,
    ExportedSpan,
    running_collector,
)

EMAIL = "ada.lovelace@example.com"
PHONE = "+12065550188"
CREATE_INTEGRATION = "/integrations.v1.IntegrationService/CreateIntegration"
SERVING = health_pb2.HealthCheckResponse.SERVING


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running_collector() as running:
        yield running


@pytest.fixture
async def fake_ghl() -> AsyncIterator[tuple[FakeGhlServer, list[str]]]:
    """The fake GHL, and the traceparent header of every request it received."""
    traceparents: list[str] = []

    @web.middleware
    async def record(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        traceparents.append(request.headers.get("traceparent", ""))
        return await handler(request)

    app = create_app(validate_requests_against=SPECS_DIR if SPECS_DIR.is_dir() else None)
    app.middlewares.insert(0, record)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    yield FakeGhlServer(str(server.make_url("")).rstrip("/"), app[FAKE_GHL]), traceparents
    await server.close()


@pytest.fixture
def service_extra_env(
    fake_ghl: tuple[FakeGhlServer, list[str]], collector: Collector, tmp_path: Path
) -> dict[str, str]:
    key_file = tmp_path / "fake-ghl-ed25519.pem"
    key_file.write_text(fake_ghl[0].fake.webhooks.public_key_pem())
    return {
        "GHL_API_BASE_URL": fake_ghl[0].url,
        "GHL_WEBHOOK_ED25519_KEY_FILE": str(key_file),
        # Only the endpoint: tracing is on, over OTLP, as an operator would ask for it.
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }


class WithHealth(Client):
    """The admin's client, and the standard health service on its channel."""

    def __init__(self, channel: grpc.aio.Channel, service: Service) -> None:
        super().__init__(channel, service)
        self.health = health_pb2_grpc.HealthStub(channel)


@pytest.fixture
async def client(service: Service) -> AsyncIterator[WithHealth]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield WithHealth(channel, service)


async def test_a_create_call_and_a_webhook_delivery_are_traced_end_to_end(
    service: Service,
    fake_ghl: tuple[FakeGhlServer, list[str]],
    client: WithHealth,
    collector: Collector,
) -> None:
    ghl, ghl_traceparents = fake_ghl
    ghl.send_webhooks_to(service)
    await client.directory.ReplaceDirectoryUsers(
        directory_service_pb2.ReplaceDirectoryUsersRequest(
            sub_account_id=SUB_ACCOUNT,
            directory_users=[directory_pb2.DirectoryUser(user_id="u-ana", role="user")],
        ),
        metadata=client.admin,
    )
    # The caller's own trace, sent in the call's metadata as W3C trace context.
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    config = integration_pb2.Integration(
        sub_account_id=SUB_ACCOUNT,
        template="integrationTemplates/gohighlevel",
        display_name="Clinic CRM",
    )
    config.config.update({"apiKey": DEMO_PRIVATE_TOKEN, "locationId": DEMO_LOCATION_ID})
    created = await client.integrations.CreateIntegration(
        integration_service_pb2.CreateIntegrationRequest(integration=config),
        metadata=(*client.admin, ("traceparent", f"00-{caller_trace}-{caller_span}-01")),
    )
    assert created.integration.state == integration_pb2.Integration.STATE_ACTIVE

    await create_contact(ghl, firstName="Ada", lastName="Lovelace", email=EMAIL, phone=PHONE)
    leads = await eventually(lambda: client.leads_of(created.integration.name), bool)
    assert [lead.email for lead in leads] == [EMAIL]
    assert (await client.health.Check(health_pb2.HealthCheckRequest())).status == SERVING
    # Stopping the service exports every span it still holds.
    assert stop_service(service) == 0
    spans = collector.spans

    # CreateIntegration: the server span continues the caller's trace, and the database
    # statements and the connection test's call to GHL hang below it.
    [create] = [s for s in spans if s.name == CREATE_INTEGRATION]
    assert (create.kind, create.trace_id, create.parent_span_id) == (
        SERVER,
        caller_trace,
        caller_span,
    )
    below_create = _descendants(create, spans)
    assert any("db.system" in s.attributes for s in below_create), "no database span"
    ghl_calls = [s for s in below_create if s.kind == CLIENT and "aiohttp_client" in s.scope]
    assert ghl_calls, "no span for the call to GHL"
    # ... and GHL was called with the trace context of those calls.
    assert {f"00-{caller_trace}-{s.span_id}-01" for s in ghl_calls} <= set(ghl_traceparents)

    # The webhook: its request's trace is linked from the worker's processing of the delivery,
    # which has the handler's statements below it.
    requests = {
        (s.trace_id, s.span_id): s
        for s in spans
        if s.kind == SERVER and s.name == "POST /webhooks/ghl"
    }
    [processing] = [
        s
        for s in spans
        if s.kind == CONSUMER
        and s.attributes.get("integrations.webhook_delivery.kind") == "contact.created"
    ]
    assert processing.name == "inbox process"
    [link] = processing.links
    request = requests[link]
    assert request.attributes["http.route"] == "/webhooks/ghl"
    assert processing.trace_id != request.trace_id
    assert any("db.system" in s.attributes for s in _descendants(processing, spans))
    assert {s.resource["service.name"] for s in spans} == {"integrations"}
    assert not [s for s in spans if s.name.startswith("/grpc.health.v1.Health/")]

    # Nothing secret or personal in any span: not the API key, the caller's token, the
    # contact's email or phone, nor the SQL statements' parameters.
    exported = json.dumps([_everything(s) for s in spans], default=str)
    token = client.admin[0][1].removeprefix("Bearer ")
    for value in (DEMO_PRIVATE_TOKEN, token, EMAIL, PHONE, "Lovelace"):
        assert value not in exported


def _descendants(root: ExportedSpan, spans: list[ExportedSpan]) -> list[ExportedSpan]:
    """The spans of root's trace whose parents lead up to root."""
    of_trace = {s.span_id: s for s in spans if s.trace_id == root.trace_id}
    found = []
    for span in of_trace.values():
        parent = span.parent_span_id
        while parent and parent != root.span_id and parent in of_trace:
            parent = of_trace[parent].parent_span_id
        if parent == root.span_id:
            found.append(span)
    return found


def _everything(span: ExportedSpan) -> dict[str, object]:
    return {
        "name": span.name,
        "attributes": span.attributes,
        "events": span.events,
        "resource": span.resource,
        "status": span.status_message,
    }
