"""Server and CLI arguments are refused before anything starts (14.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import dashtam_nb
from dashtam_nb import cli, server
from dashtam_nb.errors import DashtamError, ValidationError
from tests.support.bad_inputs import Hostile


@pytest.mark.parametrize(
    "data_dir", [None, 5, b"/tmp", "nul\x00dir", "", Hostile(), ["/tmp"], "lone\udcff"]
)
@pytest.mark.parametrize("verb", ["attached", "status", "stop", "pgdata_path"])
def test_data_dir_must_be_a_path(verb: str, data_dir: Any) -> None:
    with pytest.raises(ValidationError) as info:
        getattr(server, verb)(data_dir)
    assert info.value.field == "data_dir"


def test_stop_where_nothing_can_run_is_clean() -> None:
    assert server.stop(Path("/" + "a" * 5000)) is False  # a name too long
    assert server.stop(Path("/proc/self/no_such_dir")) is False
    with pytest.raises(DashtamError, match="not a directory"):
        server.stop(Path("/proc/version"))


def test_flags_and_engine_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="others"):
        server.attached(tmp_path, others=pd.DataFrame())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="keep_running"):
        server.ensure_server(tmp_path / "never", keep_running=1)  # type: ignore[arg-type]
    assert not (tmp_path / "never").exists()
    with pytest.raises(ValidationError, match="engine"):
        server.heal_on_connect(Hostile())  # type: ignore[arg-type]


def test_seed_checks_size_before_connecting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_connect(*_: Any, **__: Any) -> None:
        raise AssertionError("connected before checking --size")

    monkeypatch.setattr(dashtam_nb, "connect", no_connect)
    assert cli.main(["seed", "--size", "-5"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ValidationError: unknown size")


def test_notebooks_names_a_path_that_is_no_notebook(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["notebooks", "/proc/version"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: ValidationError: notebooks: path 1 is not an existing .ipynb file"
    )
