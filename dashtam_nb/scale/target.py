"""Which database a worker reads, told without credentials.

A task graph is pickled, shipped to a scheduler, shown on its dashboard and
kept in its logs, so it carries only the database *name* and a secret-free
description of the server (`describe_target`). Each worker resolves the
credentials from its own environment, exactly as the client did: the
``DATABASE_URL`` it was started with, or the embedded server of its
``DASHTAM_DATA_DIR`` (a ``LocalCluster``'s workers inherit the client's
environment). A worker whose environment reaches another server refuses to
read rather than read the wrong data.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from dashtam_nb.config import settings
from dashtam_nb.database import Database
from dashtam_nb.errors import ConfigError, ValidationError

if TYPE_CHECKING:
    from dashtam_nb.io.readmap import NumericMode

__all__ = ["Target", "database_for", "target_of"]

_LOCK = threading.Lock()
_OPEN: dict[Target, Database] = {}


@dataclass(frozen=True)
class Target:
    """A database as a worker finds it: a name, never a URL.

    Attributes:
        database: the database name on the server.
        where: `Database.target` on the client (``database 'x' on host:5432``),
            checked on the worker.
        numeric: how ``numeric`` columns are read (the client's default).
    """

    database: str
    where: str
    numeric: NumericMode


def target_of(db: Database) -> Target:
    """The secret-free `Target` for a client's `Database`."""
    name = db.url.database
    if not name:
        raise ValidationError("the database URL names no database", field="db")
    return Target(database=name, where=db.target, numeric=db.numeric)


def database_for(target: Target) -> Database:
    """This process's `Database` for ``target`` (one pool per process).

    Raises:
        ConfigError: this worker's environment reaches another server.
    """
    with _LOCK:
        db = _OPEN.get(target)
        if db is None:
            url = settings.database_url.set(database=target.database)
            db = Database(url, pool_size=2, max_overflow=4, numeric=target.numeric)
            if db.target != target.where:
                raise ConfigError(
                    f"this worker's environment reaches {db.target}, but the "
                    f"frame reads {target.where}; start the workers with the "
                    "client's DATABASE_URL (or DASHTAM_DATA_DIR)"
                )
            _OPEN[target] = db
        return db
