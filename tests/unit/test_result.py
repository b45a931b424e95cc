"""Success / Failure: the guide's positional forms and the narrowing helpers."""

import dataclasses
import uuid

import pytest

from dashtam_nb import errors
from dashtam_nb.result import (
    Failure,
    Result,
    Success,
    ValidationError,
    is_failure,
    is_success,
)


def test_success_takes_the_value_positionally() -> None:
    user_id = uuid.uuid4()
    result = Success(user_id)
    assert result.value == user_id
    assert result.is_success()
    assert not result.is_failure()


def test_failure_takes_the_guide_validation_error_positionally() -> None:
    result = Failure(ValidationError("Email already registered"))
    assert result.is_failure()
    assert not result.is_success()
    assert str(result.error) == "Email already registered"


def test_validation_error_is_the_one_class_from_errors() -> None:
    assert ValidationError is errors.ValidationError
    assert issubclass(ValidationError, errors.DashtamError)


def test_module_helpers_narrow_both_outcomes() -> None:
    results: list[Result[int, ValidationError]] = [
        Success(1),
        Failure(ValidationError("bad", field="x")),
    ]
    assert [is_success(r) for r in results] == [True, False]
    assert [is_failure(r) for r in results] == [False, True]
    first = results[0]
    if is_success(first):
        assert first.value == 1


def test_results_are_immutable_values() -> None:
    result = Success(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.value = 2  # type: ignore[misc]
    assert Success(1) == Success(1)
    assert Failure(ValidationError("a")) == Failure(ValidationError("a"))
    assert Success(1) != Failure(1)  # type: ignore[comparison-overlap]


def test_results_work_with_match() -> None:
    def describe(result: Result[int, ValidationError]) -> str:
        match result:
            case Success(value):
                return f"ok {value}"
            case Failure(error):
                return f"failed: {error}"
        raise AssertionError("unreachable")

    assert describe(Success(3)) == "ok 3"
    assert describe(Failure(ValidationError("nope"))) == "failed: nope"


def test_result_alias_is_subscriptable_at_runtime() -> None:
    alias = Result[uuid.UUID, ValidationError]
    assert alias is not None
