"""The hand-written baselines of the ingest benchmark, each an aiohttp server of a few lines:

- ``bare``: answers 200 to any POST (the framework's ceiling);
- ``naive``: checks the signature, parses the JSON, and stores the delivery with one asyncpg
  ``INSERT … ON CONFLICT DO NOTHING`` (its own commit) per request;
- ``group``: the same, but concurrent deliveries are inserted by one
  ``INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`` per batch (the deliveries that
  queued while the previous batch was being written), each answered 200 once its batch commits.

Run: ``python bench/baselines.py MODE --port P [--dsn DSN --scheme ed25519|hmac ...]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

_COLUMNS = (
    "id, integration_id, sub_account_id, delivery_id, event_type, kind, status, "
    "signature_scheme, payload, attempts, next_attempt_at, received_at, updated_at"
)
INSERT_ONE = (
    f"INSERT INTO webhook_deliveries ({_COLUMNS}) "
    "VALUES ($1, $2, $3, $4, $5, 'contact.created', 'pending', $6, $7::jsonb, 0, $8, $8, $8) "
    "ON CONFLICT (integration_id, delivery_id) DO NOTHING"
)
INSERT_MANY = (
    f"INSERT INTO webhook_deliveries ({_COLUMNS}) "
    "SELECT d.id, $1, $2, d.delivery_id, d.event_type, 'contact.created', 'pending', $3, "
    "d.payload::jsonb, 0, d.at, d.at, d.at "
    "FROM unnest($4::varchar[], $5::varchar[], $6::varchar[], $7::text[], $8::timestamptz[]) "
    "AS d(id, delivery_id, event_type, payload, at) "
    "ON CONFLICT (integration_id, delivery_id) DO NOTHING"
)
SCHEMES = {"ed25519": "published-ed25519", "hmac": "hmac-sha256"}

Row = tuple[str, str, str, str, datetime]
Handler = Callable[[web.Request], Awaitable[web.Response]]


class Verifier:
    def __init__(self, scheme: str, secret: str, public_key_file: Path | None) -> None:
        self.scheme = scheme
        self._secret = secret.encode()
        self._key: Ed25519PublicKey | None = None
        if scheme == "ed25519":
            assert public_key_file is not None
            key = load_pem_public_key(public_key_file.read_bytes())
            assert isinstance(key, Ed25519PublicKey)
            self._key = key

    def verify(self, request: web.Request, body: bytes) -> bool:
        if self._key is not None:
            signature = request.headers.get("x-ghl-signature", "")
            try:
                self._key.verify(base64.b64decode(signature), body)
            except (InvalidSignature, ValueError):
                return False
            return True
        given = request.headers.get("x-webhook-signature", "")
        expected = hmac.new(self._secret, body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(given, expected)


def parsed(body: bytes) -> Row:
    event: dict[str, Any] = json.loads(body)
    return (
        str(uuid.uuid4()),
        str(event["webhookId"]),
        str(event.get("type", "")),
        body.decode(),
        datetime.now(UTC),
    )


async def bare(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"status": "accepted"})


def naive_handler(pool: asyncpg.Pool, verifier: Verifier, integration: str, sub: str) -> Handler:
    scheme = SCHEMES[verifier.scheme]

    async def naive(request: web.Request) -> web.Response:
        body = await request.read()
        if not verifier.verify(request, body):
            return web.json_response({"error": "signature"}, status=401)
        row_id, delivery_id, event_type, payload, at = parsed(body)
        async with pool.acquire() as connection:
            await connection.execute(
                INSERT_ONE, row_id, integration, sub, delivery_id, event_type, scheme, payload, at
            )
        return web.json_response({"status": "accepted", "deliveryId": delivery_id})

    return naive


class GroupCommit:
    """One flush at a time on one connection; whatever queued meanwhile is the next batch."""

    def __init__(self, connection: asyncpg.Connection, integration: str, sub: str, scheme: str):
        self._connection = connection
        self._fixed = (integration, sub, scheme)
        self._pending: list[tuple[Row, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def store(self, row: Row) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            columns = list(zip(*(row for row, _ in batch), strict=True))
            try:
                await self._connection.execute(INSERT_MANY, *self._fixed, *map(list, columns))
            except Exception as err:
                for _, future in batch:
                    future.set_exception(err)
            else:
                for _, future in batch:
                    future.set_result(None)


def group_handler(store: GroupCommit, verifier: Verifier) -> Handler:
    async def group(request: web.Request) -> web.Response:
        body = await request.read()
        if not verifier.verify(request, body):
            return web.json_response({"error": "signature"}, status=401)
        row = parsed(body)
        await store.store(row)
        return web.json_response({"status": "accepted", "deliveryId": row[1]})

    return group


async def serve(args: argparse.Namespace) -> None:
    app = web.Application()
    if args.mode == "bare":
        app.router.add_post("/{tail:.*}", bare)
    else:
        verifier = Verifier(args.scheme, args.secret, args.public_key_file)
        if args.mode == "naive":
            pool = await asyncpg.create_pool(args.dsn, min_size=10, max_size=20)
            handler = naive_handler(pool, verifier, args.integration, args.sub_account)
        else:
            connection = await asyncpg.connect(args.dsn)
            store = GroupCommit(
                connection, args.integration, args.sub_account, SCHEMES[args.scheme]
            )
            handler = group_handler(store, verifier)
        app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    print("serving", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["bare", "naive", "group"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", default="")
    parser.add_argument("--scheme", choices=sorted(SCHEMES), default="hmac")
    parser.add_argument("--secret", default="")
    parser.add_argument("--public-key-file", type=Path)
    parser.add_argument("--integration", default="")
    parser.add_argument("--sub-account", default="")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as the service")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args))
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
