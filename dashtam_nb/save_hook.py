"""What JupyterLab writes when a tutorial is saved: the notebook as git commits it.

`make lab` passes `clean` to Jupyter as ``ContentsManager.pre_save_hook``, so
a save writes the file the git filter (``make nb-filter``, nbstripout with
the same keys) would commit: no editor metadata, no kernel version, and
execution counts of one top-to-bottom run numbered from 1. Opening, running
and saving a tutorial then leaves the file byte-for-byte as committed
(`git status` clean, not only `git diff`), and ``make test``'s hygiene
checks keep passing. Outputs are kept: they are what nbval compares.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NBSTRIPOUT_KEYS", "VOLATILE", "clean", "renumber"]

NBSTRIPOUT_KEYS = (
    "metadata.signature",
    "metadata.widgets",
    "cell.metadata.collapsed",
    "cell.metadata.ExecuteTime",
    "cell.metadata.execution",
    "cell.metadata.heading_collapsed",
    "cell.metadata.hidden",
    "cell.metadata.scrolled",
)
"""What the ``nbstripout`` command strips by default (its library call does not)."""

VOLATILE = (
    "metadata.language_info.version",
    "metadata.vscode",
    "metadata.toc",
    "metadata.varInspector",
    "metadata.celltoolbar",
    "metadata.interpreter",
    "metadata.colab",
    "cell.metadata.jupyter",
    "cell.metadata.trusted",
    "cell.metadata.editable",
    "cell.metadata.deletable",
    "cell.metadata.pycharm",
    "cell.metadata.vscode",
)
"""Metadata an editor writes on save, beyond nbstripout's own list.

The Makefile's ``NB_VOLATILE`` (the git filter's keys) is the same list; a
test keeps the two equal.
"""


def renumber(nb: Any) -> None:
    """Number the counts of a top-to-bottom run 1, 2, 3, ... in place.

    A second "Run All" in the same kernel counts on from 11; its outputs are
    those of a run in order, so only the numbers change. Counts out of order
    or with gaps in the cells (cells run one by one) are left as they are.
    """
    cells = [c for c in nb.get("cells", ()) if c.get("cell_type") == "code"]
    counts = [c.get("execution_count") for c in cells]
    ran = [n for n in counts if n is not None]
    if (
        not ran
        or None in counts[: len(ran)]
        or ran != list(range(ran[0], ran[0] + len(ran)))
    ):
        return
    shift = ran[0] - 1
    for cell in cells[: len(ran)]:
        cell["execution_count"] -= shift
        for output in cell.get("outputs", ()):
            if output.get("execution_count") is not None:
                output["execution_count"] -= shift


def clean(model: dict[str, Any], **_: Any) -> None:
    """Jupyter's pre-save hook: strip a notebook model as the git filter does."""
    if model.get("type") != "notebook" or not isinstance(model.get("content"), dict):
        return
    import nbformat
    from nbstripout import strip_output  # type: ignore[import-untyped]

    nb = nbformat.from_dict(model["content"])  # type: ignore[no-untyped-call]
    renumber(nb)
    strip_output(
        nb,
        keep_output=True,
        keep_count=True,
        keep_id=False,
        extra_keys=[*NBSTRIPOUT_KEYS, *VOLATILE],
    )
    model["content"] = nb
