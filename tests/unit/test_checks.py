"""The shared argument checks and the message helpers (issue 14.2), without a server."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from dashtam_nb.checks import check_bool, check_choice, check_params
from dashtam_nb.errors import ValidationError, _without_sql, echo
from tests.support.bad_inputs import Hostile
from tests.support.harness import CANARY


@pytest.mark.parametrize(
    "value", [1, 0, "yes", None, pd.DataFrame({"a": [1]}), Hostile()]
)
def test_check_bool_takes_only_true_or_false(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        check_bool(value, "flag")
    assert info.value.field == "flag"
    assert check_bool(True, "flag") is True


@pytest.mark.parametrize("value", ["x", 1, None, Hostile(), pd.DataFrame()])
def test_check_choice_never_hashes_or_compares_a_foreign_value(value: Any) -> None:
    with pytest.raises(ValidationError, match="'a', 'b'"):
        check_choice(value, "mode", ("a", "b"))
    assert check_choice("b", "mode", ("a", "b")) == "b"


@pytest.mark.parametrize(
    "value", [[("a", 1)], "ab", pd.DataFrame({"a": [1]}), {1: "x"}, Hostile()]
)
def test_check_params_wants_a_mapping_with_string_keys(value: Any) -> None:
    with pytest.raises(ValidationError):
        check_params(value)
    assert check_params(None) is None
    assert check_params({"v": 1}) == {"v": 1}


@pytest.mark.parametrize(
    "value",
    [
        CANARY,
        f"postgresql://app:{CANARY}@h/db",
        "a:b",
        "x%y",
        b"user@host",
    ],
)
def test_echo_never_shows_a_url_or_password_like_value(value: object) -> None:
    shown = echo(value)
    assert shown.startswith("<")
    assert "Kanary" not in shown


def test_echo_shows_a_short_name_and_never_a_hostile_repr() -> None:
    assert echo("emial") == "'emial'"
    assert echo("email; drop table users --") == "'email; drop table users --'"
    assert echo(Hostile()) == "<Hostile>"
    assert len(echo("x" * 10_000)) <= 40
    assert "\n" not in echo("a\nb")


def test_server_messages_keep_a_keyword_but_not_the_rest_of_the_statement() -> None:
    assert _without_sql('syntax error at or near "selec"') == (
        'syntax error at or near "selec"'
    )
    message = 'unterminated quoted string at or near "\'; DROP TABLE canary; --"'
    assert _without_sql(message) == "unterminated quoted string"
    assert _without_sql("syntax error at end of input") == (
        "syntax error at end of input"
    )
