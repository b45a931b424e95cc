"""The page values a listing returns, and how a notebook shows them.

`Page` (offset) and `KeysetPage` (cursor) hold entities plus a lazily built
DataFrame of them. Their ``_repr_html_`` and ``repr`` are deterministic: no
ids, timestamps or cursor text, which differ on every run, so a committed
notebook's output matches on re-execution (nbval compares it). Built by
`dashtam_nb.pagination`; import them from there.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from dashtam_nb.frames import stable

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

__all__ = ["KeysetPage", "Page", "TotalKind", "page_html"]

T = TypeVar("T")
TotalKind = Literal["exact", "estimate", "none"]
"""What a page's total is: a COUNT, the planner's estimate, or not computed."""


def page_html(frame: pd.DataFrame, caption: str) -> str:
    """A page for a notebook: caption, then the frame without volatile columns.

    Ids and timestamps differ on every run; dropping them (`frames.stable`)
    keeps a committed notebook's output identical, which nbval checks. The
    note says which columns were hidden; ``.frame`` still has all of them.
    """
    shown = stable(frame)
    hidden = [c for c in frame.columns if c not in shown.columns]
    note = f"<p><small>hidden: {html.escape(', '.join(hidden))}</small></p>"
    return (
        f"<div><p><b>{html.escape(caption)}</b></p>"
        f"{shown.to_html(index=False, max_rows=50)}{note if hidden else ''}</div>"
    )


class _Shown(Generic[T]):
    """What both page kinds share: a lazy frame and deterministic display."""

    items: list[T]
    _frame: Callable[[], pd.DataFrame]

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The items as a DataFrame (same columns and dtypes when empty)."""
        return self._frame()

    def caption(self) -> str:  # pragma: no cover - overridden
        """One line saying where the page sits."""
        raise NotImplementedError

    def _repr_html_(self) -> str:
        return page_html(self.frame, self.caption())

    def __repr__(self) -> str:
        # Items carry ids and timestamps, cursors carry a per-process MAC:
        # the repr shows neither, so notebook outputs match on every run.
        return f"{type(self).__name__}({self.caption()})"

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, repr=False)
class Page(_Shown[T]):
    """One offset page: entities, their frame, and where it sits.

    Attributes:
        items: the entities on this page (empty past the last page).
        page: 1-based page number.
        page_size: rows per page asked for.
        total: rows in the whole listing, or None when not computed.
        total_kind: whether ``total`` is ``"exact"``, an ``"estimate"`` from
            the planner, or ``"none"``; callers must not treat an estimate
            as a count.
    """

    items: list[T]
    page: int
    page_size: int
    total: int | None
    total_kind: TotalKind
    _frame: Callable[[], pd.DataFrame] = field(compare=False)

    @property
    def pages(self) -> int | None:
        """Number of pages when a total is known (an estimate if so marked)."""
        return None if self.total is None else max(1, -(-self.total // self.page_size))

    @property
    def has_prev(self) -> bool:
        """Whether a previous page exists."""
        return self.page > 1

    @property
    def has_next(self) -> bool:
        """Whether a next page exists (a guess from the page unless exact)."""
        if self.total is not None and self.total_kind == "exact":
            return self.page * self.page_size < self.total
        return len(self.items) == self.page_size

    def caption(self) -> str:
        """``page 3 of 50 · 1,000 rows``; ``~`` marks an estimated total."""
        if self.total is None:
            return f"page {self.page} · {len(self.items):,} rows shown"
        approx = "~" if self.total_kind == "estimate" else ""
        return (
            f"page {self.page} of {approx}{self.pages:,} · {approx}{self.total:,} rows"
        )


@dataclass(frozen=True, repr=False)
class KeysetPage(_Shown[T]):
    """One keyset page with opaque cursors for the pages around it.

    Attributes:
        items: the entities on this page, in listing order.
        page_size: rows per page asked for.
        sort: the sort column (``id`` always breaks ties).
        next_cursor: pass to get the following page; None on the last one.
        prev_cursor: pass to get the preceding page; None on the first one.
        descending: whether the listing runs from the largest value down.
    """

    items: list[T]
    page_size: int
    sort: str
    next_cursor: str | None
    prev_cursor: str | None
    _frame: Callable[[], pd.DataFrame] = field(compare=False)
    descending: bool = False

    @property
    def has_next(self) -> bool:
        """Whether rows follow this page."""
        return self.next_cursor is not None

    @property
    def has_prev(self) -> bool:
        """Whether rows precede this page."""
        return self.prev_cursor is not None

    def caption(self) -> str:
        """Rows, order and which cursors exist; never the cursor text."""
        order = "descending" if self.descending else "ascending"
        nxt = "next cursor ready" if self.has_next else "last page"
        prev = "previous cursor ready" if self.has_prev else "first page"
        return f"{len(self.items):,} rows by {self.sort}, id {order} · {nxt} · {prev}"
