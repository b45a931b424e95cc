"""One command for every benchmark: ``python -m benchmarks [name ...]``.

Each case measures candidate methods on the same data in the same run and
prints their ratio to the fastest; results also go to
``benchmarks/results/latest.json``. Cases are registered in `CASES`.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

# Importing a bench module registers its cases in `CASES`.
from benchmarks import (  # noqa: F401
    bench_frames,
    bench_front_door,
    bench_pagination,
    bench_runner,
    bench_scale_out,
    bench_seed,
    bench_write,
)
from benchmarks.registry import CASES, Measurement

RESULTS = Path(__file__).resolve().parent / "results"


def _group(method: str) -> str:
    """The size a row belongs to: a trailing ``[100,000]`` in its name."""
    return method[method.rindex("[") :] if method.endswith("]") else ""


def _table(case: str, rows: list[Measurement]) -> str:
    """Ratios against the fastest method of the same size, in the same run."""
    best: dict[str, float] = {}
    for m in rows:
        if m.seconds > 0:
            g = _group(m.method)
            best[g] = min(best.get(g, m.seconds), m.seconds)
    lines = [f"\n== {case}", f"{'method':<48} {'median':>12} {'ratio':>8}  note"]
    for m in rows:
        if m.seconds <= 0:  # a method that could not run: its note says why
            lines.append(f"{m.method:<48} {'n/a':>12} {'':>8}  {m.note}")
            continue
        ratio = m.seconds / best[_group(m.method)]
        lines.append(f"{m.method:<48} {m.human():>12} {ratio:>7.2f}x  {m.note}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the named cases (default: all) and print ratio tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("cases", nargs="*", choices=[[], *CASES], default=[])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    args = parser.parse_args(argv)
    chosen = args.cases or list(CASES)
    report: dict[str, object] = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cases": {},
    }
    for name in chosen:
        rows = CASES[name](quick=args.quick)
        print(_table(name, rows), flush=True)
        report["cases"][name] = [m.as_dict() for m in rows]  # type: ignore[index]
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "latest.json"
    path.write_text(json.dumps(_merged(path, report), indent=2))
    print(f"\nwrote {path}")
    return 0


def _merged(path: Path, report: dict[str, Any]) -> dict[str, Any]:
    """This run's cases over the file's: a run of one case keeps the others.

    ``case_started`` says when each case last ran.
    """
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    if not isinstance(old, dict):
        old = {}
    cases = dict(old.get("cases") or {})
    started = dict.fromkeys(cases, old.get("started"))
    started.update(old.get("case_started") or {})
    cases.update(report["cases"])
    started.update(dict.fromkeys(report["cases"], report["started"]))
    return {**report, "cases": cases, "case_started": started}


if __name__ == "__main__":
    sys.exit(main())
