"""One process of the load test: mixed work for N seconds, acknowledged ids out.

Run as ``python -m tests.fault.load_worker SECONDS THREADS`` with
``DATABASE_URL`` in the environment (never on the command line: a password
would show in ``ps``). Prints one JSON line: acknowledged writes and errors.
"""

from __future__ import annotations

import json
import sys

import dashtam_nb as dn
from tests.fault.load_mix import run_mix


def main() -> None:
    seconds, threads = float(sys.argv[1]), int(sys.argv[2])
    db = dn.Database(pool_size=4, max_overflow=0, pool_timeout=60)
    report = run_mix(db, seconds=seconds, threads=threads, tag="proc")
    dn.run(db.close())
    print(json.dumps(report))


if __name__ == "__main__":
    main()
