"""The suite's plugins: shared fixtures and hooks live in tests/support/fix_*.py.

Each directory holds one layer: ``unit`` (pure code, no server),
``integration`` (a real PostgreSQL), ``kernel`` (a real Jupyter kernel),
``fault`` and ``security`` (a dedicated server they may kill, every output
scanned for the canary password) and ``notebooks`` (the committed notebooks).
"""

pytest_plugins = [
    "tests.support.fix_db",
    "tests.support.fix_fault",
    "tests.support.fix_guide",
    "tests.support.fix_load",
]
