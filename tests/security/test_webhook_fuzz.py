"""Fuzzing the webhook route (hypothesis): bodies (garbage, any JSON, GHL payloads with fields
replaced, other encodings, oversized), signature headers (missing, garbage, wrong key, valid),
other headers and routes. Whatever comes in: never a 5xx, always a JSON answer, and a row is
written only for a delivery answered 200 (and only once)."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from adapters.crypto.signatures import SIGNATURE_HEADERS
from adapters.persistence.models import PLATFORM_DELIVERIES, WEBHOOK_DELIVERIES
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.ports import HandlerOutcome, InboundEvent, UnitOfWork
from domain.webhook_delivery import EventKind
from entrypoints.worker.inbox_worker import InboxWorker
from tests.fakes import FixedClock
from tests.integration.webhooks.conftest import Client, Integrations
from tests.integration.webhooks.support import Signer
from tests.reliability.support import record
from tests.security.conftest import draw

SECRET = "whs-fuzz-secret-0001"
ALLOWED = {200, 400, 401, 404, 405, 409, 413, 429}
# Printable ASCII: what an HTTP client can put in a header at all.
HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
contact_fields = {
    "type": st.sampled_from(["ContactCreate", "ContactUpdate", "ContactDelete", "INSTALL"])
    | st.text(max_size=20),
    "id": st.text(max_size=40),
    "email": st.text(max_size=40),
    "phone": st.text(max_size=20),
    "firstName": st.text(max_size=40),
    "tags": st.lists(st.text(max_size=10), max_size=5),
    "dateAdded": st.text(max_size=30),
    "timestamp": st.text(max_size=30) | st.integers() | st.floats(allow_nan=False),
    "webhookId": st.text(max_size=200),
}


_CONTACT = b'{"type": "ContactCreate", "locationId": "loc-1", "id": "c-1", "n": '
# Signed bodies that were once stored and then stopped the worker for every tenant.
UNPROCESSABLE = [
    _CONTACT + b"1e5000}",
    _CONTACT + b"9" * 5000 + b"}",
    _CONTACT + b"[" * 1000 + b"]" * 1000 + b"}",
    _CONTACT + b"[" * 100_000 + b"]" * 100_000 + b"}",
]


@st.composite
def ghl_payloads(draw_: st.DrawFn) -> dict[str, Any]:
    """GHL-looking payloads for the fuzzed integration: some fields replaced by anything."""
    payload: dict[str, Any] = {"type": "ContactCreate", "locationId": "loc-1", "id": "c-1"}
    for name, strategy in contact_fields.items():
        if draw_(st.booleans()):
            payload[name] = draw_(strategy | json_values)
    if draw_(st.integers(0, 9)) == 0:
        payload["locationId"] = draw_(json_values)
    return payload


@st.composite
def requests(draw_: st.DrawFn) -> tuple[str, bytes, str, dict[str, str]]:
    """(route, body, how it is signed, extra headers)."""
    kind = draw_(
        st.sampled_from(["garbage", "json", "ghl", "ghl", "ghl", "encoded", "huge", "unreadable"])
    )
    if kind == "garbage":
        body = draw_(st.binary(max_size=2048))
    elif kind == "json":
        body = json.dumps(draw_(json_values)).encode()
    elif kind == "unreadable":
        body = draw_(st.sampled_from(UNPROCESSABLE))
    elif kind == "huge":
        body = b'{"type":"ContactCreate","locationId":"loc-1","x":"' + b"a" * (1024 * 1024) + b'"}'
    else:
        text = json.dumps(draw_(ghl_payloads()), ensure_ascii=draw_(st.booleans()))
        encoding = (
            "utf-8"
            if kind == "ghl"
            else draw_(st.sampled_from(["utf-16", "utf-32", "utf-8-sig", "utf-16-be", "latin-1"]))
        )
        body = text.encode(encoding, errors="replace")
    route = draw_(
        st.sampled_from(["/webhooks/ghl", "/webhooks/ghl/contact.created", "/webhooks/ghl/"])
        | st.text(st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=140).map(
            lambda s: "/webhooks/ghl/" + s
        )
    )
    signing = draw_(
        st.sampled_from(["valid-ed25519", "valid-hmac", "wrong-key", "garbage", "none"])
    )
    headers = draw_(
        st.dictionaries(
            st.sampled_from([*sorted(SIGNATURE_HEADERS), "content-type", "x-request-id"]),
            HEADER_TEXT,
            max_size=3,
        )
    )
    return route, body, signing, headers


def sign(signer: Signer, signing: str, body: bytes) -> dict[str, str]:
    if signing == "valid-ed25519":
        return signer.ghl(body)
    if signing == "valid-hmac":
        return signer.hmac(SECRET, body)
    if signing == "wrong-key":
        forged = Ed25519PrivateKey.generate().sign(body)
        return {"x-ghl-signature": base64.b64encode(forged).decode()}
    if signing == "garbage":
        return {"x-ghl-signature": "AAAA", "x-webhook-signature": "00" * 32}
    return {}


async def stored(engine: AsyncEngine) -> int:
    """Deliveries kept: the integrations' inbox and the platform's (those naming no location)."""
    async with engine.connect() as connection:
        total = 0
        for table in (WEBHOOK_DELIVERIES, PLATFORM_DELIVERIES):
            query = select(func.count()).select_from(table)
            total += int((await connection.execute(query)).scalar_one())
        return total


async def fuzz(
    client: Client, engine: AsyncEngine, signer: Signer, count: int, *, fixed: bool
) -> dict[int, int]:
    seen: dict[int, int] = {}
    for route, body, signing, extra in draw(requests(), count, fixed=fixed):
        headers = {**extra, **sign(signer, signing, body)}
        before = await stored(engine)
        data = io.BytesIO(body) if len(body) > 1024 * 1024 else body  # aiohttp warns otherwise
        response = await client.post(route, data=data, headers=headers)
        answer = await response.read()
        after = await stored(engine)
        example = (route, body[:200], signing, extra, response.status, answer[:300])
        assert response.status in ALLOWED, example
        assert response.status < 500, example
        assert isinstance(json.loads(answer), dict), example
        if response.status == 200:
            assert after - before in (0, 1), example  # new, or a duplicate of one stored
            if json.loads(answer)["status"] == "accepted":
                assert after - before == 1, example
        else:
            assert after == before, example  # nothing written for a refused delivery
        seen[response.status] = seen.get(response.status, 0) + 1
    return seen


async def a_normal_delivery_is_processed_next(
    client: Client, signer: Signer, uow_factory: SqlAlchemyUnitOfWorkFactory, clock: FixedClock
) -> None:
    """Whatever was accepted before it, a normal delivery is stored and then processed."""
    normal = b'{"type": "ContactCreate", "locationId": "loc-1", "id": "c-9", "webhookId": "w9"}'
    response = await client.post("/webhooks/ghl", data=normal, headers=signer.ghl(normal))
    assert response.status == 200
    seen: list[str] = []

    class Recording:
        async def handle(self, uow: UnitOfWork, event: InboundEvent) -> HandlerOutcome:
            seen.append(str(event.payload.get("id")))
            return HandlerOutcome.APPLIED

    worker = InboxWorker(
        uow=uow_factory,
        handlers=lambda _template: {kind: Recording() for kind in EventKind},
        clock=clock,
        batch_size=50,
    )
    while await worker.run_once():
        pass
    assert "c-9" in seen


async def test_fuzzed_webhooks_never_get_a_5xx_nor_leave_a_row_when_refused(
    client: Client,
    engine: AsyncEngine,
    integrations: Integrations,
    signer: Signer,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    await integrations.add("loc-1", secret=SECRET)

    seen = await fuzz(client, engine, signer, 150, fixed=True)
    record("webhook fuzz", dialect=engine.dialect.name, examples=150, statuses=seen)

    assert seen.get(200, 0) > 0  # both sides of the gate were reached
    assert seen.get(401, 0) > 0
    await a_normal_delivery_is_processed_next(client, signer, uow_factory, clock)


@pytest.mark.slow
@pytest.mark.timeout(1800)
async def test_many_fuzzed_webhooks_never_get_a_5xx_nor_leave_a_row_when_refused(
    client: Client,
    engine: AsyncEngine,
    integrations: Integrations,
    signer: Signer,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    await integrations.add("loc-1", secret=SECRET)

    seen = await fuzz(client, engine, signer, 3000, fixed=False)
    record("webhook fuzz", dialect=engine.dialect.name, examples=3000, statuses=seen)

    assert seen.get(200, 0) > 0
    assert seen.get(401, 0) > 0
    await a_normal_delivery_is_processed_next(client, signer, uow_factory, clock)


async def test_signed_bodies_that_could_never_be_processed_are_refused_and_the_next_is_processed(
    client: Client,
    engine: AsyncEngine,
    integrations: Integrations,
    signer: Signer,
    uow_factory: SqlAlchemyUnitOfWorkFactory,
    clock: FixedClock,
) -> None:
    await integrations.add("loc-1", secret=SECRET)
    for body in UNPROCESSABLE:
        response = await client.post("/webhooks/ghl", data=body, headers=signer.ghl(body))
        assert response.status in (400, 413, 422), (body[:80], response.status)
        assert json.loads(await response.read())["error"]["code"] == response.status
    assert await stored(engine) == 0

    await a_normal_delivery_is_processed_next(client, signer, uow_factory, clock)
