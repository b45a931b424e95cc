"""``python -m benchmarks front_door`` runs end to end at 2,000 rows (issue 13.9).

No timing is asserted (speed lives in the benchmark's own output): every
method prints its line with a time, its ratio to the reference and its peak
RSS, or ``n/a (reason)``; the methods that need nothing beyond ``[dev]``
must really run. The benchmarks package is outside mypy's files, so it is
imported by name.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import re
import uuid

import pytest

import dashtam_nb as dn

pytestmark = pytest.mark.integration

TIMED = re.compile(
    r"\d+\.\d+ (us|ms|s) +\d+\.\d\dx +(the reference|\d+\.\d\dx ref); "
    r"peak RSS \+\d+ MB"
)
NOT_RUN = re.compile(r" n/a +n/a \(.+\)$")
# Installed by [dev] alone: these rows must have numbers, never n/a.
MUST_RUN = {"adbc_pandas", "adbc_arrow", "frame", "magic", "read_sql", "polars"}


@pytest.fixture
def small_run(server_url, tmp_path, monkeypatch):
    runner = importlib.import_module("benchmarks.__main__")
    bench = importlib.import_module("benchmarks.bench_front_door")
    registry = importlib.import_module("benchmarks.registry")
    name = f"t_front_door_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    small = functools.partial(bench.front_door, rows=2_000, repeats=1, database=name)
    monkeypatch.setitem(registry.CASES, "front_door", small)
    monkeypatch.setattr(runner, "RESULTS", tmp_path)  # not the real latest.json
    yield runner, bench.METHODS
    dn.drop_database(name)


def test_every_method_prints_a_ratio_or_a_reason(small_run, tmp_path, capsys):
    runner, methods = small_run
    assert runner.main(["front_door"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    for key, label, kind in methods:
        size = "[2,000]" if kind == "front" else "[stream 2,000]"
        found = [line for line in lines if line.startswith(f"{label} {size}")]
        assert len(found) == 1, (label, out)
        line = found[0]
        assert TIMED.search(line) or NOT_RUN.search(line), line
        if key in MUST_RUN:
            assert TIMED.search(line), line
    assert "://" not in out
    stored = json.loads((tmp_path / "latest.json").read_text())
    assert len(stored["cases"]["front_door"]) == len(methods)
