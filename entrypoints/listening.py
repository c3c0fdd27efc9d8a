"""Why a server could not listen where it was told to."""

from __future__ import annotations

import errno
import socket


class CannotListenError(OSError):
    """A server cannot listen where it was told to; the message says which, where and why."""

    def __str__(self) -> str:
        return str(self.strerror)


class PortInUseError(CannotListenError):
    """Another process listens on the port; copies share one only when told to (REUSE_PORT)."""

    def __init__(self, server: str, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"{server}: {host}:{port} is already in use by another process (stop it, choose "
            "another port, or set REUSE_PORT=true for copies meant to share it)",
        )


def bind_error(server: str, host: str, port: int) -> CannotListenError:
    """Why `server` could not listen on host:port, for a server that does not say (gRPC's core
    only logs it): found by binding a socket there the same way."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            return PortInUseError(server, host, port)
        return cannot_listen(server, host, port, err)
    return CannotListenError(0, f"{server}: cannot listen on {host}:{port}")


def cannot_listen(server: str, host: str, port: int, err: OSError) -> CannotListenError:
    return CannotListenError(err.errno, f"{server}: cannot listen on {host}:{port}: {err.strerror}")
