"""Alembic from a cell, a script or pytest (``from dashtam_nb import migrations``).

`commands` holds the verbs (upgrade, downgrade, stamp, history, ...), each a
plain call with an ``a``-prefixed awaitable twin; the ones that change the
schema hold an advisory lock (`lock`) and `step` reports what they did
(`steps`). `scripts` writes new revision files (any message is safe,
`messages`); `revisions` reads them into frames; `runtime` runs Alembic on
the owner loop.
"""

from dashtam_nb.migrations.commands import (
    acheck,
    acurrent,
    adowngrade,
    ahistory,
    areset,
    astamp,
    astep,
    aupgrade,
    check,
    current,
    downgrade,
    history,
    reset,
    stamp,
    step,
    upgrade,
)
from dashtam_nb.migrations.runtime import PROJECT_DIR, alembic_config
from dashtam_nb.migrations.scripts import arevision, revision
from dashtam_nb.migrations.steps import Step

__all__ = [
    "PROJECT_DIR",
    "Step",
    "acheck",
    "acurrent",
    "adowngrade",
    "ahistory",
    "alembic_config",
    "areset",
    "arevision",
    "astamp",
    "astep",
    "aupgrade",
    "check",
    "current",
    "downgrade",
    "history",
    "reset",
    "revision",
    "stamp",
    "step",
    "upgrade",
]
