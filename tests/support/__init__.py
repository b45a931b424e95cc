"""What the tests share: helpers to import, and fixture plugins.

* Helpers, imported by name (``from tests.support.harness import poll``):
  `harness` (the secret check, the run tally, polling, ports), `pgfault` (the
  dedicated killable server), `bad_inputs` (the registries of bad input),
  `frame_checks` (exact DataFrame comparison).
* Plugins, loaded for every run by ``pytest_plugins`` in ``tests/conftest.py``
  (psycopg's ``tests/fix_*.py`` pattern): `fix_db` (the server under test and
  a fresh database per test) and `fix_fault` (the dedicated server, its
  databases, the DEBUG log scan and the fault/security summary line).
"""
