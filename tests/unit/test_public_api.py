"""The public face: an honest, sorted ``__all__`` both ways, every module with one.

As httpx tests its own: in a fresh interpreter, the public names that
``import dashtam_nb`` binds (leaving out the submodules Python binds as a side
effect of importing them) are exactly ``__all__`` minus the analyst's modules
that load lazily on first use (``_LAZY``), and every name in ``__all__`` can
be imported.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys
import types
from typing import Any

import pytest

import dashtam_nb as dn

_ENV = {"DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "PATH": ""}

_SURFACE = """
import json, sys, types
import dashtam_nb

loaded = set(sys.modules)
bound = {
    name
    for name, value in vars(dashtam_nb).items()
    if not name.startswith("_")
    and not (
        isinstance(value, types.ModuleType)
        and value.__name__ == "dashtam_nb." + name
    )
}
lazy_loaded = sorted(
    name for name in dashtam_nb._LAZY if "dashtam_nb." + name in loaded
)
star = {}
exec("from dashtam_nb import *", star)
lazy = {
    name: isinstance(getattr(dashtam_nb, name), types.ModuleType)
    for name in dashtam_nb._LAZY
}
print(json.dumps({
    "all": dashtam_nb.__all__,
    "bound": sorted(bound),
    "lazy": list(dashtam_nb._LAZY),
    "lazy_loaded_by_import": lazy_loaded,
    "lazy_are_modules": lazy,
    "star": sorted(k for k in star if k != "__builtins__"),
}))
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=_ENV,
    )


@pytest.fixture(scope="module")
def surface() -> dict[str, Any]:
    done = _python(_SURFACE)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def test_all_equals_the_public_names_import_binds(surface: dict[str, Any]) -> None:
    names = surface["all"]
    lazy = set(surface["lazy"])
    bound = set(surface["bound"])
    assert lazy <= set(names), "every lazy module is listed in __all__"
    assert sorted(bound - (set(names) - lazy)) == [], "bound but not in __all__"
    assert sorted((set(names) - lazy) - bound) == [], "in __all__ but not bound"
    # No stray helpers of the package's own module body.
    assert not {"importlib", "ModuleType", "Any", "annotations"} & bound


def test_all_is_sorted_without_duplicates(surface: dict[str, Any]) -> None:
    names = surface["all"]
    assert names == sorted(set(names))


def test_every_name_in_all_is_importable(surface: dict[str, Any]) -> None:
    assert surface["star"] == sorted(surface["all"])
    assert surface["lazy_are_modules"] == dict.fromkeys(surface["lazy"], True)


def test_analyst_modules_load_on_first_use_and_are_reachable(
    surface: dict[str, Any],
) -> None:
    # A _LAZY entry that ``import dashtam_nb`` loads anyway is dead: drop it from
    # _LAZY (the module stays in __all__) or stop importing it eagerly.
    assert surface["lazy_loaded_by_import"] == [], "dead _LAZY entries"
    assert {"explain", "migrations", "sample_data"} <= set(surface["lazy"])
    assert callable(dn.migrations.upgrade)
    assert callable(dn.sample_data.seed)
    assert callable(dn.explain.plan_summary)
    from dashtam_nb import explain, migrations, sample_data

    assert (migrations, sample_data, explain) == (
        dn.migrations,
        dn.sample_data,
        dn.explain,
    )


def _public_modules() -> list[types.ModuleType]:
    found = [dn]
    for info in pkgutil.walk_packages(dn.__path__, "dashtam_nb."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(importlib.import_module(info.name))
    return found


def test_every_public_module_has_an_all_that_names_what_it_has() -> None:
    modules = _public_modules()
    assert len(modules) > 40
    missing = [
        m.__name__
        for m in modules
        if not isinstance(getattr(m, "__all__", None), list | tuple)
    ]
    assert missing == [], f"no __all__ in {missing}"
    dangling = [
        f"{m.__name__}.{name}"
        for m in modules
        for name in m.__all__
        if not hasattr(m, name)
        and not (m is dn and name in dn._LAZY)  # checked in the subprocess above
    ]
    assert dangling == [], f"listed but missing: {dangling}"
    private = [
        f"{m.__name__}.{n}" for m in modules for n in m.__all__ if n.startswith("_")
    ]
    assert private == []
    repeated = [m.__name__ for m in modules if len(set(m.__all__)) != len(m.__all__)]
    assert repeated == []


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
    done = _python(code)
    assert done.returncode == 0, done.stderr[-400:]
    assert done.stdout.strip() == "ok"
    assert done.stderr == ""


def test_unknown_attribute_is_an_attribute_error() -> None:
    assert not hasattr(dn, "no_such_thing")
