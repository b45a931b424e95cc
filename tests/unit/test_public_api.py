"""The public face: a sorted __all__, every name importable, a cheap import."""

from __future__ import annotations

import subprocess
import sys

import dashtam_nb as dn


def test_all_is_sorted_and_importable() -> None:
    assert dn.__all__ == sorted(dn.__all__)
    for name in dn.__all__:
        assert getattr(dn, name) is not None


def test_guide_import_map_names_exist() -> None:
    from dashtam_nb.config import settings
    from dashtam_nb.database import Database
    from dashtam_nb.models.base import BaseModel, BaseMutableModel

    assert dn.Database is Database
    assert settings is dn.settings
    assert BaseMutableModel.__mro__[1] is BaseModel
    assert callable(dn.get_db_session)
    assert callable(dn.get_database)


def test_import_starts_no_server_and_no_thread() -> None:
    code = (
        "import threading, dashtam_nb;"
        "names = [t.name for t in threading.enumerate()];"
        "assert 'dashtam-db-loop' not in names, names;"
        "import dashtam_nb.migrations, dashtam_nb.repositories;"
        "print('ok')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr[-400:]
    assert done.stdout.strip() == "ok"
    assert done.stderr == ""


def test_unknown_attribute_is_an_attribute_error() -> None:
    assert not hasattr(dn, "no_such_thing")
