"""Migration arguments are refused before Alembic or SQL, never echoed (14.2)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from alembic.util.exc import CommandError

from dashtam_nb import migrations
from dashtam_nb.errors import ValidationError
from dashtam_nb.migrations.runtime import failure
from tests.support.bad_inputs import Hostile
from tests.support.harness import CANARY, assert_no_secret


@pytest.mark.parametrize(
    "where", [5, b"/tmp", "nul\x00dir", "/proc/version", "", Hostile(), ["/tmp"]]
)
def test_script_location_must_be_an_existing_folder(where: Any) -> None:
    with pytest.raises(ValidationError) as info:
        migrations.alembic_config(where)
    assert info.value.field == "script_location"


def test_script_location_takes_a_path_object() -> None:
    folder = migrations.PROJECT_DIR / "alembic"
    cfg = migrations.alembic_config(Path(folder))
    assert cfg.get_main_option("script_location") == str(folder)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"action": pd.DataFrame()}, "action"),
        ({"action": Hostile()}, "action"),
        ({"action": "stamp", "purge": pd.DataFrame()}, "purge"),
        ({"action": "downgrade", "rev": CANARY}, "rev"),
        ({"action": "upgrade", "rev": "head; DROP TABLE canary"}, "rev"),
        ({"action": "upgrade", "rev": "nul\x00rev"}, "rev"),
    ],
)
def test_step_arguments_are_refused_before_any_connection(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        asyncio.run(migrations.astep(**kwargs))
    assert info.value.field == field
    assert_no_secret(str(info.value), where="step's error")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"autogenerate": pd.DataFrame()}, "autogenerate"), ({"db": True}, "db")],
)
def test_revision_arguments_are_refused_first(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        asyncio.run(migrations.arevision("fuzz", **kwargs))
    assert info.value.field == field


def test_alembic_text_quoting_a_hidden_revision_is_replaced() -> None:
    rev = "Zq9Kanary@Wx7Plm"
    exc = CommandError(f"Can't locate revision identified by {rev!r}")
    error = failure("downgrade to <str>", exc, "the database", None, rev=rev)
    assert rev not in str(error)
    assert "Zq9Kanary" not in str(error)
    shown = failure(
        "upgrade to 'nope'", CommandError("no 'nope'"), "db", None, rev="nope"
    )
    assert "no 'nope'" in str(shown)
