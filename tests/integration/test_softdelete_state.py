"""Stateful test: counts and frames agree after any delete/restore/purge sequence.

A `RuleBasedStateMachine` drives users, accounts and transactions through
create, soft delete, restore, purge and stale saves, each step in its own
committed session, and keeps a plain-Python model of what must be true. After
every step, for each table, four answers must equal the model: the
repository's ORM ``count()``, a Core ``select(count()).select_from(table)``
through a session, the ids of ``find_all_frame()`` and a raw SQL count (which
no criterion touches). Examples are bounded so the test runs in CI in well
under a minute.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

import dashtam_nb as dn
from dashtam_nb.entities import Account, Transaction, User
from dashtam_nb.models import AccountModel, TransactionModel, UserModel
from dashtam_nb.repositories import (
    AccountRepository,
    TransactionRepository,
    UserRepository,
)

pytestmark = pytest.mark.integration

REPOS: dict[str, Any] = {
    "users": UserRepository,
    "accounts": AccountRepository,
    "transactions": TransactionRepository,
}
MODELS: dict[str, Any] = {
    "users": UserModel,
    "accounts": AccountModel,
    "transactions": TransactionModel,
}
PARENT = {"accounts": "users", "transactions": "accounts"}
CHILD = {"users": "accounts", "accounts": "transactions"}


@dataclass
class Row:
    """The model of one row: its parent, who deleted it (None: live), version."""

    parent: UUID | None
    deleted_by: int | None = None
    version: int = 1


@dataclass
class World:
    """What the database must hold, table by table."""

    tables: dict[str, dict[UUID, Row]] = field(
        default_factory=lambda: {name: {} for name in REPOS}
    )
    event: int = 0

    def children(self, table: str, ids: set[UUID]) -> list[tuple[UUID, Row]]:
        """Rows of the table below ``table`` whose parent is in ``ids``."""
        below = CHILD.get(table)
        if below is None:
            return []
        return [(i, r) for i, r in self.tables[below].items() if r.parent in ids]


def in_session(db: dn.Database, work: Any) -> Any:
    async def go() -> Any:
        async with db.get_session() as s:
            return await work(s)

    return dn.run(go())


class SoftDeleteMachine(RuleBasedStateMachine):
    """Create, delete, restore, purge and stale saves against the model."""

    db: ClassVar[dn.Database]
    """Set by the test on a subclass (hypothesis builds the machine itself)."""

    def __init__(self) -> None:
        super().__init__()
        db = self.db
        self.world = World()
        self.copies: list[User] = []  # users read earlier, as a notebook keeps them
        self.serial = 0
        # DELETE (not TRUNCATE): the app role may run DML only.
        db.execute("DELETE FROM users")

    # -- helpers ---------------------------------------------------------------

    def pick(self, table: str, n: int) -> tuple[UUID, Row] | None:
        rows = sorted(self.world.tables[table].items())
        return rows[n % len(rows)] if rows else None

    def is_deleted(self, table: str, ident: UUID | None) -> bool:
        row = self.world.tables[table].get(ident) if ident is not None else None
        return row is not None and row.deleted_by is not None

    def call(self, table: str, verb: str, *args: Any, **kw: Any) -> Any:
        return in_session(
            self.db, lambda s: getattr(REPOS[table](s), verb)(*args, **kw)
        )

    # -- rules -----------------------------------------------------------------

    @initialize()
    def a_family(self) -> None:
        """Every run starts with one user, account and transaction to cascade."""
        self.create_user()
        self.create_child("accounts", 0)
        self.create_child("transactions", 0)

    @rule()
    def create_user(self) -> None:
        self.serial += 1
        user = User(email=f"u{self.serial}@example.com", password_hash="h")
        self.call("users", "save", user)
        self.world.tables["users"][user.id] = Row(parent=None)

    @rule(table=st.sampled_from(["accounts", "transactions"]), n=st.integers(0, 99))
    def create_child(self, table: str, n: int) -> None:
        found = self.pick(PARENT[table], n)
        if found is None:
            return
        parent, _ = found
        if table == "accounts":
            entity: Any = Account(
                user_id=parent, name="A", institution="B", account_type="checking"
            )
        else:
            entity = Transaction(
                account_id=parent,
                amount=Decimal("-1.00"),
                category="food",
                posted_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        if self.is_deleted(PARENT[table], parent):
            with pytest.raises(dn.ValidationError):
                self.call(table, "save", entity)
            return
        self.call(table, "save", entity)
        self.world.tables[table][entity.id] = Row(parent=parent)

    @rule(table=st.sampled_from(list(REPOS)), n=st.integers(0, 99))
    def soft_delete(self, table: str, n: int) -> None:
        found = self.pick(table, n)
        if found is None:
            return
        ident, row = found
        expected = row.deleted_by is None
        assert self.call(table, "soft_delete", ident) is expected
        if not expected:
            return
        self.world.event += 1
        stamp = self.world.event
        row.deleted_by, row.version = stamp, row.version + 1
        # Down the tree: live children of the rows this event just stamped.
        name, ids = table, {ident}
        while ids and name in CHILD:
            stamped = set()
            for cid, child in self.world.children(name, ids):
                if child.deleted_by is None:
                    child.deleted_by, child.version = stamp, child.version + 1
                    stamped.add(cid)
            name, ids = CHILD[name], stamped

    @rule(table=st.sampled_from(list(REPOS)), n=st.integers(0, 99))
    def restore(self, table: str, n: int) -> None:
        found = self.pick(table, n)
        if found is None:
            return
        ident, row = found
        orphan = table in PARENT and self.is_deleted(PARENT[table], row.parent)
        if row.deleted_by is not None and orphan:
            with pytest.raises(dn.ValidationError):
                self.call(table, "restore", ident)
            return
        expected = row.deleted_by is not None
        assert self.call(table, "restore", ident) is expected
        if not expected:
            return
        stamp = row.deleted_by
        row.deleted_by, row.version = None, row.version + 1
        # Down the tree: children of live rows that carry this event's stamp.
        name, ids = table, {ident}
        while ids and name in CHILD:
            for _, child in self.world.children(name, ids):
                if child.deleted_by == stamp:
                    child.deleted_by, child.version = None, child.version + 1
            live = {
                c for c, r in self.world.children(name, ids) if r.deleted_by is None
            }
            name, ids = CHILD[name], live

    @rule(table=st.sampled_from(list(REPOS)))
    def purge(self, table: str) -> None:
        cutoff = datetime.now(UTC) + timedelta(minutes=5)
        gone = {i for i, r in self.world.tables[table].items() if r.deleted_by}
        assert self.call(table, "purge", older_than=cutoff) == len(gone)
        name: str | None = table
        while name is not None and gone:
            for ident in gone:
                del self.world.tables[name][ident]
            below = CHILD.get(name)
            if below is not None:
                gone = {c for c, _ in self.world.children(name, gone)}
            name = below

    @rule(n=st.integers(0, 99))
    def read_a_copy(self, n: int) -> None:
        found = self.pick("users", n)
        if found is None:
            return
        copy = self.call("users", "find_by_id", found[0], include_deleted=True)
        assert copy is not None
        assert copy.version == found[1].version
        self.copies.append(copy)

    @precondition(lambda self: bool(self.copies))
    @rule(n=st.integers(0, 99))
    def save_an_old_copy(self, n: int) -> None:
        copy = self.copies[n % len(self.copies)]
        row = self.world.tables["users"].get(copy.id)
        changed = dataclasses.replace(copy, is_active=not copy.is_active)
        if row is None or row.version != copy.version:
            with pytest.raises(dn.ConflictError):
                self.call("users", "save", changed)
            return
        saved = self.call("users", "save", changed)
        row.version += 1
        assert saved.version == row.version
        self.copies[n % len(self.copies)] = saved

    # -- what must hold after every step ----------------------------------------

    @invariant()
    def every_count_and_frame_agrees_with_the_model(self) -> None:
        async def answers(s: Any) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for table, repo_type in REPOS.items():
                repo = repo_type(s)
                core = select(func.count()).select_from(MODELS[table].__table__)
                frame = await repo.find_all_frame()
                out[table] = {
                    "orm": await repo.count(),
                    "core": await s.scalar(core),
                    "frame": {UUID(str(i)) for i in frame["id"]},
                    "all": await repo.count(include_deleted=True),
                }
            return out

        got = in_session(self.db, answers)
        for table, rows in self.world.tables.items():
            live = {i for i, r in rows.items() if r.deleted_by is None}
            raw = self.db.scalar(
                f"SELECT count(*) FROM {table} WHERE is_deleted = false"
            )
            seen = got[table]
            assert seen["frame"] == live, table
            assert seen["orm"] == seen["core"] == raw == len(live), table
            assert seen["all"] == len(rows), table

    @invariant()
    def no_live_row_has_a_deleted_parent(self) -> None:
        for table, parent in PARENT.items():
            for row in self.world.tables[table].values():
                if row.deleted_by is None:
                    assert not self.is_deleted(parent, row.parent)
        orphans = self.db.scalar(
            "SELECT count(*) FROM transactions t JOIN accounts a"
            " ON a.id = t.account_id JOIN users u ON u.id = a.user_id"
            " WHERE t.is_deleted = false AND (a.is_deleted OR u.is_deleted)"
        )
        assert orphans == 0


def test_counts_and_frames_agree_after_any_delete_restore_purge_sequence(
    schema_db,
) -> None:
    class OnThisDatabase(SoftDeleteMachine):
        db = schema_db

    run_state_machine_as_test(
        OnThisDatabase,
        settings=settings(
            max_examples=30,
            stateful_step_count=15,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
