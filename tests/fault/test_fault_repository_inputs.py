"""Bad input at the repository layer: emails, ids, sort names, pages, audit rows.

Every case is refused before any SQL (``no_sql``) with a one-line,
secret-free error, and the data is unchanged afterwards. Runs on the default
server (nothing here kills it), in a migrated database of its own.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

import dashtam_nb as dn
from dashtam_nb import admin, migrations
from dashtam_nb.entities import AuditEntry, User
from dashtam_nb.models import AuditLogModel
from dashtam_nb.pagination import MAX_PAGE_SIZE
from dashtam_nb.repositories import (
    AccountRepository,
    AuditLogRepository,
    TransactionRepository,
    UserRepository,
)
from tests.support.bad_inputs import INJECTIONS
from tests.support.harness import assert_error_clean, bad_input, no_sql

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.fault

REPOS = [UserRepository, AccountRepository, TransactionRepository, AuditLogRepository]
SORTED_READS = ["find_all_paginated", "paginate", "paginate_after", "find_all_frame"]
BAD_SORTS: list[Any] = [*INJECTIONS, "", "password_hash", "EMAIL", None, 1, ["id"]]
BAD_PAGES: list[Any] = [0, -1, True, 1.5, "2", None, 10**12]
BAD_PAGE_SIZES: list[Any] = [0, -1, MAX_PAGE_SIZE + 1, True, "20", None, 2.5]
BAD_IDS: list[Any] = [
    "",
    "not-a-uuid",
    "1234",
    123,
    1.5,
    True,
    None,
    b"\x00" * 16,
    "0190c6a2-7b1e-7c3d-8e9f-00000000000g",
    "{0190c6a2-7b1e-7c3d-8e9f-000000000001",
    "0190c6a2-7b1e-7c3d-8e9f-000000000001\x00",
    "\udcff",
    "a" * 10_000,
    *INJECTIONS,
]
BAD_EMAILS: list[Any] = [
    "",
    "plain",
    "a@",
    "@b.co",
    "a b@c.de",
    "a@b.co\x00",
    "\udcff@b.co",
    "a" * 250 + "@b.co",
    "two@@b.co",
    None,
    42,
    *[s for s in INJECTIONS if "@" not in s],
]
ID_METHODS = ["find_by_id", "soft_delete", "restore", "delete"]


@pytest.fixture(scope="module")
def repo_db() -> Iterator[dn.Database]:
    name = f"fault_repo_inputs_{os.getpid()}"
    db = dn.connect(name, fresh=True, default=False)
    migrations.upgrade("head", db=db)

    async def seed() -> None:
        async with db.get_session() as session:
            user = await UserRepository(session).save(
                User(email="kept@example.com", password_hash="h")
            )
            await AuditLogRepository(session).append(
                AuditEntry(action="login", user_id=user.id, resource_type="user")
            )

    dn.run(seed())
    yield db
    dn.run(db.close())
    dn.drop_database(name)


async def _snapshot(db: dn.Database) -> tuple[Any, ...]:
    return (
        await db.ascalar("SELECT string_agg(email, ',' ORDER BY email) FROM users"),
        await db.ascalar("SELECT string_agg(action, ',') FROM audit_logs"),
    )


async def _refused(
    db: dn.Database, error: type[dn.DashtamError], call: Any, *args: Any, **kw: Any
) -> dn.DashtamError:
    bad_input()
    before = await _snapshot(db)
    async with db.get_session() as session:
        await session.execute(text("SELECT 1"))  # connected before the check
        with no_sql(), pytest.raises(error) as info:
            await call(session)(*args, **kw)
    assert_error_clean(info.value)
    assert await _snapshot(db) == before
    return info.value


@pytest.mark.parametrize("sort", BAD_SORTS, ids=lambda v: repr(v)[:30])
@pytest.mark.parametrize("method", SORTED_READS)
@pytest.mark.parametrize("repo", REPOS, ids=lambda r: r.__name__)
async def test_bad_sort_names(
    repo_db: dn.Database, repo: type[Any], method: str, sort: Any
) -> None:
    err = await _refused(
        repo_db, dn.ValidationError, lambda s: getattr(repo(s), method), sort=sort
    )
    assert err.field == "sort"  # type: ignore[attr-defined]


@pytest.mark.parametrize("page", BAD_PAGES, ids=repr)
@pytest.mark.parametrize("method", ["find_all_paginated", "paginate"])
async def test_bad_pages(repo_db: dn.Database, method: str, page: Any) -> None:
    err = await _refused(
        repo_db, dn.ValidationError, lambda s: getattr(UserRepository(s), method), page
    )
    assert err.field == "page"  # type: ignore[attr-defined]


@pytest.mark.parametrize("size", BAD_PAGE_SIZES, ids=repr)
@pytest.mark.parametrize("method", ["find_all_paginated", "paginate", "paginate_after"])
async def test_bad_page_sizes(repo_db: dn.Database, method: str, size: Any) -> None:
    err = await _refused(
        repo_db,
        dn.ValidationError,
        lambda s: getattr(UserRepository(s), method),
        page_size=size,
    )
    assert err.field == "page_size"  # type: ignore[attr-defined]


@pytest.mark.parametrize("ident", BAD_IDS, ids=lambda v: repr(v)[:30])
@pytest.mark.parametrize("method", ID_METHODS)
async def test_bad_ids(repo_db: dn.Database, method: str, ident: Any) -> None:
    await _refused(
        repo_db, dn.InvalidIdError, lambda s: getattr(UserRepository(s), method), ident
    )


@pytest.mark.parametrize("email", BAD_EMAILS, ids=lambda v: repr(v)[:30])
async def test_bad_emails_on_save(repo_db: dn.Database, email: Any) -> None:
    err = await _refused(
        repo_db,
        dn.ValidationError,
        lambda s: UserRepository(s).save,
        User(email=email, password_hash="h"),
    )
    assert err.field == "email"  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", INJECTIONS, ids=lambda v: repr(v)[:30])
async def test_injection_in_email_lookup_finds_nothing(
    repo_db: dn.Database, value: str
) -> None:
    bad_input()
    before = await _snapshot(repo_db)
    async with repo_db.get_session() as session:
        assert await UserRepository(session).find_by_email(value) is None
    assert await _snapshot(repo_db) == before


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_logs SET action = 'forged'",
        "DELETE FROM audit_logs",
        "TRUNCATE audit_logs",
    ],
)
async def test_audit_rows_cannot_change_in_sql(repo_db: dn.Database, sql: str) -> None:
    bad_input(2)
    before = await _snapshot(repo_db)
    # The app role has no such privilege; the owner meets the trigger.
    with pytest.raises(dn.PermissionDeniedError) as refused:
        await repo_db.aexecute(sql)
    assert_error_clean(refused.value)
    owner = admin.owner_database(repo_db)
    try:
        with pytest.raises(dn.ImmutableRecordError) as info:
            await owner.aexecute(sql)
    finally:
        if owner is not repo_db:
            await owner.close()
    assert_error_clean(info.value)
    assert await _snapshot(repo_db) == before


async def test_audit_rows_cannot_change_through_the_orm(repo_db: dn.Database) -> None:
    bad_input(2)
    before = await _snapshot(repo_db)
    async with repo_db.get_session() as session:
        entry = (await AuditLogRepository(session).find_by_resource("user", None))[0]
        with no_sql(), pytest.raises(dn.ImmutableRecordError):
            await AuditLogRepository(session).delete(entry)
    with pytest.raises(dn.ImmutableRecordError) as info:
        async with repo_db.get_session() as session:
            row = await session.get(AuditLogModel, entry.id)
            assert row is not None
            row.action = "forged"
            await session.flush()
    assert_error_clean(info.value)
    assert await _snapshot(repo_db) == before
