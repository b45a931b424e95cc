"""The twin rule (see `dashtam_nb.runner`), checked over every public verb.

Async is the source. A public coroutine function or async generator function
named ``aX`` has a sibling ``X`` in the same module or class made by
`runner.blocking` (``runner.twin_of(X) is aX``), never written by hand. A
public async callable without such a twin is the guide's own async API or a
building block that works on a session already on the owner loop, and is
named in `ALLOWED` below with its reason. Every twin is named after its
source minus the ``a``. Dunder methods (``__aenter__``, ...) are named by
Python and are not verbs. There is no ``close_sync``: ``await db.close()`` or
``with db:``.

Walked: every public module of ``dashtam_nb`` (no ``_`` in its dotted name),
its public functions, and the public methods of the classes defined in it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import dashtam_nb
from dashtam_nb import runner
from dashtam_nb.repositories.base import Repository

ROOT = Path(__file__).resolve().parents[2]

# Public async callables that have no blocking twin, on purpose. Keep it short.
ALLOWED = {
    # The hop itself; its blocking counterpart is `runner.run`, which
    # `runner.blocking` is built on.
    "dashtam_nb.runner.arun",
    # The guide's async API, spelled as the guide spells it.
    "dashtam_nb.container.get_db_session",  # the FastAPI-style dependency
    "dashtam_nb.database.Database.close",  # blocking form: ``with db:``
    "dashtam_nb.handlers.RegisterUserHandler.handle",
    "dashtam_nb.session.HoppingTransaction.commit",  # AsyncSessionTransaction's
    "dashtam_nb.session.HoppingTransaction.rollback",
    # Building blocks awaited inside a unit of work, on a session or connection
    # that is already on the owner loop (repositories and the verbs above use
    # them); a blocking twin would have no session to run on.
    "dashtam_nb.admin.recreate",
    "dashtam_nb.engines.dispose",
    "dashtam_nb.engines.dispose_all",
    "dashtam_nb.engines.dispose_url",
    "dashtam_nb.io.adbc.read",
    "dashtam_nb.io.copy.write",
    "dashtam_nb.io.fetch.driver_of",
    "dashtam_nb.io.fetch.estimate_rows",
    "dashtam_nb.io.load.copy_arrow",
    "dashtam_nb.pagination.count_total",
    "dashtam_nb.pagination.keyset_page",
    "dashtam_nb.pagination.offset_page",
    "dashtam_nb.softdelete.purge",
    "dashtam_nb.softdelete.restore",
    "dashtam_nb.softdelete.soft_delete",
    "dashtam_nb.softdelete.soft_delete_where",
}


def guide_repository_class(cls: type) -> bool:
    """Repositories and their Protocols: the guide's awaited verbs (save, ...)."""
    return (
        issubclass(cls, Repository) or cls.__module__ == "dashtam_nb.protocols"
    ) and cls.__name__.endswith("Repository")


@dataclass(frozen=True)
class Entry:
    """One public callable and the namespace (module or class) it lives in."""

    where: str
    name: str
    obj: Any
    namespace: dict[str, Any]
    in_repository: bool = False

    @property
    def qualname(self) -> str:
        return f"{self.where}.{self.name}"


def _is_async(obj: object) -> bool:
    return inspect.iscoroutinefunction(obj) or inspect.isasyncgenfunction(obj)


def public_modules() -> list[types.ModuleType]:
    found = [dashtam_nb]
    for info in pkgutil.walk_packages(dashtam_nb.__path__, "dashtam_nb."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            found.append(importlib.import_module(info.name))
    return found


def entries_of(namespace: dict[str, Any], where: str, repo: bool) -> list[Entry]:
    found = []
    for name, raw in namespace.items():
        if name.startswith("_"):
            continue
        obj = raw.__func__ if isinstance(raw, staticmethod | classmethod) else raw
        if inspect.isfunction(obj):
            found.append(Entry(where, name, obj, namespace, repo))
    return found


def public_callables() -> list[Entry]:
    """Public functions of public modules and methods of their own classes."""
    found: list[Entry] = []
    for module in public_modules():
        space = vars(module)
        own = {
            name: obj
            for name, obj in space.items()
            if getattr(obj, "__module__", None) == module.__name__
        }
        found += entries_of(own, module.__name__, repo=False)
        for cname, cls in own.items():
            if inspect.isclass(cls) and not cname.startswith("_"):
                found += entries_of(
                    dict(vars(cls)),
                    f"{module.__name__}.{cname}",
                    repo=guide_repository_class(cls),
                )
    return found


def violations(entries: list[Entry], allowed: set[str]) -> list[str]:
    """Every way ``entries`` break the twin rule, one line each."""
    problems = []
    for e in entries:
        source = runner.twin_of(e.obj)
        if _is_async(e.obj):
            if e.in_repository or e.qualname in allowed:
                continue
            twin = e.namespace.get(e.name[1:]) if e.name.startswith("a") else None
            if twin is None or runner.twin_of(twin) is not e.obj:
                problems.append(
                    f"{e.qualname}: no twin; write "
                    f"`{e.name.removeprefix('a')} = runner.blocking({e.name})`"
                    + ("" if e.name.startswith("a") else " (and name it a...)")
                )
        elif source is not None:
            if not source.__name__.startswith("a") or source.__name__[1:] != e.name:
                problems.append(f"{e.qualname}: twin of {source.__name__}, misnamed")
            elif e.namespace.get(source.__name__) is not source:
                problems.append(f"{e.qualname}: its source {source.__name__} is hidden")
        elif _is_async(e.namespace.get("a" + e.name)) and (
            f"{e.where}.a{e.name}" not in allowed  # e.g. runner.run beside arun
        ):
            problems.append(f"{e.qualname}: a hand-written twin of a{e.name}")
    return problems


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return public_callables()


def test_every_public_async_verb_has_its_blocking_twin(entries: list[Entry]) -> None:
    problems = violations(entries, ALLOWED)
    assert problems == [], "\n".join(problems)


def test_the_allow_list_names_only_live_async_callables_without_twins(
    entries: list[Entry],
) -> None:
    by_name = {e.qualname: e for e in entries}
    stale = [
        name
        for name in sorted(ALLOWED)
        if name not in by_name
        or not _is_async(by_name[name].obj)
        or by_name[name].in_repository
    ]
    assert stale == [], f"remove from ALLOWED: {stale}"


def test_the_walk_sees_the_verbs_the_rule_is_about(entries: list[Entry]) -> None:
    names = {e.qualname for e in entries}
    expected = {
        "dashtam_nb.database.Database.aframe",
        "dashtam_nb.database.Database.frame",
        "dashtam_nb.database.Database.arun_transaction",
        "dashtam_nb.database.Database.run_transaction",
        "dashtam_nb.io.fetch.afetch_frame",
        "dashtam_nb.io.fetch.fetch_frame",
        "dashtam_nb.io.load.load_frame",
        "dashtam_nb.io.stream.stream_frames",
        "dashtam_nb.migrations.commands.aupgrade",
        "dashtam_nb.sample_data.seeding.seed",
        "dashtam_nb.explain.plan_summary",
        "dashtam_nb.repositories.base.Repository.save",
    }
    assert expected <= names, expected - names
    twins = [e for e in entries if runner.twin_of(e.obj) is not None]
    assert len(twins) >= 15


def test_the_checker_catches_each_way_of_breaking_the_rule() -> None:
    async def aload() -> int:
        return 1

    async def fetch() -> int:
        return 1

    def load() -> int:  # by hand
        return runner.run(aload())

    async def astream() -> int:
        return 1

    stream = runner.blocking(astream)
    space = {"aload": aload, "load": load, "fetch": fetch, "pull": stream}
    found = entries_of(space, "m", repo=False)
    problems = violations(found, set())
    assert len(problems) == 4, problems
    assert any(p.startswith("m.aload: no twin") for p in problems)
    assert any(p.startswith("m.load: a hand-written twin") for p in problems)
    assert any(p.startswith("m.fetch: no twin") for p in problems)
    assert any(p.startswith("m.pull: twin of astream, misnamed") for p in problems)
    assert violations(found, {"m.fetch"}) == [
        "m.aload: no twin; write `load = runner.blocking(aload)`",
        "m.load: a hand-written twin of aload",
        "m.pull: twin of astream, misnamed",
    ]
    # An allowed async verb (like runner.arun) may have a plain sibling (run).
    assert violations(found, {"m.aload", "m.fetch"}) == [
        "m.pull: twin of astream, misnamed"
    ]
    good = {"aload": aload, "load": runner.blocking(aload)}
    assert violations(entries_of(good, "m", repo=False), set()) == []


def test_no_close_sync_anywhere(entries: list[Entry]) -> None:
    banned = "close" + "_sync"
    assert not [e.qualname for e in entries if e.name == banned]
    files = [
        *ROOT.joinpath("dashtam_nb").rglob("*.py"),
        *ROOT.joinpath("notebooks").glob("*.ipynb"),
        *ROOT.joinpath("tests").rglob("*.py"),
        ROOT / "README.md",
    ]
    assert len(files) > 50
    hits = [
        str(f)
        for f in files
        if f != Path(__file__).resolve() and banned in f.read_text(encoding="utf-8")
    ]
    assert hits == []
