"""RegisterUserHandler with fake repositories (the guide's mocking pattern)."""

from unittest.mock import AsyncMock, Mock
from uuid import UUID

import pytest

from dashtam_nb.entities import User
from dashtam_nb.handlers import RegisterUser, RegisterUserHandler
from dashtam_nb.protocols import UserRepository
from dashtam_nb.result import Failure, Success, ValidationError


class InMemoryUserRepository:
    """A protocol-conforming fake: lookups are case-insensitive, like the table."""

    def __init__(self) -> None:
        self.users: dict[UUID, User] = {}

    async def save(self, user: User) -> User:
        self.users[user.id] = user
        return user

    async def find_by_id(self, user_id: UUID) -> User | None:
        return self.users.get(user_id)

    async def find_by_email(self, email: str) -> User | None:
        wanted = email.lower()
        return next((u for u in self.users.values() if u.email.lower() == wanted), None)

    async def delete(self, user: User) -> None:
        self.users.pop(user.id, None)


def _mock_repo(existing: User | None = None) -> Mock:
    repo = Mock()
    repo.save = AsyncMock(side_effect=lambda user: user)
    repo.find_by_email = AsyncMock(return_value=existing)
    return repo


async def test_register_user_saves_and_returns_the_new_id() -> None:
    repo = _mock_repo()
    handler = RegisterUserHandler(user_repo=repo)

    result = await handler.handle(
        RegisterUser(email="test@example.com", hashed_password="hashed")
    )

    assert result.is_success()
    assert isinstance(result, Success)
    repo.find_by_email.assert_awaited_once_with("test@example.com")
    repo.save.assert_called_once()
    saved: User = repo.save.await_args.args[0]
    assert saved.id == result.value
    assert saved.id.version == 7
    assert saved.email == "test@example.com"
    assert saved.password_hash == "hashed"


async def test_register_user_fails_when_email_is_taken() -> None:
    existing = User(email="test@example.com", password_hash="x")
    repo = _mock_repo(existing=existing)

    result = await RegisterUserHandler(repo).handle(
        RegisterUser(email="test@example.com", hashed_password="hashed")
    )

    assert result.is_failure()
    assert result == Failure(ValidationError("Email already registered", field="email"))
    repo.save.assert_not_awaited()


@pytest.mark.parametrize("email", ["", "no-at-sign", "a@b", "x\x00@example.com"])
async def test_register_user_rejects_bad_email_before_touching_the_repository(
    email: str,
) -> None:
    repo = _mock_repo()

    result = await RegisterUserHandler(repo).handle(
        RegisterUser(email=email, hashed_password="hashed")
    )

    assert isinstance(result, Failure)
    assert isinstance(result.error, ValidationError)
    assert result.error.field == "email"
    repo.find_by_email.assert_not_awaited()
    repo.save.assert_not_awaited()


async def test_register_user_rejects_an_empty_password_hash() -> None:
    repo = _mock_repo()

    result = await RegisterUserHandler(repo).handle(
        RegisterUser(email="a@example.com", hashed_password="")
    )

    assert isinstance(result, Failure)
    assert result.error.field == "hashed_password"
    repo.find_by_email.assert_not_awaited()


async def test_register_user_looks_up_the_stripped_email() -> None:
    repo = _mock_repo()

    await RegisterUserHandler(repo).handle(
        RegisterUser(email="  a@example.com  ", hashed_password="h")
    )

    repo.find_by_email.assert_awaited_once_with("a@example.com")


async def test_in_memory_fake_satisfies_the_protocol_end_to_end() -> None:
    repo = InMemoryUserRepository()
    assert isinstance(repo, UserRepository)
    handler = RegisterUserHandler(repo)

    first = await handler.handle(RegisterUser(email="Bob@x.io", hashed_password="h"))
    second = await handler.handle(RegisterUser(email="bob@x.io", hashed_password="h"))

    assert isinstance(first, Success)
    assert await repo.find_by_id(first.value) is not None
    assert isinstance(second, Failure)
    assert str(second.error) == "Email already registered"
    assert len(repo.users) == 1


def test_register_user_command_hides_the_hash_in_repr() -> None:
    cmd = RegisterUser(email="a@example.com", hashed_password="CANARY")
    assert "CANARY" not in repr(cmd)
