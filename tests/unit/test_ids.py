"""uuid7() and parse_uuid(): generation and strict parsing of ids."""

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashtam_nb.errors import InvalidIdError, ValidationError
from dashtam_nb.ids import parse_uuid, uuid7

CANONICAL = "0190f2a4-8c3e-7b1a-9d2e-3f4a5b6c7d8e"


def test_uuid7_is_a_stdlib_version_7_uuid() -> None:
    value = uuid7()
    assert type(value) is uuid.UUID
    assert value.version == 7


def test_uuid7_sorts_in_creation_order() -> None:
    ids = [uuid7() for _ in range(1000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    "text",
    [
        CANONICAL,
        CANONICAL.upper(),
        CANONICAL.replace("-", ""),
        "{" + CANONICAL + "}",
        "urn:uuid:" + CANONICAL,
    ],
)
def test_parse_uuid_accepts_standard_string_forms(text: str) -> None:
    assert parse_uuid(text) == uuid.UUID(CANONICAL)


def test_parse_uuid_returns_uuid_instances_unchanged() -> None:
    value = uuid7()
    assert parse_uuid(value) is value


def test_parse_uuid_normalises_uuid_subclasses() -> None:
    class DriverUUID(uuid.UUID):
        pass

    parsed = parse_uuid(DriverUUID(CANONICAL))
    assert type(parsed) is uuid.UUID
    assert parsed == uuid.UUID(CANONICAL)


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        0,
        123,
        uuid.UUID(CANONICAL).int,
        1.5,
        None,
        b"x" * 16,
        uuid.UUID(CANONICAL).bytes,
        [CANONICAL],
        object(),
    ],
)
def test_parse_uuid_rejects_non_strings(value: object) -> None:
    with pytest.raises(InvalidIdError, match=type(value).__name__):
        parse_uuid(value)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not-a-uuid",
        CANONICAL[:-1],
        CANONICAL + "0",
        " " + CANONICAL,
        CANONICAL + "\n",
        CANONICAL[:-1] + "\x00",
        CANONICAL.replace("-", "_"),
        "0190f2a4-8c3e7b1a-9d2e-3f4a5b6c7d8e",  # hyphens must be all or none
        "{" + CANONICAL,  # unbalanced brace
        "URN:UUID:" + CANONICAL,  # uuid.UUID rejects this prefix too
        "٠" * 32,  # Arabic-Indic digits: int() accepts them, we do not
        "\ud800" * 32,
        CANONICAL * 1000,
    ],
)
def test_parse_uuid_rejects_malformed_strings(text: str) -> None:
    with pytest.raises(InvalidIdError):
        parse_uuid(text)


def test_invalid_id_error_names_the_field_and_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        parse_uuid("nope", field="user_id")
    assert isinstance(info.value, InvalidIdError)
    assert info.value.field == "user_id"
    assert "user_id" in str(info.value)


def test_error_message_is_one_line_and_echoes_at_most_40_characters() -> None:
    secret = "s3cr3t-" * 100
    with pytest.raises(InvalidIdError) as info:
        parse_uuid(secret + "\nsecond line")
    message = str(info.value)
    assert "\n" not in message
    assert "second line" not in message
    assert secret[:40] not in message
    assert len(message) < 100


def test_error_survives_a_hostile_repr() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("boom")

    with pytest.raises(InvalidIdError, match="Hostile"):
        parse_uuid(Hostile())


def test_error_survives_a_multiline_repr() -> None:
    class Multiline:
        def __repr__(self) -> str:
            return "a\nb\x00c"

    with pytest.raises(InvalidIdError) as info:
        parse_uuid(Multiline())
    assert "\n" not in str(info.value)
    assert "\x00" not in str(info.value)


def test_error_survives_an_int_past_the_digit_limit() -> None:
    with pytest.raises(InvalidIdError):
        parse_uuid(10**5000)


@given(st.uuids())
def test_parse_uuid_round_trips_every_uuid(value: uuid.UUID) -> None:
    assert parse_uuid(str(value)) == value
    assert parse_uuid(value.hex) == value


@given(st.text(max_size=60))
def test_parse_uuid_raises_only_invalid_id_error(text: str) -> None:
    message = ""
    try:
        parsed = parse_uuid(text)
    except InvalidIdError as exc:
        message = str(exc)
    else:
        assert parsed == uuid.UUID(text)
    assert "\n" not in message
