"""`dashtam_nb.sample_data.generator`: the column-wise sample data, no server.

tests/integration/test_sample_data.py checks the assembled data set and its
load; here each generator function is checked on its own: determinism, sizes
(including none), the id layout and the invariants between tables.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dashtam_nb.sample_data import catalog as cat
from dashtam_nb.sample_data import generator as gen

START_US = 1_704_067_200_000_000  # 2024-01-01T00:00:00Z


def _world(n_users: int, n_tx: int, seed: int = 5) -> tuple[dict[str, pa.Array], ...]:
    d = gen.Draws(seed)
    users = gen.users(d, n_users, seed)
    accounts, acc = gen.accounts(d, users, seed)
    tx, _, _ = gen.transactions(d, accounts, acc, n_tx, seed)
    return users, accounts, tx


def test_draws_are_numpys_pcg64_stream_pinned() -> None:
    """The same seed gives the same uniforms on every NumPy (its stability policy)."""
    assert gen.Draws(42).uniform(3).tolist() == [
        0.7739560485559633,
        0.4388784397520523,
        0.8585979199113825,
    ]
    assert gen.Draws(0).index(5, 10).tolist() == [6, 2, 0, 0, 8]


def test_draws_stay_in_range_and_follow_weights() -> None:
    d = gen.Draws(1)
    u = d.uniform(20_000)
    assert u.min() >= 0
    assert u.max() < 1
    idx = d.index(20_000, 3)
    assert set(np.unique(idx).tolist()) == {0, 1, 2}
    picked = d.weighted(20_000, np.array([0.0, 3.0, 1.0, 0.0]))
    shares = np.bincount(picked, minlength=4) / 20_000
    assert shares[0] == shares[3] == 0  # zero weight: never picked
    assert shares[1] == pytest.approx(0.75, abs=0.02)
    normal = d.normal(50_000)
    assert normal.mean() == pytest.approx(0, abs=0.02)
    assert normal.std() == pytest.approx(1, abs=0.02)
    start = np.full(1000, gen.END_US - 10)
    assert ((d.until_end(start) >= start) & (d.until_end(start) < gen.END_US)).all()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.integers(START_US, gen.END_US - 1), max_size=40).map(sorted),
    st.integers(0, 2),
    st.integers(0, 2**31),
)
def test_derived_ids_are_uuid7_shaped_and_sort_by_creation(
    created: list[int], table_code: int, seed: int
) -> None:
    ids = [
        uuid.UUID(s)
        for s in gen.derived_ids(
            np.array(created, np.int64), table_code, seed
        ).to_pylist()
    ]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert [i.int >> 80 for i in ids] == [c // 1000 for c in created]  # unix ms
    assert [i.int & (2**56 - 1) for i in ids] == list(range(len(created)))  # counter
    assert {(i.int >> 56) & 0x3F for i in ids} <= {table_code}
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_derived_ids_differ_by_table_and_seed_only_where_they_should() -> None:
    created = np.array([START_US, START_US + 1000], np.int64)
    base = gen.derived_ids(created, 0, 1).to_pylist()
    assert gen.derived_ids(created, 0, 1).to_pylist() == base
    assert set(gen.derived_ids(created, 1, 1).to_pylist()).isdisjoint(base)
    assert set(gen.derived_ids(created, 0, 2).to_pylist()).isdisjoint(base)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(-(10**12), 10**12), max_size=30))
def test_money_is_exact_cents(cents: list[int]) -> None:
    amounts = gen.money(np.array(cents, np.int64))
    assert amounts.type == pa.decimal128(14, 2)
    assert amounts.to_pylist() == [Decimal(c).scaleb(-2) for c in cents]


def test_compact_json_is_sorted_without_spaces() -> None:
    assert gen.compact_json({"b": "2", "a": "é"}) == '{"a":"\\u00e9","b":"2"}'
    assert json.loads(gen.compact_json({"k": "v"})) == {"k": "v"}


@pytest.mark.parametrize("n", [0, 1, 7, 300])
def test_every_table_has_the_asked_size_and_equal_columns(n: int) -> None:
    users, accounts, tx = _world(n, 3 * n)
    for table in (users, accounts, tx):
        assert len({len(col) for col in table.values()}) == 1
    assert len(users["id"]) == n
    assert len(tx["id"]) == 3 * n
    assert len(accounts["id"]) >= n  # a checking account each, some more


def test_the_same_seed_gives_the_same_tables_and_another_seed_does_not() -> None:
    first, again, other = _world(40, 200, 9), _world(40, 200, 9), _world(40, 200, 10)
    for a, b in zip(first, again, strict=True):
        assert a.keys() == b.keys()
        assert all(a[k].equals(b[k]) for k in a)
    assert not first[2]["amount"].equals(other[2]["amount"])


def test_users_are_unique_sorted_and_deleted_rows_say_when() -> None:
    users, _, _ = _world(500, 0)
    emails, ids = users["email"].to_pylist(), users["id"].to_pylist()
    assert len(set(emails)) == len(set(ids)) == 500
    assert all(e.rsplit("@", 1)[1] in cat.DOMAINS for e in emails)
    assert all(h.startswith("$sample$v1$") for h in users["password_hash"].to_pylist())
    created = users["created_at"].cast(pa.int64()).to_numpy()
    assert (np.diff(created) >= 0).all()
    assert created[0] >= START_US
    deleted = users["is_deleted"].to_numpy(zero_copy_only=False)
    assert (
        users["deleted_at"].is_null().to_numpy(zero_copy_only=False) == ~deleted
    ).all()


def test_accounts_and_transactions_follow_their_owners() -> None:
    users, accounts, tx = _world(60, 2_000)
    owners = accounts["user_id"].to_pylist()
    kinds = accounts["account_type"].to_pylist()
    checking = [o for o, k in zip(owners, kinds, strict=True) if k == "checking"]
    assert sorted(checking) == sorted(users["id"].to_pylist())  # exactly one each
    assert set(kinds) <= set(cat.ACCOUNT_KINDS)
    assert set(tx["account_id"].to_pylist()) <= set(accounts["id"].to_pylist())
    posted = tx["posted_at"].cast(pa.int64()).to_numpy()
    created = tx["created_at"].cast(pa.int64()).to_numpy()
    assert (posted <= created).all()
    assert (created < gen.END_US).all()
    assert (np.diff(created) >= 0).all()
    signs = {c.name: c.sign for c in cat.CATEGORIES}
    for category, amount in zip(
        tx["category"].to_pylist(), tx["amount"].to_pylist(), strict=True
    ):
        assert amount != 0
        assert signs[category] == 0 or (amount > 0) == (signs[category] > 0)
