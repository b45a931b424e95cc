"""The audit trail of the sample data set, derived from the other tables.

One entry per sign-up, account opening, user deletion (a system action: no
actor) and transaction deletion (by the account's owner, with a reason),
stamped with the moment it describes and sorted by it, so audit ids are
time-ordered like every other id.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashtam_nb.sample_data import catalog as cat
from dashtam_nb.sample_data.generator import TS, Draws, Owned, compact_json, derived_ids

__all__ = ["audit"]


def audit(
    d: Draws,
    users: dict[str, pa.Array],
    accounts: dict[str, pa.Array],
    acc: Owned,
    tx: dict[str, pa.Array],
    tx_owned: Owned,
    seed: int,
) -> dict[str, pa.Array]:
    """Sign-ups, account openings and deletions, in time order."""
    user_ids = users["id"]
    gone_users = users["is_deleted"]
    gone_tx = tx["is_deleted"]
    gone_tx_np = np.asarray(gone_tx.to_numpy(zero_copy_only=False))
    n_gone_users = int(pc.sum(gone_users).as_py() or 0)
    domains = [e.split("@", 1)[1] for e in users["email"].to_pylist()]
    kinds = zip(
        accounts["account_type"].to_pylist(),
        accounts["currency"].to_pylist(),
        strict=True,
    )
    reasons = pa.array([compact_json({"reason": r}) for r in cat.DELETE_REASONS])
    why = d.index(int(gone_tx_np.sum()), len(cat.DELETE_REASONS))
    # (action, actor, resource type, resource, when, context) per event kind
    parts = [
        (
            "user.registered",
            user_ids,
            "user",
            user_ids,
            users["created_at"],
            pa.array([compact_json({"email_domain": m}) for m in domains], pa.string()),
        ),
        (
            "account.opened",
            user_ids.take(pa.array(acc.owner)),
            "account",
            accounts["id"],
            pa.array(acc.created, TS),
            pa.array(
                [compact_json({"account_type": t, "currency": c}) for t, c in kinds]
            ),
        ),
        (
            "user.deleted",
            pa.nulls(n_gone_users, pa.string()),  # a system action: no actor
            "user",
            user_ids.filter(gone_users),
            users["deleted_at"].filter(gone_users),
            pa.nulls(n_gone_users, pa.string()),
        ),
        (
            "transaction.deleted",
            user_ids.take(pa.array(acc.owner[tx_owned.owner[gone_tx_np]])),
            "transaction",
            tx["id"].filter(gone_tx),
            tx["deleted_at"].filter(gone_tx),
            reasons.take(pa.array(why)),
        ),
    ]
    created = pa.concat_arrays([p[4].cast(TS) for p in parts])
    created_us = created.cast(pa.int64()).to_numpy()
    order = pa.array(np.argsort(created_us, kind="stable"))

    def column(i: int) -> pa.Array:
        return pa.concat_arrays([p[i] for p in parts]).take(order)

    def constant(i: int) -> pa.Array:
        repeated = [pa.array([p[i]] * len(p[3]), pa.string()) for p in parts]
        return pa.concat_arrays(repeated).take(order)

    return {
        "id": derived_ids(np.sort(created_us, kind="stable"), 3, seed),
        "action": constant(0),
        "user_id": column(1),
        "resource_type": constant(2),
        "resource_id": column(3),
        "context": column(5),
        "created_at": created.take(order),
    }
