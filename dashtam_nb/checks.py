"""Argument checks shared by public calls: run before any SQL, raise `ValidationError`.

Each check looks at the *type* first, so a hostile value never has its
``__bool__``, ``__eq__`` or ``__str__`` called (``if flag:`` on a DataFrame
raises pandas' ValueError; ``x in {...}`` calls ``__hash__``), and no message
echoes the value.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import is_dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import Any

from dashtam_nb.errors import ValidationError

__all__ = [
    "check_aware",
    "check_bool",
    "check_choice",
    "check_entities",
    "check_names",
    "check_params",
    "check_path",
    "check_session",
]


def check_aware(value: object, name: str) -> datetime:
    """A timezone-aware `datetime` whose zone answers (a naive one is ambiguous).

    The zone is asked once, here: a third-party ``tzinfo`` that raises (or
    answers nonsense) is refused now, not later inside the driver's dumper.
    """
    if not isinstance(value, datetime):
        raise ValidationError(f"{name} must be a timezone-aware datetime", field=name)
    try:
        offset = value.utcoffset()
    except Exception:  # the zone is user code: whatever it raises is a refusal
        offset = None
        broken = True
    else:
        broken = not isinstance(offset, timedelta | None)
    if broken:
        raise ValidationError(f"{name} has a time zone that fails", field=name)
    if offset is None:
        # A naive time would be read in the server's zone: ambiguous, refused.
        raise ValidationError(f"{name} must be a timezone-aware datetime", field=name)
    return value


def check_bool(value: object, name: str) -> bool:
    """``True`` or ``False`` exactly (not 1, not "yes", not a frame)."""
    if not isinstance(value, bool):
        raise ValidationError(f"{name} must be True or False", field=name)
    return value


def check_names(value: object, name: str) -> list[str]:
    """A list or tuple of column names (strings); one bare string is refused."""
    if not isinstance(value, list | tuple) or not all(
        isinstance(item, str) for item in value
    ):
        raise ValidationError(f"{name} must be a list of column names", field=name)
    return list(value)


def check_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValidationError(f"{name} must be one of {allowed}", field=name)
    return value


def _is_model(model: object) -> bool:
    """A class mapped by SQLAlchemy (a model), asked without calling it."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import Mapper

    return isinstance(model, type) and isinstance(
        inspect(model, raiseerr=False), Mapper
    )


def _items(entities: object) -> list[Any]:
    """A list or tuple as it is; another iterable (user code) read once.

    Text, bytes and mappings iterate, but never over entities: refused by
    type. Whatever a caller's iterator raises is a refusal.
    """
    if isinstance(entities, list | tuple):
        return list(entities)
    refused = (str, bytes, bytearray, memoryview, Mapping)
    if not isinstance(entities, refused) and isinstance(entities, Iterable):
        try:
            return list(entities)
        except Exception:  # the caller's iterator: its error is a refusal
            pass
    raise ValidationError(
        "entities must be a list of entities (dataclass instances)",
        field="entities",
    )


def check_entities(
    entities: object, entity_type: object = None, model: object = None
) -> tuple[list[Any], type[Any]]:
    """Entities of one dataclass (``entity_type``, else the first's class).

    ``model``, when given, must be a mapped class. Returns the entities as a
    list and their class. A frame iterates over its column names, so it is
    refused here as items that are no entities.
    """
    if entity_type is not None and not (
        isinstance(entity_type, type) and is_dataclass(entity_type)
    ):
        raise ValidationError(
            "entity_type must be a dataclass entity type or None", field="entity_type"
        )
    if model is not None and not _is_model(model):
        raise ValidationError(
            "model must be a mapped model class or None", field="model"
        )
    items = _items(entities)
    cls = entity_type or (type(items[0]) if items else None)
    if not isinstance(cls, type) or not is_dataclass(cls):
        raise ValidationError(
            "needs dataclass entities or an entity_type", field="entities"
        )
    if not all(isinstance(e, cls) for e in items):
        raise ValidationError(
            f"entities must all be {cls.__name__} instances", field="entities"
        )
    return items, cls


def check_params(params: object) -> dict[str, Any] | None:
    """Bind values: None or a mapping with string keys, copied to a dict."""
    if params is None:
        return None
    if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
        raise ValidationError(
            "params must be a mapping of names to values", field="params"
        )
    return dict(params)


def check_path(value: object, name: str) -> Path:
    """A file-system path given as ``str`` or a path object, as a `Path`.

    Only ``str`` and `PurePath` are taken as they are; another
    ``os.PathLike`` is asked for its path once, and whatever it raises is a
    refusal. Empty text, a NUL byte or a lone surrogate (not UTF-8: no
    PostgreSQL data directory or config file can hold it) are refused too.
    The path is never echoed: it may be anything a caller pasted.
    """
    where: object = value
    if not isinstance(where, str | PurePath) and isinstance(where, os.PathLike):
        try:
            where = os.fspath(where)
        except Exception:  # user code: whatever it raises is a refusal
            where = None
    if not isinstance(where, str | PurePath):
        raise ValidationError(f"{name} must be a path (str or Path)", field=name)
    text = str(where)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = ""
    if not text or "\x00" in text:
        raise ValidationError(
            f"{name} must be a non-empty path without NUL bytes or lone surrogates",
            field=name,
        )
    return Path(text)


def check_session(session: object) -> None:
    """An `AsyncSession` or the `HoppingSession` that ``get_session()`` hands out."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from dashtam_nb.session import HoppingSession

    if not isinstance(session, AsyncSession | HoppingSession):
        raise ValidationError(
            "session must come from `db.get_session()`", field="session"
        )
