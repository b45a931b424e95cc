"""What a schema change did: the revision before and after, and what ran.

`dashtam_nb.migrations.step` returns a `Step`; ``upgrade``/``downgrade``/
``stamp``/``reset`` return its ``after`` (the revision the database is at), as
they always have. Both ends are read under the migration lock (see `lock`), so
when several processes race, each one's `Step` says truthfully whether it was
the one that applied the revisions or found nothing to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["ACTIONS", "ARROW", "Action", "Step"]


Action = Literal["upgrade", "downgrade", "stamp", "reset"]
ACTIONS: tuple[Action, ...] = ("upgrade", "downgrade", "stamp", "reset")
ARROW = "→"
"""Between two revisions in `Step.describe`; ``->`` where stdout cannot show it."""


def _name(rev: str | None) -> str:
    return rev or "base"


@dataclass(frozen=True)
class Step:
    """One command's effect on one database.

    Attributes:
        action: ``upgrade``, ``downgrade``, ``stamp`` or ``reset``.
        target: the revision asked for (``head``, ``-1``, an id, ...).
        before: the revision before, read once the lock was held (None: base).
        after: the revision after (None: base).
        applied: the revisions whose ``upgrade()``/``downgrade()`` ran, in
            order (a reset lists the downgrades first); empty for a stamp.
    """

    action: Action
    target: str
    before: str | None
    after: str | None
    applied: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the command did anything (ran a revision or moved the stamp)."""
        return bool(self.applied) or self.before != self.after

    def describe(self, arrow: str = ARROW) -> str:
        """One line: ``upgraded b7dd6cc03cac → 3e1198c8f481``, ``already at head (…)``.

        ``arrow`` replaces ``→`` (``->`` for a terminal that cannot show it).
        """
        before, after = _name(self.before), _name(self.after)
        if self.action == "stamp":
            return f"stamped {after}"
        if self.action == "reset":
            return f"reset {before} {arrow} base {arrow} {after}"
        if not self.changed:
            if self.target in {"head", "heads"}:
                return f"already at head ({after})"
            return f"already at {after}"
        done = "upgraded" if self.action == "upgrade" else "downgraded"
        return f"{done} {before} {arrow} {after}"

    def __str__(self) -> str:
        return self.describe()
