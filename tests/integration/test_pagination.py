"""Offset and keyset pagination against real PostgreSQL (issue 5, parts 1-3).

The page functions run on the owner loop with a real session, as repository
methods do (`in_session` wraps ``dn.run``). Rows that must tie on
``created_at`` are inserted in one transaction, where ``now()`` is constant.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import select, text

import dashtam_nb as dn
from dashtam_nb import frames, pagination
from dashtam_nb.entities import Transaction, User
from dashtam_nb.models import AccountModel, TransactionModel, UserModel
from dashtam_nb.pagination import KeysetPage, Page, keyset_page, offset_page
from dashtam_nb.repositories import UserRepository

pytestmark = pytest.mark.integration


def no_frame(items: list[Any]) -> pd.DataFrame:
    """For reads whose frame the test never looks at."""
    return pd.DataFrame()


def user_frame(items: list[User]):
    return frames.to_frame(items, User, model=UserModel)


def in_session(db: dn.Database, work: Any) -> Any:
    """Run ``await work(session)`` on the owner loop in one committed session."""

    async def go() -> Any:
        async with db.get_session() as session:
            return await work(session)

    return dn.run(go())


def add_users(db: dn.Database, n: int, prefix: str = "u") -> list[Any]:
    """Insert ``n`` users in ONE transaction: they share ``created_at``."""
    rows = [
        UserModel(email=f"{prefix}{i:04d}@example.com", password_hash="h")
        for i in range(n)
    ]

    async def work(s: Any) -> None:
        s.add_all(rows)
        await s.flush()

    in_session(db, work)
    return [r.id for r in rows]


def users_select(include_deleted: bool = False) -> Any:
    return select(UserModel).execution_options(include_deleted=include_deleted)


def opage(db: dn.Database, page: Any, size: Any = 10, **kw: Any) -> Page[User]:
    include_deleted = kw.pop("include_deleted", False)

    async def work(s: Any) -> Page[User]:
        return await offset_page(
            s,
            UserModel,
            users_select(include_deleted),
            page=page,
            page_size=size,
            to_item=lambda m: m.to_entity(),
            to_frame=user_frame,
            **kw,
        )

    page_: Page[User] = in_session(db, work)
    return page_


def kpage(db: dn.Database, cursor: Any = None, size: Any = 7, **kw: Any) -> Any:
    include_deleted = kw.pop("include_deleted", False)

    async def work(s: Any) -> KeysetPage[User]:
        return await keyset_page(
            s,
            UserModel,
            users_select(include_deleted),
            cursor=cursor,
            page_size=size,
            to_item=lambda m: m.to_entity(),
            to_frame=user_frame,
            **kw,
        )

    return in_session(db, work)


def walk(db: dn.Database, size: int = 7, **kw: Any) -> list[KeysetPage[User]]:
    pages = [kpage(db, None, size, **kw)]
    while pages[-1].next_cursor:
        pages.append(kpage(db, pages[-1].next_cursor, size, **kw))
    return pages


def ids(page: Any) -> list[Any]:
    return [u.id for u in page.items]


# -- offset pages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "descending"),
    [("created_at", False), ("created_at", True), ("is_active", False)],
)
def test_25_rows_page_10_gives_10_10_5_0_and_every_row_once_despite_ties(
    schema_db, sort, descending
) -> None:
    everyone = add_users(schema_db, 25)
    stamps = schema_db.scalar("SELECT count(DISTINCT created_at) FROM users")
    assert stamps == 1  # every row ties on created_at (and on is_active)
    pages = [
        opage(schema_db, n, 10, sort=sort, descending=descending) for n in (1, 2, 3, 4)
    ]
    assert [len(p) for p in pages] == [10, 10, 5, 0]
    seen = [i for p in pages for i in ids(p)]
    assert len(seen) == len(set(seen)) == 25
    assert set(seen) == set(everyone)
    # The tiebreaker is id, in the requested direction.
    assert seen == sorted(everyone, reverse=descending)
    assert [p.total for p in pages] == [25] * 4
    assert [(p.has_prev, p.has_next) for p in pages] == [
        (False, True),
        (True, True),
        (True, False),
        (True, False),
    ]


def test_page_past_the_end_is_empty_with_the_same_columns_and_dtypes(
    schema_db,
) -> None:
    add_users(schema_db, 3)
    first, beyond = opage(schema_db, 1), opage(schema_db, 99)
    assert (len(beyond), beyond.total, beyond.pages) == (0, 3, 1)
    assert list(beyond.frame.columns) == list(first.frame.columns)
    assert beyond.frame.dtypes.to_dict() == first.frame.dtypes.to_dict()
    assert "password_hash" not in first.frame.columns


BAD_ARGS = [
    *({"page": v} for v in (0, -1, True, 1.0, "1", None, 10**9 + 1)),
    *({"size": v} for v in (0, 1001, False, 2.5, "10", None)),
    {"sort": "nope"},
    {"sort": "password_hash"},
    {"sort": 3},
    {"sort": "created_at; DROP TABLE users"},
    {"descending": "yes"},
    {"descending": 1},
    {"total": "maybe"},
    {"total": None},
]


@pytest.mark.parametrize("bad", BAD_ARGS, ids=repr)
def test_bad_offset_arguments_raise_validation_error_before_sql(
    schema_db, sql_log, bad
) -> None:
    args = {"page": 1, "size": 10, **bad}

    async def work(s: Any) -> None:
        await s.execute(text("SELECT 1"))  # connect first: only our SQL counts
        before = len(sql_log)
        with pytest.raises(dn.ValidationError) as info:
            await offset_page(
                s,
                UserModel,
                users_select(),
                page=args.pop("page"),
                page_size=args.pop("size"),
                to_item=lambda m: m,
                to_frame=user_frame,
                **args,
            )
        assert len(sql_log) == before, sql_log[before:]
        assert "\n" not in str(info.value)

    in_session(schema_db, work)


def test_largest_page_size_is_accepted(schema_db) -> None:
    add_users(schema_db, 3)
    assert len(opage(schema_db, 1, pagination.MAX_PAGE_SIZE)) == 3


def test_total_is_exact_estimate_auto_or_none_and_the_page_says_which(
    schema_db,
) -> None:
    everyone = add_users(schema_db, 30)
    schema_db.execute(
        "UPDATE users SET is_deleted = true, deleted_at = now() WHERE id = :i",
        {"i": everyone[0]},
    )
    schema_db.execute("ANALYZE users")
    exact, est = (
        opage(schema_db, 1, total="exact"),
        opage(schema_db, 1, total="estimate"),
    )
    auto, none = opage(schema_db, 1, total="auto"), opage(schema_db, 2, total="none")
    assert (exact.total, exact.total_kind) == (29, "exact")
    assert est.total_kind == "estimate"
    assert isinstance(est.total, int)
    assert abs(est.total - 29) <= 3  # the planner knows the live fraction
    assert (auto.total, auto.total_kind) == (29, "exact")  # small: counted
    assert (none.total, none.total_kind, none.pages) == (None, "none", None)
    assert (none.has_next, len(none)) == (True, 10)
    # include_deleted reaches the COUNT too (it used to count live rows only).
    assert opage(schema_db, 1, include_deleted=True).total == 30
    assert exact.caption() == "page 1 of 3 · 29 rows"
    assert est.caption().startswith("page 1 of ~")
    assert none.caption() == "page 2 · 10 rows shown"


def test_auto_total_estimates_above_the_limit(schema_db, monkeypatch) -> None:
    add_users(schema_db, 40)
    schema_db.execute("ANALYZE users")
    monkeypatch.setattr(pagination, "AUTO_EXACT_LIMIT", 10)
    assert opage(schema_db, 1, total="auto").total_kind == "estimate"


# -- keyset pages -----------------------------------------------------------------


def test_keyset_walk_sees_every_row_once_while_another_connection_inserts(
    schema_db,
) -> None:
    initial = set(add_users(schema_db, 60))  # one transaction: all tie
    tie = schema_db.scalar("SELECT min(created_at) FROM users")
    inserted: list[Any] = []
    counter = itertools.count()
    # Before every row, tied with all of them, and after: each lands on a
    # different side of the walk's position.
    offsets = itertools.cycle([timedelta(hours=-1), timedelta(0), timedelta(hours=1)])

    async def insert_one() -> None:
        row = UserModel(
            email=f"new{next(counter)}@example.com",
            password_hash="h",
            created_at=tie + next(offsets),
        )
        async with schema_db.get_session() as s:  # its own connection
            s.add(row)
        inserted.append(row.id)

    async def inserter(stop: asyncio.Event) -> None:
        # Bounded: rows keep landing after the position, so an unbounded
        # inserter could outrun the walk forever.
        while not stop.is_set() and len(inserted) < 60:
            await insert_one()
            await asyncio.sleep(0)

    async def walker() -> list[Any]:
        seen: list[Any] = []
        cursor = None
        while True:
            async with schema_db.get_session() as s:
                page = await keyset_page(
                    s,
                    UserModel,
                    users_select(),
                    cursor=cursor,
                    page_size=7,
                    to_item=lambda m: m.id,
                    to_frame=no_frame,
                )
            seen += page.items
            await insert_one()  # at least one insert between any two pages
            if page.next_cursor is None:
                return seen
            cursor = page.next_cursor

    async def race() -> list[Any]:
        stop = asyncio.Event()
        background = asyncio.create_task(inserter(stop))
        try:
            return await walker()
        finally:
            stop.set()
            await background

    seen = dn.run(race())
    assert len(seen) == len(set(seen)), "a row was visited twice"
    assert initial <= set(seen), "a row that existed at the start was missed"
    assert set(seen) <= initial | set(inserted)
    assert len(inserted) >= 9  # one per page at least, plus the background task


@pytest.mark.parametrize("descending", [False, True])
def test_prev_cursors_walk_back_through_the_same_pages(schema_db, descending) -> None:
    everyone = add_users(schema_db, 23)
    forward = walk(schema_db, 5, descending=descending)
    assert [len(p) for p in forward] == [5, 5, 5, 5, 3]
    flat = [i for p in forward for i in ids(p)]
    assert flat == sorted(everyone, reverse=descending)
    back = [forward[-1]]
    while back[-1].prev_cursor:
        back.append(kpage(schema_db, back[-1].prev_cursor, 5, descending=descending))
    assert [ids(p) for p in reversed(back)] == [ids(p) for p in forward]
    assert (forward[0].has_prev, forward[-1].has_next) == (False, False)
    assert all(p.has_prev and p.has_next for p in forward[1:-1])


def test_keyset_by_another_column_with_ties_and_an_empty_table(schema_db) -> None:
    empty = kpage(schema_db, None, 5)
    assert (len(empty), empty.next_cursor, empty.prev_cursor) == (0, None, None)
    assert list(empty.frame.columns) == list(user_frame([]).columns)
    everyone = add_users(schema_db, 12)
    pages = walk(schema_db, 5, sort="is_active")  # every row ties
    assert [i for p in pages for i in ids(p)] == sorted(everyone)


def test_keyset_hides_soft_deleted_rows_unless_asked(schema_db) -> None:
    everyone = add_users(schema_db, 20)
    gone = set(everyone[::3])
    schema_db.execute(
        "UPDATE users SET is_deleted = true, deleted_at = now() WHERE id = ANY(:g)",
        {"g": list(gone)},
    )
    live = [i for p in walk(schema_db, 4) for i in ids(p)]
    assert live == sorted(set(everyone) - gone)
    every = [i for p in walk(schema_db, 4, include_deleted=True) for i in ids(p)]
    assert every == sorted(everyone)


def test_cursor_survives_its_row_being_deleted_and_empty_pages_lead_back(
    schema_db,
) -> None:
    everyone = sorted(add_users(schema_db, 10))
    first = kpage(schema_db, None, 4)
    # The cursor's own row, and everything after it, disappear meanwhile.
    schema_db.execute(
        "UPDATE users SET is_deleted = true, deleted_at = now() WHERE id >= :i",
        {"i": everyone[3]},
    )
    after = kpage(schema_db, first.next_cursor, 4)
    assert (len(after), after.next_cursor) == (0, None)
    assert after.prev_cursor is not None
    back = kpage(schema_db, after.prev_cursor, 4)
    assert ids(back) == everyone[:3]


def _flip(cursor: str, i: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    swapped = alphabet[(alphabet.index(cursor[i]) + 1) % len(alphabet)]
    return cursor[:i] + swapped + cursor[i + 1 :]


def _transaction_cursor(db: dn.Database) -> str:
    async def work(s: Any) -> str | None:
        user = UserModel(email="owner@example.com", password_hash="h")
        acct = AccountModel(
            user_id=user.id, name="Main", institution="Bank", account_type="checking"
        )
        s.add(user)
        await s.flush()  # no relationship(): the flush cannot order by FK
        s.add(acct)
        await s.flush()
        for n in range(2):
            s.add(
                TransactionModel(
                    account_id=acct.id,
                    amount=n,
                    category="food",
                    posted_at=datetime.now(UTC),
                )
            )
        await s.flush()
        page = await keyset_page(
            s,
            TransactionModel,
            select(TransactionModel),
            page_size=1,
            to_item=lambda m: m.to_entity(),
            to_frame=lambda items: frames.to_frame(items, Transaction),
        )
        return page.next_cursor

    cursor = in_session(db, work)
    assert isinstance(cursor, str)
    return cursor


def test_modified_or_foreign_cursors_are_rejected_before_sql(
    schema_db, sql_log, monkeypatch
) -> None:
    add_users(schema_db, 6)
    good = kpage(schema_db, None, 2).next_cursor
    by_email = kpage(schema_db, None, 2, sort="email").next_cursor
    desc = kpage(schema_db, None, 2, descending=True).next_cursor
    other_table = _transaction_cursor(schema_db)
    monkeypatch.setattr(pagination, "_KEY", b"another process, another key")
    other_key = kpage(schema_db, None, 2).next_cursor
    monkeypatch.undo()
    assert all((good, by_email, desc, other_key))
    assert len(kpage(schema_db, good, 2)) == 2  # the real one works
    bad: list[Any] = [_flip(good, i) for i in range(len(good))]
    bad += [good[:n] for n in (0, 1, 10, len(good) // 2, len(good) - 1)]
    bad += [good + "A", good + "=", good + "==", " " + good, good.upper()]
    bad += [by_email, desc, other_table, other_key, "forged", "!!!!", "é" * 8]
    bad += [b"bytes", 12345, ["list"], good.encode()]

    async def work(s: Any) -> Any:
        await s.execute(text("SELECT 1"))
        before = len(sql_log)
        accepted: list[str] = []
        fields: set[str | None] = set()
        for cursor in bad:
            try:
                await keyset_page(
                    s,
                    UserModel,
                    users_select(),
                    cursor=cursor,
                    page_size=2,
                    to_item=lambda m: m,
                    to_frame=user_frame,
                )
            except dn.ValidationError as exc:
                fields.add(exc.field)
            else:
                accepted.append(repr(cursor))
        assert len(sql_log) == before, "validation ran SQL"
        return accepted, fields

    assert in_session(schema_db, work) == ([], {"cursor"})


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"sort": "deleted_at"}, "sort"),  # nullable: NULLs would drop out
        ({"sort": "password_hash"}, "sort"),
        ({"size": 0}, "page_size"),
        ({"size": True}, "page_size"),
        ({"descending": None}, "descending"),
    ],
)
def test_bad_keyset_arguments_are_refused(schema_db, kw, field) -> None:
    with pytest.raises(dn.ValidationError) as info:
        kpage(schema_db, **kw)
    assert info.value.field == field


# -- notebook display -----------------------------------------------------------------


def _load_1000(db: dn.Database) -> None:
    db.execute("DELETE FROM users")
    db.execute(
        "INSERT INTO users (id, email, password_hash) SELECT gen_random_uuid(),"
        " 'p' || lpad(g::text, 4, '0') || '@example.com', 'h'"
        " FROM generate_series(1, 1000) g"
    )


def test_repr_html_is_identical_across_runs_and_shows_no_volatile_text(
    schema_db,
) -> None:
    shown = []
    for _run in range(2):  # same data, new ids and timestamps each time
        _load_1000(schema_db)
        page = opage(schema_db, 3, 20, sort="email")
        keys = kpage(schema_db, None, 20, sort="email")
        keys2 = kpage(schema_db, keys.next_cursor, 20, sort="email")
        shown.append([page._repr_html_(), repr(page), keys2._repr_html_(), repr(keys2)])
        for text_ in shown[-1]:
            assert str(page.items[0].id) not in text_
            assert keys2.next_cursor not in text_
            assert keys2.prev_cursor not in text_
            assert "password_hash" not in text_
            assert not re.search(r"\d{4}-\d\d-\d\d", text_), "a timestamp is shown"
    assert shown[0] == shown[1]
    html_, plain, khtml, kplain = shown[0]
    assert "page 3 of 50 · 1,000 rows" in html_
    assert plain == "Page(page 3 of 50 · 1,000 rows)"
    assert "p0041@example.com" in html_
    assert "p0060@example.com" in html_
    assert "hidden: id, created_at, updated_at, deleted_at" in html_
    assert kplain == (
        "KeysetPage(20 rows by email, id ascending · next cursor ready"
        " · previous cursor ready)"
    )
    assert "p0021@example.com" in khtml


def test_estimated_and_last_page_captions(schema_db) -> None:
    _load_1000(schema_db)
    schema_db.execute("ANALYZE users")
    est = opage(schema_db, 1, 20, total="estimate")
    assert est.caption() == "page 1 of ~50 · ~1,000 rows"
    last = walk(schema_db, 400)[-1]
    assert last.caption() == (
        "200 rows by created_at, id ascending · last page · previous cursor ready"
    )


# -- the same through UserRepository (what notebooks call) ---------------------------


async def test_repository_find_all_paginated_is_10_10_5_0_with_tied_rows(
    schema_db,
) -> None:
    everyone = await dn.arun(_add_users_async(schema_db, 25))
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        got = [await repo.find_all_paginated(n, 10) for n in (1, 2, 3, 4)]
        past = await repo.paginate(4, 10)
        first = await repo.paginate(1, 10)
    assert [len(items) for items, _ in got] == [10, 10, 5, 0]
    assert {total for _, total in got} == {25}
    seen = [u.id for items, _ in got for u in items]
    assert sorted(seen) == sorted(everyone)
    assert len(set(seen)) == 25
    assert past.frame.dtypes.to_dict() == first.frame.dtypes.to_dict()
    assert len(past.frame) == 0


async def _add_users_async(db: dn.Database, n: int) -> list[Any]:
    rows = [
        UserModel(email=f"r{i:03d}@example.com", password_hash="h") for i in range(n)
    ]
    async with db.get_session() as s:
        s.add_all(rows)
    return [r.id for r in rows]


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.find_all_paginated(True, 10),
        lambda r: r.find_all_paginated(1, 10.0),
        lambda r: r.find_all_paginated("2", 10),
        lambda r: r.paginate(1, 1001),
        lambda r: r.paginate(None, 10),
        lambda r: r.paginate(1, 10, total="all"),
        lambda r: r.paginate(1, 10, sort="password_hash"),
        lambda r: r.paginate_after("bm90IGEgY3Vyc29y", 10),
        lambda r: r.paginate_after(None, 0),
    ],
)
async def test_repository_refuses_bad_paging_before_sql(
    schema_db, sql_log, call
) -> None:
    async with schema_db.get_session() as s:
        before = len(sql_log)
        with pytest.raises(dn.ValidationError):
            await call(UserRepository(s))
        assert sql_log[before:] == []


async def test_repository_keyset_walk_back_and_forth_hides_deleted(schema_db) -> None:
    everyone = sorted(await dn.arun(_add_users_async(schema_db, 17)))
    async with schema_db.get_session() as s:
        repo = UserRepository(s)
        assert await repo.soft_delete(everyone[4]) is True
        pages = [await repo.paginate_after(None, 5)]
        while pages[-1].next_cursor:
            pages.append(await repo.paginate_after(pages[-1].next_cursor, 5))
        back = await repo.paginate_after(pages[-1].prev_cursor, 5)
        every = await repo.paginate_after(None, 20, include_deleted=True)
    walked = [u.id for p in pages for u in p.items]
    assert walked == [i for i in everyone if i != everyone[4]]
    assert [u.id for u in back.items] == [u.id for u in pages[-2].items]
    assert [u.id for u in every.items] == everyone
