"""Identifiers: UUIDv7 generation and strict parsing of user-supplied ids.

UUIDv7 ids are generated in Python, so an entity knows its id before any flush,
and they sort by creation time, which makes ``(created_at, id)`` a natural keyset.
"""

import re
import sys
import uuid

from dashtam_nb.errors import InvalidIdError, echo

if sys.version_info >= (3, 14):
    from uuid import uuid7 as _uuid7
else:
    # Returns a stdlib ``uuid.UUID``, so callers never see a foreign type.
    from uuid_utils.compat import uuid7 as _uuid7

__all__ = ["parse_uuid", "uuid7"]

# The longest form accepted: "urn:uuid:" + 36 canonical characters.
_MAX_ID_LENGTH = 45
# How much of a rejected value an error message may echo (repr included).
_MAX_ECHO = 40

# A strict subset of what ``uuid.UUID`` accepts: ASCII hex only (``int()`` would
# also take "_", whitespace and non-ASCII digits), hyphens all-or-nothing,
# balanced braces, and the lowercase "urn:uuid:" prefix the stdlib recognises.
_UUID_RE = re.compile(
    r"(?:urn:uuid:)?(\{)?"
    r"[0-9a-fA-F]{8}(-?)[0-9a-fA-F]{4}\2[0-9a-fA-F]{4}\2[0-9a-fA-F]{4}\2[0-9a-fA-F]{12}"
    r"(?(1)\})"
)


def uuid7() -> uuid.UUID:
    """Return a new time-ordered UUIDv7.

    Stdlib on Python 3.14+, ``uuid_utils`` before; both return ``uuid.UUID``.

    Returns:
        A fresh UUIDv7, monotonic within this process.
    """
    return _uuid7()


def parse_uuid(value: object, *, field: str = "id") -> uuid.UUID:
    """Turn a UUID or UUID string into a ``uuid.UUID``, or refuse it clearly.

    Ids arrive from notebook cells, URLs and CSV files; rejecting them here keeps
    a driver-level type error (with the bad value in its message) from happening
    later inside a query.

    Args:
        value: A ``uuid.UUID`` or a canonical / 32-hex / braced / URN string.
        field: The name reported in the error message.

    Returns:
        The parsed id as a plain ``uuid.UUID``.

    Raises:
        InvalidIdError: For any other type (bool, int, bytes, None, ...) or an
            unparseable string. The message is one line and echoes at most 40
            characters of the value.
    """
    if isinstance(value, uuid.UUID):
        # Normalise subclasses (some drivers have their own) to the stdlib type.
        return value if type(value) is uuid.UUID else uuid.UUID(int=value.int)
    if not isinstance(value, str):
        raise InvalidIdError(
            f"{field} must be a UUID or UUID string, "
            f"got {type(value).__name__}: {_preview(value)}",
            field=field,
        )
    if len(value) > _MAX_ID_LENGTH or not _UUID_RE.fullmatch(value):
        raise InvalidIdError(
            f"{field} is not a valid UUID: {_preview(value)}", field=field
        )
    return uuid.UUID(value)


def _preview(value: object) -> str:
    """A one-line, secret-safe echo of ``value`` (`dashtam_nb.errors.echo`)."""
    return echo(value, _MAX_ECHO)
