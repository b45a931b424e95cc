"""Model metadata without a database: types, names, partial indexes, mapping."""

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import pytest
from sqlalchemy import DateTime, Index, Numeric, String, create_engine, event
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import Session, class_mapper
from sqlalchemy.orm.session import make_transient_to_detached
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.sql.elements import ClauseElement

from dashtam_nb.entities import Account, AuditEntry, Transaction, User
from dashtam_nb.errors import ImmutableRecordError
from dashtam_nb.ids import uuid7
from dashtam_nb.models import (
    AccountModel,
    AuditLogModel,
    Base,
    SoftDeleteMixin,
    TransactionModel,
    UserModel,
)

PG = PGDialect_psycopg()
TABLES = Base.metadata.tables
PREFIXES = ("ix_", "uq_", "ck_", "fk_", "pk_")
NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
E = TypeVar("E", User, Account, Transaction)


def _ddl(element: ClauseElement) -> str:
    return str(element.compile(dialect=PG))


def test_the_four_tables_exist() -> None:
    assert set(TABLES) == {"users", "accounts", "transactions", "audit_logs"}


def test_every_datetime_column_is_timestamptz() -> None:
    columns = [c for t in TABLES.values() for c in t.c if isinstance(c.type, DateTime)]
    assert len(columns) >= 10
    for column in columns:
        assert isinstance(column.type, DateTime)
        assert column.type.timezone, column


def test_every_string_column_has_a_length() -> None:
    for table in TABLES.values():
        for column in table.c:
            if isinstance(column.type, String):
                assert column.type.length, column


def test_money_columns_are_numeric_14_2() -> None:
    for column in (
        AccountModel.__table__.c.balance,
        TransactionModel.__table__.c.amount,
    ):
        assert isinstance(column.type, Numeric)
        assert (column.type.precision, column.type.scale) == (14, 2)


def test_every_index_and_constraint_has_a_conventional_name() -> None:
    for table in TABLES.values():
        for item in [*table.indexes, *table.constraints]:
            name = getattr(item, "name", None)
            assert isinstance(name, str), (table.name, item)
            assert name.startswith(PREFIXES), name
            assert len(name) <= 63, name


@pytest.mark.parametrize(
    "name",
    [
        "uq_users_email_lower_live",
        "ix_users_created_at_id_live",
        "ix_transactions_account_id_posted_at_id_live",
        "ix_transactions_posted_at_id_live",
    ],
)
def test_partial_indexes_use_equals_false(name: str) -> None:
    index = _index(name)
    ddl = _ddl(CreateIndex(index))
    assert ddl.endswith("WHERE is_deleted = false"), ddl
    assert " IS false" not in ddl


def test_email_is_unique_case_insensitively_among_live_rows() -> None:
    index = _index("uq_users_email_lower_live")
    assert index.unique
    assert "(lower(email))" in _ddl(CreateIndex(index))
    assert not any(c.unique for c in UserModel.__table__.c)


def test_audit_log_has_its_resource_history_index() -> None:
    index = _index("ix_audit_logs_resource_type_resource_id_created_at")
    assert [c.name for c in index.columns] == [
        "resource_type",
        "resource_id",
        "created_at",
    ]


def test_foreign_keys_cascade() -> None:
    for table, target in (("accounts", "users"), ("transactions", "accounts")):
        (fk,) = TABLES[table].foreign_keys
        assert fk.column.table.name == target
        assert fk.ondelete == "CASCADE"


def test_all_tables_compile_for_postgresql() -> None:
    for table in TABLES.values():
        assert "CREATE TABLE" in _ddl(CreateTable(table))


def test_soft_delete_columns_only_where_intended() -> None:
    # Accounts too: a user's soft delete cascades to them (softdelete.cascade).
    for model in (UserModel, AccountModel, TransactionModel):
        assert issubclass(model, SoftDeleteMixin)
        assert {"is_deleted", "deleted_at", "version"} <= set(model.__table__.c.keys())
    assert not issubclass(AuditLogModel, SoftDeleteMixin)
    assert "updated_at" not in TABLES["audit_logs"].c
    assert "version" not in TABLES["audit_logs"].c


def test_server_values_come_back_without_a_lazy_load() -> None:
    for model in (UserModel, AccountModel, TransactionModel, AuditLogModel):
        assert class_mapper(model).eager_defaults is True
    updated_at = TABLES["users"].c.updated_at
    assert updated_at.onupdate is not None
    assert updated_at.server_default is not None


def test_models_get_their_id_at_construction() -> None:
    model = UserModel(email="a@example.com", password_hash="h")
    assert model.id is not None
    assert model.id.version == 7
    given = uuid7()
    assert UserModel(id=given, email="a@example.com", password_hash="h").id == given


def test_user_round_trips_through_the_model() -> None:
    user = User(email="a@example.com", password_hash="h", is_active=False)
    model = UserModel.from_entity(user)
    assert model.created_at is None  # left to the database
    _stamp(model)
    assert model.to_entity() == _with_times(user)


def test_account_round_trips_through_the_model() -> None:
    account = Account(
        user_id=uuid7(),
        name="Main",
        institution="Bank",
        account_type="savings",
        currency="EUR",
        balance=Decimal("12.34"),
    )
    model = AccountModel.from_entity(account)
    _stamp(model)
    assert model.to_entity() == _with_times(account)


def test_transaction_round_trips_through_the_model() -> None:
    txn = Transaction(
        account_id=uuid7(),
        amount=Decimal("-5.00"),
        category="food",
        description="lunch",
        posted_at=NOW,
        is_deleted=True,
        deleted_at=NOW,
    )
    model = TransactionModel.from_entity(txn)
    _stamp(model)
    assert model.to_entity() == _with_times(txn)


def test_audit_entry_round_trips_through_the_model() -> None:
    entry = AuditEntry(
        action="login", user_id=uuid7(), resource_type="user", context={"ip": "x"}
    )
    model = AuditLogModel.from_entity(entry)
    model.created_at = NOW
    assert model.to_entity() == dataclasses.replace(entry, created_at=NOW)


def test_orm_refuses_to_update_an_audit_row_before_any_sql() -> None:
    session, row = _persistent_audit_row()
    row.action = "tampered"
    with pytest.raises(ImmutableRecordError, match="append-only"):
        session.flush()


def test_orm_refuses_to_delete_an_audit_row_before_any_sql() -> None:
    session, row = _persistent_audit_row()
    session.delete(row)
    with pytest.raises(ImmutableRecordError, match="append-only"):
        session.flush()


def test_unchanged_audit_row_in_dirty_is_allowed() -> None:
    session, row = _persistent_audit_row()
    # The unit of work takes a connection even for a no-op flush; an in-memory
    # SQLite engine provides one, and the statement log proves nothing ran.
    engine = create_engine("sqlite://")
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    session.bind = engine
    row.action = row.action  # in session.dirty, but no real change
    assert row in session.dirty
    session.flush()
    assert statements == []
    engine.dispose()


def _persistent_audit_row() -> tuple[Session, AuditLogModel]:
    # No engine: the guard must fire before a connection is ever needed.
    row = AuditLogModel(action="login", resource_type="user", created_at=NOW)
    make_transient_to_detached(row)
    session = Session()
    session.add(row)
    return session, row


def _index(name: str) -> Index:
    found = [i for t in TABLES.values() for i in t.indexes if i.name == name]
    assert len(found) == 1, name
    return found[0]


def _stamp(model: UserModel | AccountModel | TransactionModel) -> None:
    model.created_at = NOW
    model.updated_at = NOW


def _with_times(entity: E) -> E:
    return dataclasses.replace(entity, created_at=NOW, updated_at=NOW)
