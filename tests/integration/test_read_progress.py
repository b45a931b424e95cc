"""A long columnar read reports its batches to a progress bar (issue 13.8).

Whether a bar is *shown* is `progress`'s decision (notebook or terminal, not
under tests or nbval; tests/kernel/test_progress_display.py checks how it
ends); here a recording bar stands in, to see what the read tells it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import dashtam_nb as dn
from dashtam_nb.io import fetch

pytestmark = pytest.mark.integration

ROWS = 150_000


class Recorder:
    def __init__(self, total: int | None) -> None:
        self.total, self.seen, self.closed = total, 0, False

    def update(self, n: float = 1) -> None:
        self.seen += int(n)

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def db(server_url: object) -> Iterator[dn.Database]:
    database = dn.connect("t_read_progress", fresh=True, default=False)
    database.execute(
        f"CREATE TABLE big AS SELECT g AS n FROM generate_series(1, {ROWS}) g"
    )
    database.execute("ANALYZE big")
    yield database
    dn.run(database.close())
    dn.drop_database("t_read_progress")


def test_a_long_read_feeds_a_bar_with_the_planners_estimate(
    db: dn.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars: list[Recorder] = []

    def record(total: int | None, desc: str, **_: Any) -> Recorder:
        bars.append(Recorder(total))
        return bars[-1]

    monkeypatch.setattr(fetch, "progress_bar", record)
    frame = db.frame("SELECT n FROM big")
    assert len(frame) == ROWS
    (bar,) = bars
    assert bar.total is not None
    assert bar.total > ROWS // 2  # the planner's guess
    assert bar.seen == ROWS
    assert bar.closed


def test_a_small_read_makes_no_bar(
    db: dn.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    bars: list[object] = []
    monkeypatch.setattr(fetch, "progress_bar", lambda *a, **k: bars.append(a))
    assert len(db.frame("SELECT n FROM big WHERE n <= 10")) == 10
    assert bars == []
