"""The User entity and the email rule it relies on."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Self
from uuid import UUID

from dashtam_nb.errors import ValidationError
from dashtam_nb.ids import uuid7

__all__ = ["MAX_EMAIL_LENGTH", "User", "validate_email"]

MAX_EMAIL_LENGTH = 254
"""RFC 5321 path limit; the users table has the same CHECK."""

_MAX_LOCAL_LENGTH = 64


def validate_email(value: object) -> str:
    """Check that ``value`` looks like a deliverable email address.

    Deliberately structural, not RFC 5322 complete: it rejects what would
    corrupt storage or lookups (control characters, NUL, lone surrogates,
    whitespace) and obvious typos, and leaves deliverability to a real email.

    Args:
        value: The candidate address; only ``str`` is accepted.

    Returns:
        The address with surrounding whitespace removed (case preserved).

    Raises:
        ValidationError: With ``field="email"``; the message never echoes the
            value, which may be anything a user pasted.
    """
    if not isinstance(value, str):
        raise ValidationError("Email must be a string", field="email")
    email = value.strip()
    if not 3 <= len(email) <= MAX_EMAIL_LENGTH:
        raise ValidationError(
            f"Email must be 3 to {MAX_EMAIL_LENGTH} characters long", field="email"
        )
    # isprintable() is False for control, format, surrogate and separator
    # characters (NUL and lone surrogates included); isspace() adds " ".
    if any(ch.isspace() or not ch.isprintable() for ch in email):
        raise ValidationError(
            "Email must not contain whitespace or control characters", field="email"
        )
    if email.count("@") != 1:
        raise ValidationError("Email must contain exactly one '@'", field="email")
    local, domain = email.split("@")
    if not local or len(local) > _MAX_LOCAL_LENGTH:
        raise ValidationError(
            f"Email local part must be 1 to {_MAX_LOCAL_LENGTH} characters",
            field="email",
        )
    if "." not in domain or "" in domain.split("."):
        raise ValidationError(
            "Email domain must be dotted, like example.com", field="email"
        )
    return email


@dataclass(kw_only=True, slots=True)
class User:
    """A registered user.

    Only ``email`` and ``password_hash`` are required, so the guide's
    ``User(id=uuid7(), email=..., password_hash=...)`` works as written.
    Timestamps stay ``None`` until the database has set them.
    """

    id: UUID = field(default_factory=uuid7)
    email: str
    # Hidden from repr so it never lands in a notebook output or a log line.
    password_hash: str = field(repr=False)
    is_active: bool = True
    created_at: datetime | None = None
    updated_at: datetime | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = None
    # The row version this copy was read at (None: never stored). `save`
    # refuses a copy whose version is no longer the row's (ConflictError).
    version: int | None = None

    @classmethod
    def create(cls, *, email: str, password_hash: str) -> Self:
        """Create a new user with a fresh UUIDv7 id.

        Args:
            email: The address; validated and stripped here, so no invalid
                user can be created through the factory.
            password_hash: An already hashed password (never a plain one).

        Returns:
            The new, not yet persisted user.

        Raises:
            ValidationError: If the email is malformed.
        """
        return cls(id=uuid7(), email=validate_email(email), password_hash=password_hash)
