"""SqlAlchemyDataKeyStore against the DataKeyStore contract."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from application.ports import DataKeyStore, UnitOfWorkFactory, WrappedDataKey
from domain.errors import AlreadyExistsError, NotFoundError
from tests.support.builders import NOW, a_template, an_integration
from tests.support.waiting import PATIENCE_SECONDS


def _key(key_id: str, sub_account_id: str = "sub-a", *, minutes: int = 0) -> WrappedDataKey:
    return WrappedDataKey(
        key_id=key_id,
        sub_account_id=sub_account_id,
        wrapped=b"\x00wrapped:" + key_id.encode(),
        master_key_id="mk-1",
        created_at=NOW + timedelta(minutes=minutes),
    )


async def test_an_added_key_reads_back_as_it_was_written(data_keys: DataKeyStore) -> None:
    key = _key("dk-1")
    await data_keys.add(key)

    loaded = await data_keys.get("dk-1")

    assert loaded == key
    assert loaded is not None
    assert loaded.created_at.tzinfo is not None
    assert await data_keys.get("dk-unknown") is None


async def test_the_newest_key_is_the_latest_created_then_the_greatest_id(
    data_keys: DataKeyStore,
) -> None:
    assert await data_keys.newest("sub-a") is None
    for key in (_key("dk-b", minutes=1), _key("dk-a", minutes=5), _key("dk-c", minutes=5)):
        await data_keys.add(key)
    await data_keys.add(_key("dk-other", "sub-b", minutes=9))

    newest = await data_keys.newest("sub-a")

    assert newest is not None
    assert newest.key_id == "dk-c"


async def test_every_key_is_listed(data_keys: DataKeyStore) -> None:
    keys = [_key("dk-1", "sub-a"), _key("dk-2", "sub-b", minutes=1)]
    for key in keys:
        await data_keys.add(key)

    assert await data_keys.list_all() == keys


async def test_a_key_id_is_stored_once(data_keys: DataKeyStore) -> None:
    await data_keys.add(_key("dk-1"))

    with pytest.raises(AlreadyExistsError):
        await data_keys.add(_key("dk-1", "sub-b"))


async def test_rewrapping_replaces_only_the_wrapping(data_keys: DataKeyStore) -> None:
    key = _key("dk-1")
    await data_keys.add(key)

    await data_keys.rewrap("dk-1", wrapped=b"rewrapped", master_key_id="mk-2")

    loaded = await data_keys.get("dk-1")
    assert loaded is not None
    assert (loaded.wrapped, loaded.master_key_id) == (b"rewrapped", "mk-2")
    assert (loaded.sub_account_id, loaded.created_at) == (key.sub_account_id, key.created_at)


async def test_rewrapping_an_unknown_key_is_not_found(data_keys: DataKeyStore) -> None:
    with pytest.raises(NotFoundError):
        await data_keys.rewrap("dk-unknown", wrapped=b"x", master_key_id="mk-2")


async def test_a_deleted_key_is_gone_and_deleting_it_again_is_harmless(
    data_keys: DataKeyStore,
) -> None:
    await data_keys.add(_key("dk-1"))
    await data_keys.add(_key("dk-2"))

    await data_keys.delete("dk-1")
    await data_keys.delete("dk-1")

    assert [k.key_id for k in await data_keys.list_all()] == ["dk-2"]


async def test_shredding_a_sub_account_deletes_all_its_keys_and_no_others(
    data_keys: DataKeyStore,
) -> None:
    for key in (_key("dk-1"), _key("dk-2", minutes=1), _key("dk-3", "sub-b")):
        await data_keys.add(key)

    assert await data_keys.delete_sub_account("sub-a") == 2
    assert await data_keys.delete_sub_account("sub-a") == 0
    assert await data_keys.newest("sub-a") is None
    assert [k.key_id for k in await data_keys.list_all()] == ["dk-3"]


async def test_a_unit_of_work_that_has_only_read_does_not_hold_up_a_new_key(
    data_keys: DataKeyStore, uow_factory: UnitOfWorkFactory
) -> None:
    # CreateIntegration seals secrets after reading the template: the sub-account's first
    # secret creates its data key, committed in a transaction of its own.
    template = a_template()
    async with uow_factory() as uow:
        await uow.templates.add(template)
        await uow.commit()

    async with uow_factory() as uow:
        assert await uow.templates.get(template.id) is not None
        await asyncio.wait_for(data_keys.add(_key("dk-1")), timeout=PATIENCE_SECONDS)
        await uow.integrations.add(an_integration(template))
        await uow.commit()

    assert await data_keys.get("dk-1") is not None
    async with uow_factory() as uow:
        assert await uow.integrations.list_sub_account_ids() == ["sub-1"]


async def test_reading_keys_does_not_wait_for_an_open_unit_of_work(
    data_keys: DataKeyStore, uow_factory: UnitOfWorkFactory
) -> None:
    # The cipher reads data keys while a use case's transaction is open (sealing secrets).
    await data_keys.add(_key("dk-1"))

    async with uow_factory() as uow:
        await uow.templates.add(a_template())  # holds the write lock on SQLite
        newest = await asyncio.wait_for(data_keys.newest("sub-a"), timeout=PATIENCE_SECONDS)
        await uow.commit()

    assert newest is not None
    assert newest.key_id == "dk-1"
