"""The bare gRPC baseline of the reads benchmark: grpc.aio serving GetIntegration and
ListIntegrations from the same tables with one asyncpg query each (default asyncpg pool), the
rows mapped to the same protobuf messages (secrets masked), no interceptors and no auth.

Run: ``python bench/grpc_baseline.py --port P --dsn DSN [--uvloop]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import grpc
from google.protobuf import struct_pb2, timestamp_pb2

from integrations.v1 import integration_pb2, integration_service_pb2, integration_service_pb2_grpc

_COLUMNS = (
    "id, sub_account_id, template_name, name, description, is_active, status, config, secrets, "
    "error_code, error_message, created_by_admin_id, created_at, updated_at, version"
)
_GET = f"SELECT {_COLUMNS} FROM integrations WHERE id = $1"
_LIST = (
    f"SELECT {_COLUMNS} FROM integrations WHERE sub_account_id = $1 AND id > $2 "
    "ORDER BY id LIMIT $3"
)
_STATES = {
    "pending": integration_pb2.Integration.STATE_PENDING,
    "active": integration_pb2.Integration.STATE_ACTIVE,
    "error": integration_pb2.Integration.STATE_ERROR,
    "disconnected": integration_pb2.Integration.STATE_DISCONNECTED,
}


def _stamp(value: Any) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def to_proto(row: asyncpg.Record) -> integration_pb2.Integration:
    secrets = json.loads(row["secrets"])
    config = {**json.loads(row["config"]), **dict.fromkeys(secrets, "********")}
    struct = struct_pb2.Struct()
    struct.update(config)
    return integration_pb2.Integration(
        name=f"integrations/{row['id']}",
        sub_account_id=row["sub_account_id"],
        template=f"integrationTemplates/{row['template_name']}",
        display_name=row["name"],
        description=row["description"],
        is_active=row["is_active"],
        state=_STATES.get(row["status"], integration_pb2.Integration.STATE_UNSPECIFIED),
        config=struct,
        secret_fields=sorted(secrets),
        error_code=row["error_code"] or "",
        error_message=row["error_message"] or "",
        creator=row["created_by_admin_id"] or "",
        create_time=_stamp(row["created_at"]),
        update_time=_stamp(row["updated_at"]),
        etag=f'W/"{row["version"]}"',
    )


class Baseline(integration_service_pb2_grpc.IntegrationServiceServicer):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def GetIntegration(  # noqa: N802 - gRPC's name
        self, request: integration_service_pb2.GetIntegrationRequest, context: Any
    ) -> integration_service_pb2.GetIntegrationResponse:
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(_GET, request.name.rsplit("/", 1)[-1])
        if row is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "not found")
        return integration_service_pb2.GetIntegrationResponse(integration=to_proto(row))

    async def ListIntegrations(  # noqa: N802 - gRPC's name
        self, request: integration_service_pb2.ListIntegrationsRequest, context: Any
    ) -> integration_service_pb2.ListIntegrationsResponse:
        size = request.page_size or 50
        after = request.page_token or ""
        async with self._pool.acquire() as connection:
            rows = await connection.fetch(_LIST, request.sub_account_id, after, size + 1)
        more = len(rows) > size
        items = [to_proto(row) for row in rows[:size]]
        return integration_service_pb2.ListIntegrationsResponse(
            integrations=items, next_page_token=str(rows[size - 1]["id"]) if more else ""
        )


async def serve(args: argparse.Namespace) -> None:
    pool = await asyncpg.create_pool(args.dsn, min_size=10, max_size=20)
    server = grpc.aio.server()
    baseline = Baseline(pool)  # type: ignore[abstract]  # serves two RPCs; the rest are unimplemented
    integration_service_pb2_grpc.add_IntegrationServiceServicer_to_server(baseline, server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    await server.start()
    print("serving", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as the service")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.run(serve(args))
    else:
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
