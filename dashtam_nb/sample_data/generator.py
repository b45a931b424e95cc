"""The NumPy generator behind `sample_data`: columns, not rows.

Every column of every table is drawn as one vector, so a million
transactions take about a second and no Python code runs per row (only per
user and per account, which stay in the thousands).

* Calendar fixed to 2024-01-01 .. 2025-12-31 UTC, microsecond timestamps.
* Amounts are exact cents (``decimal128(14, 2)``): income positive, spending
  negative, log-normal around realistic medians (see `sample_catalog`).
* About 3 % of users and transactions are soft-deleted; each sign-up,
  account opening and deletion has an audit entry.
* Ids are UUIDv7-shaped and *derived*, not random: the creation millisecond,
  a tag from the seed and a per-table counter. They sort by creation time,
  like real ``uuid7()`` ids, yet are reproducible.

Only ``Generator.random`` (uniform doubles) is drawn; normals come from
Box-Muller. Uniform draws are the part of NumPy's bit stream its
compatibility policy keeps stable, so the data survive NumPy upgrades.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dashtam_nb.io.pgbinary import uuid_strings
from dashtam_nb.sample_data import catalog as cat

__all__ = [
    "Draws",
    "Owned",
    "accounts",
    "cascade_deleted_users",
    "compact_json",
    "derived_ids",
    "money",
    "settle_deleted_users",
    "transactions",
    "users",
    "versions",
]

_START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z
END_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z, exclusive
DAY_US = 86_400_000_000
_DELETED_SHARE = 0.03
TS = pa.timestamp("us", tz="UTC")


class Draws:
    """Uniform draws only (bit-stable across NumPy versions)."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed))

    def uniform(self, n: int) -> np.ndarray:
        """``n`` doubles in [0, 1): the only draw from NumPy's stream."""
        return self._rng.random(n)

    def index(self, n: int, k: int) -> np.ndarray:
        """``n`` indexes in [0, k), uniformly."""
        return np.minimum((self.uniform(n) * k).astype(np.int64), k - 1)

    def weighted(self, n: int, weights: np.ndarray) -> np.ndarray:
        """``n`` indexes into ``weights``, each as likely as its weight."""
        cum = np.cumsum(weights) / np.sum(weights)
        picked = np.searchsorted(cum, self.uniform(n), side="right")
        return np.minimum(picked, len(weights) - 1)

    def normal(self, n: int) -> np.ndarray:
        """``n`` standard normals by Box-Muller (uniforms in, so stable)."""
        u1, u2 = self.uniform(n), self.uniform(n)
        return np.asarray(np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2))

    def until_end(self, start_us: np.ndarray) -> np.ndarray:
        """A moment between each start and the end of the calendar."""
        span = self.uniform(len(start_us)) * (END_US - start_us)
        return np.asarray(start_us + span.astype(np.int64))


def derived_ids(created_us: np.ndarray, table_code: int, seed: int) -> pa.StringArray:
    """UUIDv7-shaped ids: creation ms, version, seed tag, variant, counter."""
    n = len(created_us)
    ms = (created_us // 1000).astype(np.uint64)
    hi = (ms << np.uint64(16)) | np.uint64(0x7000 | (seed * 2654435761) & 0xFFF)
    lo = np.uint64(0b10 << 62 | table_code << 56) | np.arange(n, dtype=np.uint64)
    raw = np.empty((n, 16), dtype=np.uint8)
    raw[:, :8] = hi.astype(">u8").view(np.uint8).reshape(n, 8)
    raw[:, 8:] = lo.astype(">u8").view(np.uint8).reshape(n, 8)
    return uuid_strings(raw)


def _ts(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(us, type=TS, mask=mask)


def money(cents: np.ndarray) -> pa.Array:
    """Integer cents as ``decimal128(14, 2)``, built from the raw 128-bit words."""
    words = np.empty((len(cents), 2), dtype="<i8")
    words[:, 0], words[:, 1] = cents, cents >> 63
    buffers = [None, pa.py_buffer(words)]
    return pa.Array.from_buffers(pa.decimal128(14, 2), len(cents), buffers)


def compact_json(value: dict[str, str]) -> str:
    """JSON text as the frames contract renders it (sorted keys, no spaces)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def users(d: Draws, n: int, seed: int) -> dict[str, pa.Array]:
    """Users joining mostly early in 2024; emails on reserved domains."""
    created = np.sort(_START_US + (d.uniform(n) ** 2 * 365 * DAY_US).astype(np.int64))
    active = d.uniform(n) >= 0.05
    deleted = d.uniform(n) < _DELETED_SHARE
    deleted_at = d.until_end(created)
    first = d.index(n, len(cat.FIRST_NAMES))
    last = d.index(n, len(cat.LAST_NAMES))
    domain = d.index(n, len(cat.DOMAINS))
    emails = [
        f"{cat.FIRST_NAMES[f]}.{cat.LAST_NAMES[g]}{i + 1}@{cat.DOMAINS[m]}"
        for i, (f, g, m) in enumerate(zip(first, last, domain, strict=True))
    ]
    secret = [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest()[:32] for i in range(n)]
    return {
        "id": derived_ids(created, 0, seed),
        "email": pa.array(emails, pa.string()),
        "password_hash": pa.array([f"$sample$v1${s}" for s in secret], pa.string()),
        "is_active": pa.array(active),
        "created_at": _ts(created),
        "updated_at": _ts(np.where(deleted, deleted_at, created)),
        "is_deleted": pa.array(deleted),
        "deleted_at": _ts(deleted_at, ~deleted),
    }


@dataclass(frozen=True)
class Owned:
    """Per-row facts later tables need (not stored as columns)."""

    owner: np.ndarray  # index of the owning row in the parent table
    kind: np.ndarray  # account type index (accounts only)
    created: np.ndarray  # creation time, Unix microseconds
    cents: np.ndarray  # amounts (transactions) or opening balances (accounts)


def accounts(
    d: Draws, users: dict[str, pa.Array], seed: int
) -> tuple[dict[str, pa.Array], Owned]:
    """A checking account per user, some savings, credit and brokerage ones."""
    user_created = users["created_at"].cast(pa.int64()).to_numpy()
    n_users = len(user_created)
    kinds = list(cat.ACCOUNT_KINDS)
    odds = {"checking": 1.0, "credit": 0.55, "savings": 0.6, "brokerage": 0.2}
    holds = [np.flatnonzero(d.uniform(n_users) < odds[k]) for k in kinds]
    owner = np.concatenate(holds)
    kind = np.concatenate([np.full(len(h), i) for i, h in enumerate(holds)])
    opened = (d.uniform(len(owner)) * 30 * DAY_US).astype(np.int64)
    created = np.minimum(user_created[owner] + opened, END_US - 1)
    order = np.argsort(created, kind="stable")
    owner, kind, created = owner[order], kind[order], created[order]
    n = len(owner)
    currency = d.weighted(n, np.array([share for _, share in cat.CURRENCIES]))
    last4, institution = d.index(n, 10_000), d.uniform(n)
    opening = np.where(kind == 1, 0, (d.uniform(n) * 300_000).astype(np.int64))
    names, banks = [], []
    for k, digits, u in zip(kind, last4, institution, strict=True):
        names.append(f"{kinds[k].title()} ••{digits:04d}")
        choices = cat.INSTITUTIONS[kinds[k]]
        banks.append(choices[min(int(u * len(choices)), len(choices) - 1)])
    columns = {
        "id": derived_ids(created, 1, seed),
        "user_id": users["id"].take(pa.array(owner)),
        "name": pa.array(names, pa.string()),
        "institution": pa.array(banks, pa.string()),
        "account_type": pa.array(kinds, pa.string()).take(pa.array(kind)),
        "currency": pa.array([c for c, _ in cat.CURRENCIES]).take(pa.array(currency)),
    }
    return columns, Owned(owner, kind, created, opening)


def _category(d: Draws, kind: np.ndarray) -> np.ndarray:
    """A category index per transaction, drawn from its account type's mix."""
    picks = d.uniform(len(kind))
    category = np.zeros(len(kind), dtype=np.int64)
    names = [c.name for c in cat.CATEGORIES]
    for k, (_, mix) in enumerate(cat.ACCOUNT_KINDS.values()):
        weights = np.array([mix.get(name, 0.0) for name in names])
        cum = np.cumsum(weights) / weights.sum()
        here = kind == k
        category[here] = np.searchsorted(cum, picks[here], side="right")
    return category


def transactions(
    d: Draws, accounts: dict[str, pa.Array], acc: Owned, n: int, seed: int
) -> tuple[dict[str, pa.Array], Owned, np.ndarray]:
    """``n`` transactions after their account opened, in creation order.

    Returns:
        The columns, per-row facts (account index, cents) and the deleted mask.
    """
    use = np.array([share for share, _ in cat.ACCOUNT_KINDS.values()])
    account = d.weighted(n, use[acc.kind]) if len(acc.kind) else np.zeros(0, int)
    category = _category(d, acc.kind[account])
    median = np.array([c.median for c in cat.CATEGORIES])[category]
    spread = np.array([c.spread for c in cat.CATEGORIES])[category]
    cents = np.maximum(1, np.rint(median * 100 * np.exp(spread * d.normal(n))))
    sign = np.array([c.sign for c in cat.CATEGORIES])[category]
    sign = np.where(sign == 0, np.where(d.uniform(n) < 0.5, 1, -1), sign)
    posted = d.until_end(acc.created[account])
    lag = (60e6 + d.uniform(n) * 36 * 3600e6).astype(np.int64)
    created = np.minimum(posted + lag, END_US - 1)
    deleted = d.uniform(n) < _DELETED_SHARE
    later = (d.uniform(n) * 60 * DAY_US).astype(np.int64)
    deleted_at = np.minimum(created + later, END_US - 1)
    merchants = [m for c in cat.CATEGORIES for m in c.merchants]
    first = np.cumsum([0] + [len(c.merchants) for c in cat.CATEGORIES])
    count = np.diff(first)[category]
    pick = np.minimum((d.uniform(n) * count).astype(np.int64), count - 1)
    described = first[category] + pick
    o = np.argsort(created, kind="stable")
    account, created, deleted = account[o], created[o], deleted[o]
    columns = {
        "id": derived_ids(created, 2, seed),
        "account_id": accounts["id"].take(pa.array(account)),
        "amount": money((cents * sign).astype(np.int64)[o]),
        "currency": accounts["currency"].take(pa.array(account)),
        "category": pa.array([c.name for c in cat.CATEGORIES]).take(category[o]),
        "description": pa.array(merchants, pa.string()).take(described[o]),
        "posted_at": _ts(posted[o]),
        "created_at": _ts(created),
        "updated_at": _ts(np.where(deleted, deleted_at[o], created)),
        "is_deleted": pa.array(deleted),
        "deleted_at": _ts(deleted_at[o], ~deleted),
    }
    owned = Owned(
        account, acc.kind[account], created, (cents * sign).astype(np.int64)[o]
    )
    return columns, owned, deleted


def versions(n: int) -> pa.Array:
    """The ``version`` column of freshly loaded rows: 1, as after an INSERT.

    ``int64``, the frames contract's type for every integer column.
    """
    return pa.array(np.ones(n, dtype=np.int64))


def settle_deleted_users(
    users: dict[str, pa.Array], acc: Owned, tx_owned: Owned
) -> None:
    """Move each deleted user's ``deleted_at`` after its last account or posting.

    A user leaves after everything it did: its accounts and transactions are
    created before the moment they are soft-deleted with it. Runs before the
    audit trail, which records the settled time. Updates ``users`` in place.
    """
    gone = np.asarray(users["is_deleted"].to_numpy(zero_copy_only=False))
    when = users["deleted_at"].cast(pa.int64()).fill_null(0).to_numpy()
    last = np.zeros(len(when), dtype=np.int64)
    np.maximum.at(last, acc.owner, acc.created)
    np.maximum.at(last, acc.owner[tx_owned.owner], tx_owned.created)
    settled = np.where(gone, np.minimum(np.maximum(when, last + 1), END_US - 1), when)
    users["deleted_at"] = _ts(settled, ~gone)
    created = users["created_at"].cast(pa.int64()).to_numpy()
    users["updated_at"] = _ts(np.where(gone, settled, created))


def cascade_deleted_users(
    users: dict[str, pa.Array],
    accounts: dict[str, pa.Array],
    acc: Owned,
    tx: dict[str, pa.Array],
    tx_owned: Owned,
) -> None:
    """Stamp a deleted user's accounts and live transactions with its deletion.

    The data set obeys the package's cascade policy (`dashtam_nb.softdelete`):
    a soft-deleted user's accounts and still-live transactions carry the
    user's ``deleted_at``, so restoring the user brings back exactly those.
    Transactions deleted on their own keep their own time. Runs after the
    balances and the audit trail, which describe the history before the
    user left. Updates the dicts in place.
    """
    gone = np.asarray(users["is_deleted"].to_numpy(zero_copy_only=False))
    when = users["deleted_at"].cast(pa.int64()).fill_null(0).to_numpy()
    acc_gone = gone[acc.owner]
    acc_when = when[acc.owner]
    accounts["updated_at"] = _ts(
        np.where(acc_gone, np.maximum(acc_when, acc.created), acc.created)
    )
    accounts["is_deleted"] = pa.array(acc_gone)
    accounts["deleted_at"] = _ts(acc_when, ~acc_gone)
    tx_deleted = np.asarray(tx["is_deleted"].to_numpy(zero_copy_only=False))
    swept = acc_gone[tx_owned.owner] & ~tx_deleted
    stamp = acc_when[tx_owned.owner]
    old_at = tx["deleted_at"].cast(pa.int64()).fill_null(0).to_numpy()
    old_up = tx["updated_at"].cast(pa.int64()).to_numpy()
    deleted = tx_deleted | swept
    tx["updated_at"] = _ts(np.where(swept, np.maximum(stamp, tx_owned.created), old_up))
    tx["is_deleted"] = pa.array(deleted)
    tx["deleted_at"] = _ts(np.where(swept, stamp, old_at), ~deleted)
