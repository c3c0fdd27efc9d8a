"""Fixtures for the crypto unit tests: real AES-GCM over the in-memory data key store."""

from __future__ import annotations

import pytest

from adapters.crypto.envelope import EnvelopeCipher
from adapters.crypto.key_manager import KeyManager
from tests.fakes import InMemoryDataKeyStore
from tests.unit.crypto.support import Crypto


@pytest.fixture
def store() -> InMemoryDataKeyStore:
    return InMemoryDataKeyStore()


@pytest.fixture
def crypto(store: InMemoryDataKeyStore) -> Crypto:
    return Crypto.over(store)


@pytest.fixture
def cipher(crypto: Crypto) -> EnvelopeCipher:
    return crypto.cipher


@pytest.fixture
def keys(crypto: Crypto) -> KeyManager:
    return crypto.keys
