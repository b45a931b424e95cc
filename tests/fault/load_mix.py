"""The load test's work mix: repositories, frames, pages and loads, in threads.

Every write is *acknowledged* only after its transaction committed; the test
then checks each acknowledged row is present and the totals reconcile.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pandas as pd

import dashtam_nb as dn
from dashtam_nb.entities import Account, Transaction, User
from dashtam_nb.models import TransactionModel


def _register(db: dn.Database, ack: dict[str, list[str]], rnd: random.Random) -> None:
    tag = uuid.uuid4().hex[:12]
    with db.transaction() as session:
        user = dn.run(
            dn.UserRepository(session).save(
                User(email=f"load_{tag}@example.com", password_hash="h")
            )
        )
        account = dn.run(
            dn.AccountRepository(session).save(
                Account(
                    user_id=user.id,
                    name="load",
                    institution="bank",
                    account_type="checking",
                )
            )
        )
        txn = dn.run(
            dn.TransactionRepository(session).save(
                Transaction(
                    account_id=account.id,
                    amount=Decimal(rnd.randint(-10_000, 10_000)) / 100,
                    category="groceries",
                    posted_at=datetime(2025, 1, 1, tzinfo=UTC),
                )
            )
        )
    # Only now, after COMMIT, do these rows count as acknowledged.
    ack["users"].append(str(user.id))
    ack["accounts"].append(str(account.id))
    ack["transactions"].append(str(txn.id))


def _load(db: dn.Database, ack: dict[str, list[str]], rnd: random.Random) -> None:
    if not ack["accounts"]:
        return
    account = uuid.UUID(rnd.choice(ack["accounts"]))
    n = rnd.randint(1, 50)
    ids = [dn.uuid7() for _ in range(n)]
    df = pd.DataFrame(
        {
            "id": ids,
            "account_id": [account] * n,
            "amount": [Decimal("1.25")] * n,
            "currency": ["USD"] * n,
            "category": ["load"] * n,
            "description": [""] * n,
            "posted_at": [datetime(2025, 2, 1, tzinfo=UTC)] * n,
        }
    )
    with db.transaction() as session:
        written = dn.load_frame(session, df, TransactionModel)
    assert written == n
    ack["transactions"].extend(str(i) for i in ids)


def _read(db: dn.Database, _ack: dict[str, list[str]], rnd: random.Random) -> None:
    if rnd.random() < 0.5:
        frame = db.frame("SELECT count(*) AS n FROM transactions")
        assert int(frame["n"].iloc[0]) >= 0
    else:
        with db.get_session() as session:
            page = dn.run(dn.UserRepository(session).paginate(page=1, page_size=10))
        assert len(page.items) <= 10


_STEPS = (_register, _register, _load, _read, _read)


def run_mix(
    db: dn.Database, *, seconds: float, threads: int, tag: str
) -> dict[str, Any]:
    """Run the mix in ``threads`` threads until ``seconds`` pass."""
    ack: dict[str, list[str]] = {"users": [], "accounts": [], "transactions": []}
    errors: list[str] = []
    ops = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        mine: dict[str, list[str]] = {"users": [], "accounts": [], "transactions": []}
        done = 0
        while time.monotonic() < deadline:
            step = rnd.choice(_STEPS)
            try:
                step(db, mine, rnd)
                done += 1
            except Exception:
                errors.append(f"{tag}: {traceback.format_exc(limit=3)}")
        with lock:
            for key, values in mine.items():
                ack[key].extend(values)
            ops[0] += done

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(seconds + 120)
    hung = sum(t.is_alive() for t in pool)
    return {"ack": ack, "errors": errors, "ops": ops[0], "hung": hung}
