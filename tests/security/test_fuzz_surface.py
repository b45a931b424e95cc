# Size: the surface walker, argument drawer, invoker and oracle belong together.
"""Every public call, hostile arguments: success or one clean `DashtamError` (14.2).

The surface is read from ``dashtam_nb.__all__`` and the ``__all__`` of the
analyst modules (migrations, sample_data, server, schema, explain), so a new
verb is fuzzed the day it is exported. For each callable (and each public
method of `Database` and of the repositories), hypothesis draws every
parameter either from a known-good value or from the hostile pool of
tests/support/bad_inputs.py, and the call must either succeed or raise a
`dashtam_nb.DashtamError` whose message is one line, shows no statement that
was sent, no bound value, and no canary. Anything else (TypeError,
AttributeError, pyarrow, psycopg, the pool's own `HostileDunderError`) fails.

Calls run on real PostgreSQL: the fault suite's dedicated server (a migrated
database for repositories, frames and pages; another for migrations) and the
embedded server that `connect`/`create_database` use. The CLI runs
in-process with hostile argv. Examples per callable: DASHTAM_FUZZ_EXAMPLES
(default 6, about 30 s here; 20 finds more).

Every raw error it found was fixed at its root, so nothing is held back: a
new finding fails the run (fix it where it is raised, with a test).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import os
import shutil
import uuid
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine

import dashtam_nb as dn
from dashtam_nb import cli, explain, migrations, sample_data, schema, server
from dashtam_nb.entities import User
from dashtam_nb.models import UserModel
from tests.support.bad_inputs import (
    FUZZ,
    HostileDunderError,
    hostile_factories,
    hostile_paths,
)
from tests.support.harness import assert_no_secret, bad_input

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.security

EXAMPLES = int(os.environ.get("DASHTAM_FUZZ_EXAMPLES", "6"))

MODULES: dict[str, Any] = {
    "dn": dn,
    "migrations": migrations,
    "sample_data": sample_data,
    "server": server,
    "schema": schema,
    "explain": explain,
}

# Exported names that are not calls of ours to fuzz, and why.
NOT_FUZZED: dict[str, str] = {
    "schema.TableDescription": "a DataFrame subclass: its constructor is pandas'",
    "dn.Result": "a type alias (Success | Failure), not a callable",
}

# Parameters whose hostile values come from the path pool: a data directory
# or migrations folder from the general pool (any plain string) could start a
# server or write a revision in the working directory.
# (``script_location=None`` means the project's own folder: never drawn.)
PATH_PARAMS = frozenset({"data_dir", "script_location"})


class Marker:
    """A value resolved at call time (a live session, a fresh coroutine...)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


SESSION, DB, MIGDB, SEEDDB, CORO, SCRIPTS, DATADIR, EMBEDDED, ENGINE = (
    Marker(n)
    for n in (
        "session",
        "db",
        "migdb",
        "seeddb",
        "coroutine",
        "scripts",
        "datadir",
        "embedded",
        "engine",
    )
)
# Where ``db`` points, by module: migrations move their own database up and
# down; the sample data's ``fresh=True`` drops and recreates its own.
DB_OF = {"migrations.": MIGDB, "sample_data.": SEEDDB}


async def _work(session: Any) -> int:
    return 1


def _small_frame() -> Any:
    import pandas as pd

    return pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})


# Good values by parameter name (label.param first): one hostile argument at
# a time reaches code past the checks of the others.
VALID: dict[str, Any] = {
    "session": SESSION,
    "source": DB,
    "db": DB,
    "coro": CORO,
    "work": _work,
    "sql": "SELECT 1",
    "stmt": sa.select(UserModel),
    "df": _small_frame,
    "frame": _small_frame,
    "entities": list,
    "name": "fuzz_t",
    "model_or_table": UserModel,
    "size": 20,
    "n_transactions": 20,
    "seed": 42,
    "rev": "head",
    "action": "upgrade",
    "message": "fuzz",
    "script_location": SCRIPTS,
    "result": lambda: dn.Success(1),
    "value": 1,
    "error": lambda: dn.ValidationError("x"),
    "plan": lambda: {"Node Type": "Result"},
    "database": "fuzz_admin",
    "database_url": "postgresql://app:pw@127.0.0.1:1/db",
    "email": "fuzz@example.com",
    "id": uuid.uuid4,
    "entity_or_id": uuid.uuid4,
    "user_id": uuid.uuid4,
    "account_id": uuid.uuid4,
    "resource_id": uuid.uuid4,
    "resource_type": "user",
    "page": 1,
    "page_size": 5,
    "chunk_rows": 10,
    # include_deleted only matters for a select of a soft-delete model.
    "dn.afetch_frame.sql": sa.select(UserModel),
    "dn.fetch_frame.sql": sa.select(UserModel),
    "older_than": dt.datetime(2000, 1, 1, tzinfo=dt.UTC),
    "migrations.Step.target": "head",
    "connect.database": None,
    "dn.to_frame.entities": lambda: [User(email="fuzz@example.com", password_hash="x")],
    "data_dir": DATADIR,  # an empty folder: nothing starts or stops there
    "server.ensure_server.data_dir": EMBEDDED,  # the server already running
    "engine": ENGINE,
}

# Names the caller chose may be named back (through `dashtam_nb.errors.echo`)
# even when the package bound them as values in a catalog query.
ECHOABLE = frozenset({"name", "schema", "primary_key", "sort", "key"})


@dataclass(frozen=True)
class Entry:
    """One public callable and how to reach it."""

    label: str
    fn: Callable[..., Any]
    params: tuple[inspect.Parameter, ...]
    owner: str = "module"  # module | Database | repository
    repo: type[Any] | None = None

    @property
    def is_async(self) -> bool:
        # Not unwrapped: a blocking twin (``runner.blocking``) is called plainly,
        # as a script would; its async source is an entry of its own.
        fn = self.fn
        return self.owner == "repository" or (
            inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)
        )

    @property
    def db_marker(self) -> Marker:
        for prefix, marker in DB_OF.items():
            if self.label.startswith(prefix):
                return marker
        return DB

    def __repr__(self) -> str:
        return self.label


def _params(fn: Callable[..., Any], drop_first: bool) -> tuple[inspect.Parameter, ...]:
    params = tuple(inspect.signature(fn).parameters.values())
    return params[1:] if drop_first else params


def _methods(cls: type[Any], owner: str) -> Iterator[Entry]:
    for name, member in inspect.getmembers(cls):
        if name.startswith("_") or isinstance(member, type | property):
            continue
        if not inspect.isfunction(member):
            continue
        label = f"{cls.__name__}.{name}"
        repo = cls if owner == "repository" else None
        yield Entry(label, member, _params(member, True), owner, repo)


def surface() -> list[Entry]:
    """The public callables of the package, read from each module's __all__."""
    entries: list[Entry] = []
    seen: set[int] = set()
    for prefix, module in MODULES.items():
        for name in module.__all__:
            label = f"{prefix}.{name}"
            obj = getattr(module, name)
            if label in NOT_FUZZED or inspect.ismodule(obj) or not callable(obj):
                continue
            if isinstance(obj, type) and issubclass(obj, BaseException):
                continue  # error classes take any message by design
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if isinstance(obj, type):
                entries.append(Entry(label, obj, _params(obj, False)))
                if obj is dn.Database:
                    entries.extend(_methods(obj, "Database"))
                elif name.endswith("Repository"):
                    entries.extend(_methods(obj, "repository"))
            else:
                entries.append(Entry(label, obj, _params(obj, False)))
    return entries


SURFACE = surface()


@dataclass(frozen=True)
class Arg:
    """A drawn argument: a factory (fresh object per call) and a short label."""

    label: str
    make: Callable[[], Any] | Marker | None
    hostile: bool
    literal: Any = None

    def __repr__(self) -> str:
        return self.label


def _label(factory: Callable[[], Any]) -> str:
    value = factory()
    try:
        with warnings.catch_warnings():  # pandas warns rendering float16 inf
            warnings.simplefilter("ignore")
            text = repr(value)
    except Exception:
        text = "?"
    text = text.replace("\n", " ")
    return f"{type(value).__name__}:{text[:40]}"


def _pool(factories: list[Callable[[], Any]]) -> list[Arg]:
    return [Arg(_label(f), f, True) for f in factories]


HOSTILE = _pool(hostile_factories())
HOSTILE_PATHS = _pool(hostile_paths())
HOSTILE_SCRIPTS = [a for a in HOSTILE_PATHS if a.label != "NoneType:None"]
HOSTILE_NO_CANARY = [
    a for a in HOSTILE if "Zq9" not in a.label and "URL" not in a.label
]
DEFAULT = Arg("<default>", None, False)


def _valid(entry: Entry, param: inspect.Parameter) -> Arg | None:
    short = entry.label.split(".", 1)[-1]
    for key in (f"{entry.label}.{param.name}", f"{short}.{param.name}", param.name):
        if key in VALID:
            value = VALID[key]
            if isinstance(value, Marker) or (callable(value) and value is not _work):
                return Arg(f"ok:{param.name}", value, False)
            return Arg(f"ok:{value!r}"[:40], None, False, value)
    if param.default is not inspect.Parameter.empty:
        return DEFAULT
    return None


def _pool_for(param: str) -> list[Arg]:
    if param == "script_location":
        return HOSTILE_SCRIPTS
    if param in PATH_PARAMS:
        return HOSTILE_PATHS
    if param == "sql" or param in ECHOABLE:
        # SQL text and names are the caller's own words: the server's parser
        # quotes a token of SQL, and a table named after the password is a
        # legal table whose name later shows up in listings and DEBUG logs.
        return HOSTILE_NO_CANARY
    return HOSTILE


def _arg_strategy(entry: Entry, param: inspect.Parameter) -> st.SearchStrategy[Arg]:
    valid = _valid(entry, param)
    hostile = st.sampled_from(_pool_for(param.name))
    return hostile if valid is None else st.one_of(st.just(valid), hostile)


# ``connect(**options)``: real option names, and one that is no option.
_DB_OPTIONS = ("pool_size", "statement_timeout", "connect_timeout", "echo", "pool_sise")


def draw_args(data: st.DataObject, entry: Entry) -> tuple[list[Arg], dict[str, Arg]]:
    """Positional and keyword arguments for one call."""
    pos: list[Arg] = []
    kw: dict[str, Arg] = {}
    for p in entry.params:
        if p.kind is p.VAR_POSITIONAL:
            pos += data.draw(st.lists(st.sampled_from(HOSTILE), max_size=2))
        elif p.kind is p.VAR_KEYWORD:
            names = data.draw(st.lists(st.sampled_from(_DB_OPTIONS), unique=True))
            kw.update({n: data.draw(st.sampled_from(HOSTILE)) for n in names})
        else:
            arg = data.draw(_arg_strategy(entry, p), label=p.name)
            if arg is DEFAULT:
                continue
            if p.kind is p.POSITIONAL_ONLY:
                pos.append(arg)
            else:
                kw[p.name] = arg
    return pos, kw


@dataclass
class Context:
    """What markers resolve to."""

    db: dn.Database
    migdb: dn.Database
    seeddb: dn.Database
    scripts: Path
    datadir: Path
    embedded: Path
    engine: Any
    made: list[Any] = field(default_factory=list)
    given: set[str] = field(default_factory=set)  # the caller's own strings

    def value(self, arg: Arg, session: Any) -> Any:
        make = arg.make
        if make is None:
            return arg.literal
        if make is SESSION:
            return session
        if make in (DB, MIGDB, SEEDDB, SCRIPTS, DATADIR, EMBEDDED, ENGINE):
            assert isinstance(make, Marker)
            return getattr(self, make.name)
        if make is CORO:
            coro = asyncio.sleep(0)
            self.made.append(coro)
            return coro
        assert callable(make)
        value = make()
        if inspect.iscoroutine(value):
            self.made.append(value)
        return value

    def close_made(self) -> None:
        for coro in self.made:
            coro.close()
        self.made.clear()
        self.given.clear()


def _needs_session(entry: Entry, pos: list[Arg], kw: dict[str, Arg]) -> bool:
    return entry.owner == "repository" or any(
        a.make is SESSION for a in [*pos, *kw.values()]
    )


def _resolve(
    ctx: Context, entry: Entry, pos: list[Arg], kw: dict[str, Arg], session: Any
) -> tuple[list[Any], dict[str, Any]]:
    def one(arg: Arg) -> Any:
        if arg.make is DB:
            arg = Arg(arg.label, entry.db_marker, False)
        return ctx.value(arg, session)

    args, kwargs = [one(a) for a in pos], {k: one(v) for k, v in kw.items()}
    for value in args:
        ctx.given.update(_strings(value))
    for key, value in kwargs.items():
        if key not in ECHOABLE:
            ctx.given.update(_strings(value))
    return args, kwargs


def _drain_sync(out: Any) -> None:
    if isinstance(out, str | bytes | dict | list | tuple) or not hasattr(
        out, "__next__"
    ):
        return
    for n, _ in enumerate(out):
        if n >= 2:
            break
    close = getattr(out, "close", None)
    if close is not None:
        close()


async def _drain_async(out: Any) -> None:
    if inspect.isawaitable(out):
        out = await out
    if hasattr(out, "__anext__"):
        n = 0
        async for _ in out:
            n += 1
            if n >= 2:
                break
        await out.aclose()
    else:
        _drain_sync(out)


def _target(entry: Entry, ctx: Context, session: Any) -> Callable[..., Any]:
    name = entry.label.rsplit(".", 1)[-1]
    if entry.owner == "Database":
        return getattr(ctx.db, name)  # type: ignore[no-any-return]
    if entry.owner == "repository" and entry.repo is not None:
        return getattr(entry.repo(session), name)  # type: ignore[no-any-return]
    return entry.fn


def invoke(entry: Entry, ctx: Context, pos: list[Arg], kw: dict[str, Arg]) -> None:
    """Call ``entry`` as a notebook would: sync in a ``with``, async in a loop."""
    needs = _needs_session(entry, pos, kw)
    if not entry.is_async:
        with ctx.db.get_session() if needs else contextlib.nullcontext() as session:
            args, kwargs = _resolve(ctx, entry, pos, kw, session)
            out = _target(entry, ctx, session)(*args, **kwargs)
            _drain_sync(out)
        return

    async def go() -> None:
        scope = ctx.db.get_session() if needs else contextlib.nullcontext()
        async with scope as session:
            args, kwargs = _resolve(ctx, entry, pos, kw, session)
            await _drain_async(_target(entry, ctx, session)(*args, **kwargs))

    asyncio.run(go())


@contextlib.contextmanager
def sent_sql() -> Iterator[list[tuple[str, Any]]]:
    """Every statement (and its parameters) sent during the block."""
    sent: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: Any, params: Any, *rest: Any) -> None:
        sent.append((str(statement), params))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def check_error(
    err: BaseException,
    sent: list[tuple[str, Any]],
    label: str,
    given: set[str] | frozenset[str] = frozenset(),
) -> None:
    """The oracle: our class, one line, no statement, no bound value, no canary.

    A bound value counts when the caller gave it (catalog names the package
    binds itself, and the names in `ECHOABLE`, may be named back).
    """
    if not isinstance(err, dn.DashtamError):
        where = f"{label} raised {type(err).__module__}.{type(err).__name__}"
        raise AssertionError(f"{where}: {str(err)[:200]!r}") from err
    message = str(err)
    assert_no_secret(message, repr(err), where=f"in {label}'s error")
    assert "\n" not in message, f"{label}: {message!r}"
    assert "\r" not in message, f"{label}: {message!r}"
    assert "[SQL:" not in message, message
    assert "[parameters:" not in message, message
    for statement, params in sent:
        text = " ".join(statement.split())
        if len(text) >= 20:
            assert text not in " ".join(message.split()), f"{label} shows SQL"
        for value in _strings(params):
            if len(value) >= 4 and value in given:
                assert value not in message, f"{label} shows a bound value"


@pytest.fixture(scope="module")
def ctx(
    module_db: dn.Database, pg: FaultServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Context]:
    scripts = tmp_path_factory.mktemp("fuzz_alembic") / "alembic"
    # Revisions the fuzz writes (any message) land in this copy, never in
    # the project's alembic/versions.
    shutil.copytree(migrations.PROJECT_DIR / "alembic", scripts)
    migrations.upgrade("head", db=module_db, script_location=scripts)
    name = pg.create_database(f"f_mig_{uuid.uuid4().hex[:10]}")
    migdb = dn.Database(pg.url(name), pool_size=2, max_overflow=0, connect_timeout=2)
    seeddb = dn.connect("fuzz_seed", fresh=True, default=False)
    migrations.upgrade("head", db=seeddb, script_location=scripts)
    engine = create_async_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    context = Context(
        module_db,
        migdb,
        seeddb,
        scripts,
        datadir=tmp_path_factory.mktemp("fuzz_data_dir"),
        embedded=dn.settings.data_dir,
        engine=engine,
    )
    try:
        yield context
    finally:
        dn.run(migdb.close())
        pg.drop_database(name)
        dn.run(seeddb.close())
        dn.drop_database("fuzz_seed")
        dn.drop_database("fuzz_admin")
        dn.set_database(None)


@pytest.mark.parametrize("entry", [pytest.param(e, id=e.label) for e in SURFACE])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_public_call_raises_only_clean_dashtam_errors(
    ctx: Context, entry: Entry, data: st.DataObject
) -> None:
    pos, kw = draw_args(data, entry)
    hostile = any(a.hostile for a in [*pos, *kw.values()])
    FUZZ.callables.add(entry.label)
    FUZZ.calls += 1
    if hostile:
        bad_input()
    try:
        with sent_sql() as sent:
            try:
                invoke(entry, ctx, pos, kw)
            except HostileDunderError as exc:
                raise AssertionError(f"{entry.label} used a value unchecked") from exc
            except (KeyboardInterrupt, SystemExit):
                raise
            except AssertionError:
                raise
            except BaseException as exc:  # the oracle decides what is allowed
                check_error(exc, sent, entry.label, ctx.given)
    finally:
        ctx.close_made()
        dn.set_database(None)


def test_the_surface_is_read_from_all() -> None:
    labels = {e.label for e in SURFACE}
    # Spot checks that the walker sees each kind of entry point.
    for must in (
        "dn.Database",
        "Database.frame",
        "Database.awrite_frame",
        "UserRepository.paginate_after",
        "dn.connect",
        "dn.load_frame",
        "migrations.upgrade",
        "sample_data.seed",
        "server.status",
        "explain.plan_summary",
    ):
        assert must in labels, must
    assert len(SURFACE) >= 100


# ---- the CLI, in-process, with hostile argv ----

HOSTILE_ARGV: list[list[str]] = [
    [],
    ["nope"],
    ["db"],
    ["db", "explode"],
    ["db", "url", "--no-such-flag"],
    ["migrate"],
    ["migrate", "sideways"],
    ["migrate", "up", "no_such_revision"],
    ["migrate", "up", "'; DROP TABLE canary; --"],
    ["migrate", "down", "nul\x00rev"],
    ["migrate", "stamp", "\udcff"],
    ["migrate", "up", "+999"],
    ["seed", "--size", "-5"],
    ["seed", "--size", "enormous"],
    ["seed", "--size", "99999999999999999999"],
    ["seed", "--size"],
    ["notebooks", "/proc/version"],
    ["notebooks", "nul\x00.ipynb", "x.ipynb"],
    ["--help-me"],
]
# cli.py is another helper's: strict xfails until fixed, then plain cases.
CLI_KNOWN: dict[tuple[str, ...], str] = {}


def _argv_cases() -> list[Any]:
    cases = [pytest.param(a, id=repr(a)[:40]) for a in HOSTILE_ARGV]
    for argv, reason in CLI_KNOWN.items():
        mark = pytest.mark.xfail(strict=True, reason=reason)
        cases.append(pytest.param(list(argv), id=repr(list(argv))[:40], marks=mark))
    return cases


@pytest.mark.parametrize("argv", _argv_cases())
def test_cli_hostile_argv_is_one_line_and_nonzero(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    bad_input()
    FUZZ.calls += 1
    FUZZ.callables.add("cli.main")
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse: usage on stderr, exit 2
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    assert code != 0, f"{argv!r} exited 0"
    assert "Traceback" not in captured.err + captured.out
    assert_no_secret(captured.err, captured.out, where=f"in cli {argv!r}")
    # argparse prints its usage first; either way one line says what is wrong.
    lines = [line for line in captured.err.splitlines() if "error:" in line]
    assert len(lines) == 1, f"{argv!r}: {captured.err!r}"
