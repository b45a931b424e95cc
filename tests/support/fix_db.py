"""Fixtures for the server under test: embedded unless DATABASE_URL is set."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING

import pytest

import dashtam_nb as dn

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def server_url() -> object:
    """URL of the server under test; starts the embedded one if needed."""
    dn.settings.reload()
    return dn.settings.database_url


@pytest.fixture
def fresh_db(server_url: object) -> Iterator[dn.Database]:
    """A new, empty database for one test, dropped afterwards."""
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    db = dn.connect(name, fresh=True)
    yield db
    dn.run(db.close())
    dn.drop_database(name)
    dn.set_database(None)
