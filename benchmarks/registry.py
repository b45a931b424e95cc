"""The benchmark registry and the measurement record.

Bench modules import this one and register their cases with `case`; this
module imports none of them (``benchmarks.__main__`` does), so there is no
import cycle.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass


@dataclass
class Measurement:
    """One method's median time in one case."""

    method: str
    seconds: float
    samples: int
    note: str = ""

    def human(self) -> str:
        """Median in the most readable unit."""
        s = self.seconds
        if s < 1e-3:
            return f"{s * 1e6:.1f} us"
        if s < 1:
            return f"{s * 1e3:.2f} ms"
        return f"{s:.2f} s"

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return asdict(self)


def median_of(fn: Callable[[], object], n: int, warmup: int = 20) -> float:
    """Median wall time of ``n`` calls after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


Case = Callable[..., list[Measurement]]
CASES: dict[str, Case] = {}


def case(name: str) -> Callable[[Case], Case]:
    """Register a benchmark case under ``name``."""

    def register(fn: Case) -> Case:
        CASES[name] = fn
        return fn

    return register
