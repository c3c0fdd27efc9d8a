"""The platform's front end and a person's browser, as the end-to-end tests of connecting by
signing in play them."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import aiohttp

from integrations.v1 import (
    connection_pb2,
    connection_service_pb2,
    connection_service_pb2_grpc,
    integration_pb2,
    integration_service_pb2,
    integration_service_pb2_grpc,
)

RETURN_URL = "https://app.example/integrations/connected"
SUB_ACCOUNT = "sa-connect"
State = connection_pb2.ConnectionSession.State


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class FrontEnd:
    """The platform's front end: gRPC with a user's token of the sub-account."""

    connections: connection_service_pb2_grpc.ConnectionServiceStub
    integrations: integration_service_pb2_grpc.IntegrationServiceStub
    metadata: tuple[tuple[str, str], ...]

    async def start(self, template: str, **fields: object) -> tuple[str, str]:
        request = connection_service_pb2.StartConnectionRequest(
            sub_account_id=SUB_ACCOUNT,
            template=f"integrationTemplates/{template}",
            display_name="Connected by signing in",
            return_url=RETURN_URL,
        )
        for name, value in fields.items():
            setattr(request, name, value)
        started = await self.connections.StartConnection(request, metadata=self.metadata)
        assert started.connection_session.state == State.STATE_PENDING
        return started.authorization_url, started.connection_session.name

    async def session(self, name: str) -> connection_pb2.ConnectionSession:
        answer = await self.connections.GetConnectionSession(
            connection_service_pb2.GetConnectionSessionRequest(name=name), metadata=self.metadata
        )
        return answer.connection_session

    async def integration(self, name: str) -> integration_pb2.Integration:
        answer = await self.integrations.GetIntegration(
            integration_service_pb2.GetIntegrationRequest(name=name), metadata=self.metadata
        )
        return answer.integration


async def to_callback(http: aiohttp.ClientSession, authorization_url: str) -> str:
    """The person signs in at the provider: its page sends the browser to the callback."""
    async with http.get(authorization_url, allow_redirects=False) as answer:
        assert answer.status in (302, 303), await answer.text()
        callback = answer.headers["Location"]
    assert "/oauth/" in callback
    return callback


async def back_to_the_front_end(http: aiohttp.ClientSession, callback: str) -> dict[str, str]:
    """The browser follows the callback; the service sends it to the return URL."""
    async with http.get(callback, allow_redirects=False) as answer:
        assert answer.status == 303, await answer.text()
        location = answer.headers["Location"]
    assert location.startswith(RETURN_URL + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def sign_in(authorization_url: str) -> dict[str, str]:
    async with aiohttp.ClientSession() as http:
        return await back_to_the_front_end(http, await to_callback(http, authorization_url))
