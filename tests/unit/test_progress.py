"""Progress bars: shown only where someone watches, never under CI or nbval."""

from __future__ import annotations

import sys

import pytest

from dashtam_nb import progress


def interactive(monkeypatch: pytest.MonkeyPatch) -> None:
    """A terminal session with none of the silencing variables set.

    Called in the test body: pytest sets PYTEST_CURRENT_TEST again after
    fixtures run.
    """
    for name in ("CI", "NBVAL", "PYTEST_CURRENT_TEST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)


def test_large_totals_show_a_bar_in_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    interactive(monkeypatch)
    assert progress.would_show(None, total=1_000_000)
    assert progress.would_show(None, total=None)


def test_small_totals_stay_silent_unless_forced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    interactive(monkeypatch)
    assert not progress.would_show(None, total=1_500)
    assert progress.would_show(True, total=1_500)


@pytest.mark.parametrize("name", ["CI", "NBVAL", "PYTEST_CURRENT_TEST"])
def test_ci_and_nbval_silence_every_bar(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    interactive(monkeypatch)
    monkeypatch.setenv(name, "1")
    assert not progress.would_show(None, total=10_000_000)
    bar = progress.progress_bar(10_000_000, "rows")
    bar.update(5)
    bar.close()


def test_pipes_stay_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CI", "NBVAL", "PYTEST_CURRENT_TEST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert not progress.would_show(None, total=10_000_000)
