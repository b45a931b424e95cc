"""``%sql`` / ``%%sql`` in a real Jupyter kernel (issue 13, points 4 and 7).

Each kernel test starts its own kernel (with its own IPython directory, so
its history database can be read afterwards) on a fresh database, loads the
extension and talks to it only through the messaging protocol, as a
notebook would. The parser tests at the end need no kernel.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

import pytest
from IPython.core.error import UsageError

import dashtam_nb as dn
from dashtam_nb.magic import SqlMagics, bind_names, parse, split_options
from dashtam_nb.magic.display import QueryInfo, footer
from tests.support.harness import poll

if TYPE_CHECKING:
    from pathlib import Path

    from tests.kernel.conftest import Kernel


def in_kernel(test: Any) -> Any:
    """Marks a test that drives a real kernel on a real server."""
    return pytest.mark.kernel(pytest.mark.integration(test))


HOSTILE = "x'); DROP TABLE t; --"
FAKE_PASSWORD = "hunter2MagicPw"


@pytest.fixture(autouse=True)
def ipython_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The kernel's own IPYTHONDIR (autouse: set before the kernel starts)."""
    path = tmp_path / "ipython"
    monkeypatch.setenv("IPYTHONDIR", str(path))
    monkeypatch.delenv("NBVAL", raising=False)
    return path


class Seen:
    """Every error traceback and rich result the kernel sent, by request id."""

    def __init__(self, kernel: Kernel) -> None:
        self.tracebacks: dict[str, list[str]] = {}
        self.data: dict[str, dict[str, Any]] = {}
        self.everything: list[str] = []
        original = kernel.kc.get_iopub_msg

        def get(*args: Any, **kwargs: Any) -> Any:
            msg = original(*args, **kwargs)
            parent = msg["parent_header"].get("msg_id", "")
            content = msg["content"]
            if msg["msg_type"] == "error":
                self.tracebacks[parent] = content["traceback"]
            elif msg["msg_type"] in {"execute_result", "display_data"}:
                self.data[parent] = content["data"]
            if msg["msg_type"] != "execute_input":  # the cell itself, echoed
                self.everything.append(repr(content))
            return msg

        kernel.kc.get_iopub_msg = get  # type: ignore[method-assign]


def _start(kernel: Kernel, db_name: str) -> Seen:
    seen = Seen(kernel)
    kernel.ok("%load_ext dashtam_nb")
    kernel.ok(
        f"import dashtam_nb\n"
        f"dashtam_nb.connect({db_name!r}, pool_size=1, max_overflow=0, "
        f"pool_timeout=5);"
    )
    return seen


def _error(kernel: Kernel, seen: Seen, code: str) -> tuple[str | None, list[str]]:
    msg_id = kernel.submit(code)
    reply = kernel.collect([msg_id])[0]
    assert reply.status == "error", reply.describe()
    # A UsageError is written to stderr and sends no traceback.
    return reply.ename, seen.tracebacks.get(msg_id, [reply.stderr])


@in_kernel
@pytest.mark.parametrize("form", ["cell", "line"])
def test_assignment_binds_and_a_hostile_value(
    kernel: Kernel, db_name: str, form: str
) -> None:
    _start(kernel, db_name)
    kernel.ok("%sql CREATE TABLE t (id int, name text)")
    kernel.ok(f"name = {HOSTILE!r}\nn = 7")
    inserted = kernel.value("%sql INSERT INTO t VALUES (:n, :name)") or ""
    assert inserted.startswith("1 row affected"), inserted
    select = (
        "SELECT id, name, '1'::int AS one, '{n}' AS braces FROM t WHERE name = :name"
    )
    cell = f"%%sql back <<\n{select}" if form == "cell" else f"%sql back << {select}"
    reply = kernel.ok(cell)
    assert reply.result is None, "<< assigns and shows nothing"
    assert reply.stdout == ""
    assert (
        kernel.value("type(back).__mro__[1].__name__, len(back)") == "('DataFrame', 1)"
    )
    assert kernel.value("back['name'][0] == name") == "True"
    assert (
        kernel.value(
            "(back['id'][0], back['one'][0], back['braces'][0]) == (7, 1, '{n}')"
        )
        == "True"
    )
    # The hostile value was data, never SQL: the table is still there.
    kernel.ok("%sql after << SELECT * FROM t")
    assert kernel.value("len(after)") == "1"


@in_kernel
def test_display_shows_a_limited_preview_and_the_value_has_every_row(
    kernel: Kernel, db_name: str
) -> None:
    seen = _start(kernel, db_name)
    msg_id = kernel.submit("%sql SELECT i FROM generate_series(1, 25) AS i")
    reply = kernel.collect([msg_id])[0]
    assert reply.status == "ok", reply.describe()
    text = reply.result or ""
    lines = text.splitlines()
    assert lines[-1].startswith("25 rows · first 20 shown · "), text
    assert lines[-1].endswith(" ms") or lines[-1].endswith(" s"), text
    assert len(lines) == 1 + 20 + 1, text  # header, 20 rows, footer
    html = seen.data[msg_id]["text/html"]
    assert html.count("<td>") == 20, html  # one column, 20 rows
    assert '<p class="dn-sql-footer">25 rows · first 20 shown' in html
    assert kernel.value("len(_), int(_['i'].sum())") == "(25, 325)"
    # --limit, and the time left out under NBVAL (deterministic saved output).
    kernel.ok("import os\nos.environ['NBVAL'] = '1'")
    text = kernel.value("%sql --limit 3 SELECT i FROM generate_series(1, 5) AS i") or ""
    assert text.splitlines()[-1] == "5 rows · first 3 shown", text
    assert kernel.value("%sql SELECT 1 AS one") == "   one\n0    1\n1 row"
    assert kernel.value("%sql CREATE TABLE u (i int)") == "done"
    assert kernel.value("%sql INSERT INTO u SELECT generate_series(1, 4)") == (
        "4 rows affected"
    )
    returning = kernel.value("%sql UPDATE u SET i = i * 10 WHERE i > 2 RETURNING i")
    assert returning == "    i\n0  30\n1  40\n2 rows", returning


@in_kernel
def test_errors_are_one_line_and_tb_has_the_full_traceback(
    kernel: Kernel, db_name: str
) -> None:
    seen = Seen(kernel)
    # Before the extension: IPython's own, long traceback.
    kernel.ok("import dashtam_nb")
    ename, tb = _error(kernel, seen, "raise dashtam_nb.NotFoundError('no such user')")
    assert ename == "NotFoundError"
    assert len(tb) > 1, tb
    _start(kernel, db_name)

    cases = {
        "%sql selec 1": ("DatabaseError", 'syntax error at or near "selec"'),
        "%sql SELECT * FROM no_such_table": ("DatabaseError", "no_such_table"),
        "%sql SELECT :not_defined_here": ("ValidationError", ":not_defined_here"),
        "%sql --db no_such_database_here SELECT 1": ("ConnectError", "does not exist"),
        "%sql --db 'bad name' SELECT 1": ("ValidationError", "database name"),
        "raise dashtam_nb.NotFoundError('no such user')": ("NotFoundError", "no such"),
    }
    for code, (name, words) in cases.items():
        ename, tb = _error(kernel, seen, code)
        assert ename == name, (code, tb)
        assert len(tb) == 1, (code, tb)
        assert "\n" not in tb[0], (code, tb)
        assert tb[0].startswith(f"{name}: "), (code, tb)
        assert words in tb[0], (code, tb)
        assert tb[0].endswith("(full traceback: %tb)"), (code, tb)

    # %tb: the last error in full, frames and all.
    _error(kernel, seen, "%sql selec 1")
    msg_id = kernel.submit("%tb")
    kernel.collect([msg_id])
    full = "\n".join(seen.tracebacks[msg_id])
    assert "dashtam_nb/magic/__init__.py" in full, full[-500:]
    assert "Traceback" in full, full[-500:]
    assert full.count("\n") > 10, full
    assert 'syntax error at or near "selec"' in full

    # Usage errors stay IPython's one-liners; the kernel keeps working.
    for bad in (
        "%sql",
        "%sql --bogus 1",
        "%sql --tables SELECT 1",
        "%sql --limit -1 x",
    ):
        ename, tb = _error(kernel, seen, bad)
        assert ename == "UsageError", (bad, tb)
        assert tb[0].count("\n") <= 2, (bad, tb)
    kernel.ok("%sql one << SELECT 1 AS one")
    assert kernel.value("len(one)") == "1"


@in_kernel
def test_tables_and_describe(kernel: Kernel, db_name: str) -> None:
    _start(kernel, db_name)
    kernel.ok("%sql CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL)")
    kernel.ok("%sql --tables tabs <<")
    assert kernel.value("list(tabs['table'])") == "['accounts']"
    kernel.ok("%sql --tables --schema public public_tabs <<")
    assert kernel.value("list(public_tabs['table'])") == "['accounts']"
    kernel.ok("%sql --describe accounts cols <<")
    assert kernel.value("list(cols['column']), list(cols['type'])") == (
        "(['id', 'owner'], ['integer', 'text'])"
    )
    assert "public.accounts" in (kernel.value("%sql --describe accounts") or "")
    reply = kernel.run("%sql --describe no_such_table")
    assert reply.ename == "NotFoundError", reply.describe()


def _probe() -> dn.Database:
    return dn.Database(dn.settings.database_url)


def _sleeping(probe: dn.Database, name: str) -> int:
    count: int = probe.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = :d"
        " AND state = 'active' AND query LIKE '%pg_sleep(30)%'",
        {"d": name},
    )
    return count


@in_kernel
@pytest.mark.parametrize("form", ["line", "cell"])
def test_interrupt_cancels_the_query_on_the_server(
    kernel: Kernel, db_name: str, form: str
) -> None:
    _start(kernel, db_name)
    code = "SELECT pg_sleep(30) AS s"
    msg_id = kernel.submit(f"%sql {code}" if form == "line" else f"%%sql\n{code}")
    probe = _probe()
    poll(lambda: _sleeping(probe, db_name), timeout=10)

    interrupted_at = time.monotonic()
    kernel.km.interrupt_kernel()
    reply = kernel.collect([msg_id], timeout=10)[0]

    assert reply.status == "error", reply.describe()
    assert reply.ename in {"KeyboardInterrupt", "QueryCancelledError"}, reply.describe()
    assert reply.replied_at is not None
    assert reply.replied_at - interrupted_at < 5.0, "the cell ignored the interrupt"
    poll(lambda: _sleeping(probe, db_name) == 0, timeout=3)
    # One pooled connection: it came back.
    kernel.ok("%sql one << SELECT 1 AS one")
    assert kernel.value("len(one)") == "1"


@in_kernel
def test_no_url_or_password_in_history_who_or_output(
    kernel: Kernel, db_name: str, ipython_dir: Path
) -> None:
    seen = _start(kernel, db_name)
    kernel.ok("x = 5")
    kernel.ok("%sql SELECT :x AS x")
    kernel.ok(f"%sql --db {db_name} SELECT 2 AS two")
    url = f"postgresql://app:{FAKE_PASSWORD}@db.example:5432/{db_name}"
    for code in (
        f"%sql --db {url} SELECT 1",
        f"%sql {url}",
        f"%%sql\n-- from {url}\nSELECT 1",
    ):
        ename, tb = _error(kernel, seen, code)
        assert ename == "ValidationError", tb
        assert "never URLs" in tb[0]
    kernel.ok("%tb")  # the refusal's traceback would quote the cell: dropped
    shown = {
        "In": kernel.value("'\\n'.join(In)"),
        "_ih": kernel.value("'\\n'.join(_ih)"),
        "_i vars": kernel.value(
            "'\\n'.join(str(v) for k, v in globals().items() if k.startswith('_i'))"
        ),
        "who": kernel.ok("%who").stdout,
        "whos": kernel.ok("%whos").stdout,
    }
    kernel.ok("get_ipython().history_manager.writeout_cache()")
    assert (
        kernel.value(
            "[k for k, v in globals().items() if isinstance(v, dashtam_nb.Database)]"
        )
        == "[]"
    )
    assert "postgresql://<removed>" in (shown["In"] or "")
    for where, text in {**shown, "iopub": "\n".join(seen.everything)}.items():
        assert FAKE_PASSWORD not in (text or ""), where
        assert "db.example" not in (text or ""), where
    assert "x" in (shown["who"] or "").split()
    assert "Database" not in (shown["whos"] or "")

    history = ipython_dir / "profile_default" / "history.sqlite"
    rows = poll(lambda: _history(history), timeout=5)
    assert any("%sql SELECT :x AS x" in row for row in rows), rows
    assert not [row for row in rows if FAKE_PASSWORD in row or "db.example" in row]


def _history(path: Path) -> list[str]:
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT source, source_raw FROM history").fetchall()
    return [f"{a}\n{b}" for a, b in rows]


# The parser, without a kernel.

PARSER = vars(SqlMagics)["sql"].parser


def test_options_stop_where_the_sql_starts_and_the_sql_is_untouched() -> None:
    line = "--db other --limit 5 SELECT 'a  b' AS x, '--not' AS y"
    tokens, rest = split_options(line)
    assert tokens == ["--db", "other", "--limit", "5"]
    assert rest == " SELECT 'a  b' AS x, '--not' AS y"
    request = parse(PARSER, line, None)
    assert (request.options.db, request.options.limit) == ("other", 5)
    assert request.sql == "SELECT 'a  b' AS x, '--not' AS y"
    assert request.target is None
    assert split_options("--tables") == (["--tables"], "")
    assert split_options("-- SELECT 1") == ([], " SELECT 1")


def test_assignment_forms() -> None:
    assert parse(PARSER, "df <<", "SELECT 1").target == "df"
    assert parse(PARSER, " df<< ", "SELECT 1").sql == "SELECT 1"
    line = parse(
        PARSER, "--limit 2 df << SELECT inet '1.2.3.4' << inet '1.2.3.0/24'", None
    )
    assert (line.target, line.sql) == (
        "df",
        "SELECT inet '1.2.3.4' << inet '1.2.3.0/24'",
    )
    # `<<` inside the SQL is the operator, not an assignment.
    plain = parse(PARSER, "SELECT inet '1.2.3.4' << inet '1.2.3.0/24'", None)
    assert plain.target is None
    for bad_line, cell in [
        ("class <<", "SELECT 1"),
        ("SELECT 1", "SELECT 2"),
        ("", " "),
    ]:
        with pytest.raises(UsageError):
            parse(PARSER, bad_line, cell)


def test_binds_are_sqlalchemy_text_binds_and_casts_are_not() -> None:
    sql = r"SELECT :a, '1'::int, x::text, \:literal, :b_2, :a FROM t"
    assert bind_names(sql) == ["a", "b_2"]
    assert bind_names("SELECT 1") == []


def test_footer_counts_rows() -> None:
    info = QueryInfo(sql="SELECT 1", limit=20)
    assert footer(1, info) == "1 row"
    assert footer(0, info) == "0 rows"
    assert footer(20, info) == "20 rows"
    assert footer(1_000_000, info) == "1,000,000 rows · first 20 shown"
