"""A pytest plugin: a bearer token may only be minted while a test runs.

A token minted when a module is imported (or while parameters are built at collection) carries a
lifetime counted from then, so it expires while the tests before it run on a slow machine. The
plugin wraps `entrypoints.auth.mint_token` as it is imported, before any test module binds the
name, and the wrapper refuses to mint outside a test's setup, call or teardown."""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator
from typing import Any

import pytest

from entrypoints import auth

_in_test = False


class TokenMintedOutsideATestError(RuntimeError):
    """A bearer token was minted at import or collection time."""


def _only_inside_a_test(mint: Callable[..., str]) -> Callable[..., str]:
    @functools.wraps(mint)
    def guarded(*args: Any, **kwargs: Any) -> str:
        if not _in_test:
            raise TokenMintedOutsideATestError(
                "a bearer token was minted outside a running test (at import or collection); "
                "its lifetime would run out before the tests that use it: mint it in the test "
                "or in a fixture"
            )
        return mint(*args, **kwargs)

    return guarded


auth.mint_token = _only_inside_a_test(auth.mint_token)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    global _in_test
    _in_test = True
    try:
        return (yield)
    finally:
        _in_test = False
