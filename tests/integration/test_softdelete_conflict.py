"""A save never resurrects a deleted row nor undoes a change it did not see.

Every mutable row has a ``version`` (SQLAlchemy's ``version_id_col``); every
write bumps it, and a save of a copy read at an older version is refused
with a one-line `ConflictError` naming the entity and id. The races are
driven step by step with two sessions and ``pg_stat_activity``, never with
sleeps that hope for an order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

import dashtam_nb as dn
from dashtam_nb.entities import Account, User
from dashtam_nb.models import UserModel
from dashtam_nb.repositories import AccountRepository, UserRepository

pytestmark = pytest.mark.integration


async def stored_user(db: dn.Database, email: str = "ann@example.com") -> User:
    async with db.get_session() as s:
        return await UserRepository(s).save(User(email=email, password_hash="h"))


async def row(db: dn.Database, uid: object) -> tuple[str, bool, int]:
    [found] = await db.aexecute(
        "SELECT email, is_deleted, version FROM users WHERE id = :i", {"i": uid}
    )
    return found.email, found.is_deleted, found.version


async def waiters_on(db: dn.Database, table: str) -> int:
    """Sessions of this database blocked on a lock while updating ``table``."""
    async with db.engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND query LIKE :q"
                ),
                {"q": f"UPDATE {table}%"},
            )
        )


async def test_every_write_bumps_the_version(schema_db) -> None:
    ann = await stored_user(schema_db)
    assert ann.version == 1
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        moved = await repo.save(dataclasses.replace(ann, email="ann2@example.com"))
        assert moved.version == 2
        unchanged = await repo.save(moved)  # nothing to write: no UPDATE
        assert unchanged.version == 2
        await repo.soft_delete(ann.id)
        hidden = await repo.find_by_id(ann.id, include_deleted=True)
        assert hidden is not None
        assert hidden.version == 3
        await repo.restore(ann.id)
        back = await repo.find_by_id(ann.id)
    assert back is not None
    assert back.version == 4
    assert await row(schema_db, ann.id) == ("ann2@example.com", False, 4)


async def test_stale_save_after_a_concurrent_soft_delete_is_a_conflict(
    schema_db,
) -> None:
    ann = await stored_user(schema_db)  # the notebook holds this copy (v1)
    async with schema_db.get_session() as other:
        assert await UserRepository(other).soft_delete(ann.id)  # committed: v2
    stale = dataclasses.replace(ann, email="ann.new@example.com")
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ConflictError) as info:
            await UserRepository(s).save(stale)
        # The session survives the refused save.
        assert await UserRepository(s).count(include_deleted=True) == 1
    message = str(info.value)
    assert "\n" not in message
    assert f"user {ann.id} is stale" in message
    assert "version 1, row at 2" in message
    # The lost delete did not happen: the row is still deleted, unchanged.
    assert await row(schema_db, ann.id) == ("ann@example.com", True, 2)


async def test_stale_copy_from_the_same_session_cannot_undo_its_soft_delete(
    schema_db,
) -> None:
    ann = await stored_user(schema_db)
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        copy = await repo.find_by_id(ann.id)
        assert copy is not None
        assert await repo.soft_delete(copy)
        with pytest.raises(dn.ConflictError):
            await repo.save(dataclasses.replace(copy, is_active=False))
    assert await row(schema_db, ann.id) == ("ann@example.com", True, 2)


async def test_concurrent_update_is_not_lost(schema_db) -> None:
    ann = await stored_user(schema_db)
    async with schema_db.get_session() as a, schema_db.get_session() as b:
        a_copy = await UserRepository(a).find_by_id(ann.id)
        b_copy = await UserRepository(b).find_by_id(ann.id)
        held = await b.get(UserModel, ann.id)  # B's identity map keeps v1
        assert held is not None
        assert a_copy is not None
        assert b_copy is not None
        await UserRepository(a).save(dataclasses.replace(a_copy, is_active=False))
        await a.commit()
        # B's session cached the row at v1, so its check passes in Python; the
        # UPDATE's "WHERE version = 1" is what finds A's committed v2.
        with pytest.raises(dn.ConflictError) as info:
            await UserRepository(b).save(
                dataclasses.replace(b_copy, email="bee@example.com")
            )
        assert "changed or deleted meanwhile" in str(info.value)
        assert str(ann.id) in str(info.value)
    # A's change stands; B's did not overwrite it.
    email, deleted, version = await row(schema_db, ann.id)
    assert (email, deleted, version) == ("ann@example.com", False, 2)
    assert await schema_db.ascalar("SELECT is_active FROM users") is False


def test_save_blocked_by_an_uncommitted_soft_delete_fails_once_it_commits(
    schema_db,
) -> None:
    ann = dn.run(stored_user(schema_db))
    stale = dataclasses.replace(ann, email="late@example.com")

    async def b_side() -> BaseException | None:
        async with schema_db.get_session() as b:
            try:
                await UserRepository(b).save(stale)
            except dn.ConflictError as exc:
                return exc
        return None

    async def race() -> BaseException | None:
        # On the owner loop, like the package itself, so the raw engine works.
        async with schema_db.get_session() as a:
            assert await UserRepository(a).soft_delete(ann.id)  # holds the lock
            # B reads the committed row (v1, live): its check passes, and its
            # UPDATE waits for A's lock.
            b_task = asyncio.create_task(b_side())
            deadline = time.monotonic() + 10
            while await waiters_on(schema_db, "users") < 1:
                assert time.monotonic() < deadline, "B never waited for the lock"
                assert not b_task.done()
                await asyncio.sleep(0.01)
        # A committed on leaving the block; B's WHERE version = 1 now fails.
        return await asyncio.wait_for(b_task, 10)

    refused = dn.run(race())
    assert isinstance(refused, dn.ConflictError)
    assert "changed or deleted meanwhile" in str(refused)
    assert dn.run(row(schema_db, ann.id)) == ("ann@example.com", True, 2)


async def test_a_never_read_entity_cannot_overwrite_an_existing_row(schema_db) -> None:
    ann = await stored_user(schema_db)
    blind = User(id=ann.id, email="blind@example.com", password_hash="h")
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ConflictError, match="was never read"):
            await UserRepository(s).save(blind)
    assert await row(schema_db, ann.id) == ("ann@example.com", False, 1)


async def test_a_purged_row_is_not_reinserted_by_a_stale_save(schema_db) -> None:
    ann = await stored_user(schema_db)
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        await repo.soft_delete(ann.id)
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert await repo.purge(older_than=later) == 1
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ConflictError, match="no longer exists"):
            await UserRepository(s).save(ann)
    assert await schema_db.ascalar("SELECT count(*) FROM users") == 0


async def test_is_deleted_changes_only_through_soft_delete_and_restore(
    schema_db,
) -> None:
    ann = await stored_user(schema_db)
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ValidationError) as info:
            await UserRepository(s).save(dataclasses.replace(ann, is_deleted=True))
    assert info.value.field == "is_deleted"
    assert await row(schema_db, ann.id) == ("ann@example.com", False, 1)


async def test_account_saves_are_version_checked_too(schema_db) -> None:
    ann = await stored_user(schema_db)
    async with schema_db.get_session() as s:
        acct = await AccountRepository(s).save(
            Account(
                user_id=ann.id, name="Main", institution="B", account_type="savings"
            )
        )
    async with schema_db.get_session() as s:
        await AccountRepository(s).save(dataclasses.replace(acct, name="Renamed"))
    async with schema_db.get_session() as s:
        with pytest.raises(dn.ConflictError, match=f"account {acct.id} is stale"):
            await AccountRepository(s).save(dataclasses.replace(acct, name="Old"))
    assert await schema_db.ascalar("SELECT name FROM accounts") == "Renamed"
