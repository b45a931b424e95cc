"""What public objects show (plan D1, D4, D5, D8): no canary anywhere.

repr/str, IPython's display formatters (text/plain pretty, HTML, ...),
vars(), pickles, DataFrame attrs and exports, and DEBUG logs of a full
session with echo on, where the canary is also a bound *value*.
"""

from __future__ import annotations

import dataclasses
import io
import pickle
import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from IPython.core.formatters import DisplayFormatter
from sqlalchemy import text

import dashtam_nb as dn
from dashtam_nb import config, server
from dashtam_nb.session import HoppingSession
from tests.support.harness import (
    CANARY,
    assert_error_clean,
    assert_no_secret,
    scan_logs,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.security

_FORMATTER = DisplayFormatter()


def shown(obj: object) -> list[str]:
    """Every way a notebook or a log line could render ``obj``."""
    texts = [repr(obj), str(obj), format(obj, "")]
    data, metadata = _FORMATTER.format(obj)
    texts += [str(v) for v in data.values()] + [str(metadata)]
    if hasattr(obj, "__dict__"):
        texts.append(repr(vars(obj)))
    return texts


@pytest.fixture
def env_settings(
    pg: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[config.Settings]:
    monkeypatch.setenv(
        "DATABASE_URL", f"postgresql://app:{quote(CANARY, safe='')}@x/db"
    )
    try:
        yield dn.settings.reload()
    finally:
        monkeypatch.undo()
        dn.settings.reload()


def test_settings_from_an_encoded_canary_url(env_settings: config.Settings) -> None:
    assert env_settings.database_url.password == CANARY  # parsed, decoded
    assert_no_secret(*shown(env_settings), *shown(dn.settings), where="in settings")
    assert_no_secret(*shown(dataclasses.asdict(env_settings)), where="in asdict")
    for obj in (env_settings, dn.settings):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(obj)


def test_database_url_engine_pool_and_session_objects(fdb: dn.Database) -> None:
    assert fdb.url.password == CANARY
    engine = dn.run(_engine(fdb))
    objects: list[Any] = [
        fdb,
        fdb.url,
        config.masked(fdb.url),
        fdb.target,
        fdb.pool_status(),
        engine,
        engine.url,
        engine.pool,
        engine.sync_engine,
        fdb.get_session(),
        fdb.transaction(),
    ]
    for obj in objects:
        assert_no_secret(*shown(obj), where=f"in {type(obj).__name__}")
    with fdb.get_session() as session:
        assert isinstance(session, HoppingSession)
        assert_no_secret(*shown(session), *shown(session.real), *shown(session.bind))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(fdb)


async def _engine(db: dn.Database) -> Any:
    return db.engine  # the raw engine lives on the owner loop


def test_server_status_of_the_dedicated_server(pg: FaultServer) -> None:
    status = server.status(pg.root)
    assert status.running
    assert_no_secret(*shown(status), where="in ServerStatus")


def test_errors_pickle_and_render_without_the_password(pg: FaultServer) -> None:
    db = dn.Database(pg.url("no_such_db"), connect_timeout=2)
    with pytest.raises(dn.ConnectError) as info:
        db.scalar("SELECT 1")
    err = info.value
    assert_error_clean(err)
    assert_no_secret(*shown(err), where="in ConnectError display")
    blob = pickle.dumps(err)
    assert_no_secret(blob.decode("latin-1"), where="in a pickled ConnectError")
    assert type(pickle.loads(blob)) is dn.ConnectError
    dn.run(db.close())


def test_frame_attrs_and_exports(fdb: dn.Database) -> None:
    frame = fdb.frame("SELECT 1 AS a, 'x' AS b")
    assert_no_secret(repr(frame.attrs), frame.to_json(), frame.to_csv(), repr(frame))
    assert_no_secret(*shown(frame), pickle.dumps(frame).decode("latin-1"))
    parquet = io.BytesIO()
    frame.to_parquet(parquet)  # pandas writes attrs into the parquet metadata
    assert_no_secret(parquet.getvalue().decode("latin-1"), where="in parquet bytes")


def test_debug_logs_of_a_full_session_with_echo(
    pg: FaultServer, fdb: dn.Database
) -> None:
    """echo=True plus DEBUG everywhere; the canary is also a bound value."""
    db = dn.Database(fdb.url, echo=True, pool_size=1, max_overflow=0)
    with scan_logs() as logs, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        db.execute("CREATE TABLE secrets (v text UNIQUE)")
        db.execute("INSERT INTO secrets VALUES (:v)", {"v": CANARY})
        with pytest.raises(dn.DuplicateError) as info:
            db.execute("INSERT INTO secrets VALUES (:v)", {"v": CANARY})
        # Our error shows neither the value nor the SQL (the driver's DETAIL,
        # kept on .original, does quote the value: that is the server's text).
        assert_no_secret(str(info.value), repr(info.value))
        assert info.value.field == "v"
        with db.get_session() as session:
            dn.run(
                session.execute(
                    text("SELECT count(*) FROM secrets WHERE v = :v"), {"v": CANARY}
                )
            )
        bad = dn.Database(fdb.url.set(username="app_other"), echo=True)
        with pytest.raises(dn.ConnectError):
            bad.scalar("SELECT 1")
        dn.run(bad.close())
    dn.run(db.close())
    assert any("INSERT INTO secrets" in line for line in logs.lines)  # echo was on
    assert any("hide_parameters" in line for line in logs.lines)
    assert_no_secret(*(str(w.message) for w in caught), where="in warnings")
