"""The envelope cipher and data key rotation on the real persistence adapter."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from adapters.ids import Uuid7Generator
from adapters.persistence.data_keys import SqlAlchemyDataKeyStore
from adapters.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from application.ports import SecretBinding
from domain.errors import SecretUnreadableError
from domain.values import SecretStr
from tests.unit.crypto.support import Crypto, add_template, rotation_under_concurrent_writes


@pytest.mark.parametrize("seed", [1, 2])
async def test_rotation_under_concurrent_writes_loses_nothing(
    session_factory: async_sessionmaker[AsyncSession], seed: int
) -> None:
    result = await rotation_under_concurrent_writes(
        SqlAlchemyUnitOfWorkFactory(session_factory),
        SqlAlchemyDataKeyStore(session_factory),
        seed=seed,
    )

    assert result.secrets_reencrypted > 0


async def test_shredding_makes_a_sub_accounts_secrets_unreadable_and_spares_the_others(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    crypto = Crypto.over(SqlAlchemyDataKeyStore(session_factory))
    ours = SecretBinding("sub-a", "int-1", "apiKey")
    theirs = SecretBinding("sub-b", "int-2", "apiKey")
    sealed_ours = await crypto.cipher.encrypt(ours, SecretStr("ours"))
    sealed_theirs = await crypto.cipher.encrypt(theirs, SecretStr("theirs"))

    assert await crypto.keys.shred("sub-a") == 1

    cold = crypto.fresh_process()
    with pytest.raises(SecretUnreadableError, match="no longer exists"):
        await cold.cipher.decrypt(ours, sealed_ours)
    assert (await cold.cipher.decrypt(theirs, sealed_theirs)).reveal() == "theirs"


async def test_a_sub_accounts_first_secret_can_be_sealed_inside_a_unit_of_work(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """CreateIntegration seals inside its transaction; the first secret of a sub-account makes
    its data key, which the store commits in a transaction of its own (on SQLite, one that must
    not wait for a write lock held by the unit of work)."""
    uow = SqlAlchemyUnitOfWorkFactory(session_factory)
    crypto = Crypto.over(SqlAlchemyDataKeyStore(session_factory))
    template = await add_template(uow, Uuid7Generator())
    binding = SecretBinding("sub-a", "int-1", "apiKey")

    async with uow() as tx:
        assert await tx.templates.get(template.id) is not None
        secret = await crypto.cipher.encrypt(binding, SecretStr("value"))

    assert (await crypto.fresh_process().cipher.decrypt(binding, secret)).reveal() == "value"
