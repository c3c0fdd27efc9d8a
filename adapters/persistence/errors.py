"""Translating database failures into domain errors at the adapter's boundary."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import exc

from domain.errors import InvalidArgumentError, StorageUnavailableError

P = ParamSpec("P")
R = TypeVar("R")

# SQLSTATE classes that mean "try again": connection exception, transaction rollback
# (serialization failure, deadlock), insufficient resources, operator intervention; and the
# refusals of a connection to a database or role that is gone (invalid catalog name, invalid
# authorization), which come back when it does.
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "3D", "28"})


def is_transient(err: BaseException) -> bool:
    """Whether `err` says the database is unreachable or busy, rather than the request wrong.
    Besides SQLAlchemy's errors, asyncpg's own, for statements sent to the driver directly
    (the inbox writer's batches, integration_reads)."""
    if isinstance(err, asyncpg.PostgresError):
        return str(err.sqlstate)[:2] in _TRANSIENT_SQLSTATE_CLASSES
    if isinstance(err, asyncpg.InterfaceError):  # the connection was lost, or is unusable
        return True
    if isinstance(err, exc.DBAPIError):
        orig = err.orig
        if err.connection_invalidated:
            return True
        if isinstance(orig, sqlite3.Error):
            # SQLite reports both "locked"/"cannot open" and SQL mistakes as OperationalError;
            # the mistakes are the generic SQLITE_ERROR.
            return (
                isinstance(orig, sqlite3.OperationalError)
                and getattr(orig, "sqlite_errorname", "") != "SQLITE_ERROR"
            )
        sqlstate = getattr(orig, "sqlstate", None)
        return isinstance(err, exc.OperationalError | exc.InterfaceError) or (
            isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES
        )
    return isinstance(
        err,
        exc.DisconnectionError
        | exc.TimeoutError  # the pool had no connection to give
        | OSError  # asyncpg raises the socket's error when it cannot connect
        | TimeoutError,
    )


_DRIVER_ERRORS = (exc.SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error)


def is_database_unavailable(err: BaseException) -> bool:
    """Whether `err` is the database layer's own error (SQLAlchemy's, a driver's) saying the
    database is unreachable or busy: for the entrypoints' safety nets, which may meet one that
    no adapter translated."""
    return isinstance(err, _DRIVER_ERRORS) and is_transient(err)


def is_bad_value(err: BaseException) -> bool:
    """Whether Postgres refused a value itself (SQLSTATE class 22, data exception: a NUL
    character in a text, a number out of range): the request is wrong, retrying cannot help."""
    if isinstance(err, asyncpg.PostgresError):
        return str(err.sqlstate).startswith("22")
    if not isinstance(err, exc.DBAPIError) or isinstance(err.orig, sqlite3.Error):
        return False
    sqlstate = getattr(err.orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


def is_unique_violation(err: exc.IntegrityError) -> bool:
    orig = err.orig
    if isinstance(orig, sqlite3.IntegrityError):
        return getattr(orig, "sqlite_errorname", "") in {
            "SQLITE_CONSTRAINT_UNIQUE",
            "SQLITE_CONSTRAINT_PRIMARYKEY",
        }
    return getattr(orig, "sqlstate", None) == "23505"


@contextmanager
def storage_errors() -> Iterator[None]:
    """Re-raise transient database failures as StorageUnavailableError and values the database
    refuses as InvalidArgumentError, chained."""
    try:
        yield
    except Exception as err:
        if is_transient(err):
            raise StorageUnavailableError("the database is unavailable, try again") from err
        if is_bad_value(err):
            raise InvalidArgumentError(
                "a value cannot be stored: it holds a character or a number the database refuses"
            ) from err
        raise


def translated(fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Decorate an adapter method with `storage_errors`."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with storage_errors():
            return await fn(*args, **kwargs)

    return wrapper
