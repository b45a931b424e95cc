"""Domain entities: defaults, the guide's snippet, hidden secrets, email rule."""

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dashtam_nb.entities import (
    ACCOUNT_TYPES,
    Account,
    AuditEntry,
    Transaction,
    User,
    validate_email,
)
from dashtam_nb.errors import ValidationError
from dashtam_nb.ids import uuid7


def test_guide_user_snippet_works_as_written() -> None:
    user = User(id=uuid7(), email="test@example.com", password_hash="hashed")
    assert user.email == "test@example.com"
    assert user.is_active is True
    assert user.is_deleted is False
    assert user.created_at is None
    assert user.updated_at is None
    assert user.deleted_at is None


def test_user_gets_a_fresh_uuid7_by_default() -> None:
    first = User(email="a@example.com", password_hash="h")
    second = User(email="a@example.com", password_hash="h")
    assert first.id.version == 7
    assert first.id != second.id


def test_user_repr_hides_the_password_hash() -> None:
    user = User(email="a@example.com", password_hash="CANARY-hash")
    assert "CANARY" not in repr(user)
    assert "password_hash" not in repr(user)
    assert "a@example.com" in repr(user)


def test_user_create_generates_an_id_and_strips_the_email() -> None:
    user = User.create(email="  bob@example.com ", password_hash="h")
    assert user.id.version == 7
    assert user.email == "bob@example.com"
    assert user.password_hash == "h"


def test_user_create_refuses_a_malformed_email() -> None:
    with pytest.raises(ValidationError) as info:
        User.create(email="nope", password_hash="h")
    assert info.value.field == "email"


def test_entities_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        User("a@example.com", "h")  # type: ignore[call-arg, arg-type]


def test_entities_use_slots() -> None:
    user = User(email="a@example.com", password_hash="h")
    with pytest.raises(AttributeError):
        user.nickname = "x"  # type: ignore[attr-defined]


def test_account_defaults() -> None:
    account = Account(
        user_id=uuid7(), name="Main", institution="Bank", account_type="checking"
    )
    assert account.currency == "USD"
    assert account.balance == Decimal("0.00")
    assert isinstance(account.balance, Decimal)
    assert account.id.version == 7
    assert ACCOUNT_TYPES == ("checking", "savings", "credit", "brokerage")


def test_transaction_defaults() -> None:
    posted = datetime(2024, 1, 2, tzinfo=UTC)
    txn = Transaction(
        account_id=uuid7(), amount=Decimal("-12.50"), category="food", posted_at=posted
    )
    assert txn.currency == "USD"
    assert txn.description == ""
    assert txn.is_deleted is False
    assert txn.deleted_at is None


def test_audit_entry_is_immutable_and_allows_system_actions() -> None:
    entry = AuditEntry(action="migrate", resource_type="schema")
    assert entry.user_id is None
    assert entry.resource_id is None
    assert entry.context is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.action = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a@b.co", "a@b.co"),
        ("  First.Last+tag@Example.COM\t", "First.Last+tag@Example.COM"),
        ("ünïcode@exämple.de", "ünïcode@exämple.de"),
    ],
)
def test_validate_email_accepts_and_strips(raw: str, expected: str) -> None:
    assert validate_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"a@b.co",
        42,
        "",
        "   ",
        "ab",
        "no-at-sign.com",
        "two@@example.com",
        "a@b@example.com",
        "@example.com",
        "user@",
        "user@localhost",
        "user@.example.com",
        "user@example.com.",
        "user@example..com",
        "us er@example.com",
        "user@exa\tmple.com",
        "user\x00@example.com",
        "user\x07@example.com",
        "user\u200b@example.com",
        "user\ud800@example.com",
        "x" * 65 + "@example.com",
        "a@" + "b" * 250 + ".com",
    ],
)
def test_validate_email_rejects(raw: object) -> None:
    with pytest.raises(ValidationError) as info:
        validate_email(raw)
    assert info.value.field == "email"
    message = str(info.value)
    assert "\n" not in message
    if isinstance(raw, str) and len(raw) > 3:
        # The message never echoes what the user typed.
        assert raw.strip() not in message


def test_validate_email_length_limit_is_254() -> None:
    local = "a" * 64
    domain = "b" * (254 - 64 - 1 - 4) + ".com"
    assert len(validate_email(f"{local}@{domain}")) == 254
    with pytest.raises(ValidationError):
        validate_email(f"{local}@b{domain}")
