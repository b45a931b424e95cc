"""The guide's code blocks, run with only their imports changed.

One test per block of shared/reference/database-usage-guide.md, named after
it. Guide code is pasted verbatim between ``# --- guide`` and ``# --- end``
markers; everything else is scaffolding (data, assertions). Where the guide
cannot run as written even with other imports, the one change is named on
the spot (guide-notes G1).

An autouse fixture points ``settings`` and ``get_database()`` at a fresh
migrated database, so the guide's ``Database(database_url=settings.database_url)``
and ``get_database()`` never touch a shared one.
"""

# No `from __future__ import annotations`: the guide's annotations are
# evaluated, as they would be in the guide's own modules.

from collections.abc import Iterator
from unittest.mock import AsyncMock, Mock
from uuid import UUID

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

import dashtam_nb as dn
from dashtam_nb import config, repositories
from dashtam_nb.config import settings
from dashtam_nb.database import Database
from dashtam_nb.entities import Account, User
from dashtam_nb.errors import DashtamError as Error
from dashtam_nb.handlers import RegisterUser, RegisterUserHandler
from dashtam_nb.ids import uuid7
from dashtam_nb.models import UserModel
from dashtam_nb.repositories import AccountRepository, UserRepository
from dashtam_nb.result import Failure, Result, Success, ValidationError

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def guide_database(
    schema_db: dn.Database, monkeypatch: pytest.MonkeyPatch, request
) -> Iterator[dn.Database]:
    """``settings.database_url`` and ``get_database()`` are the test's database."""
    fresh = config.Settings(
        data_dir=settings.data_dir, db_echo=False, _env_url=schema_db.url
    )
    monkeypatch.setattr(settings, "_value", fresh)
    yield schema_db
    if request.cls is TestUserRepository:
        # The guide's class built its own Database from settings: its user
        # must have landed in this test's fresh database, nowhere else.
        assert schema_db.scalar("SELECT email FROM users") == "test@example.com"


def a_user(email: str = "test@example.com") -> User:
    return User(id=uuid7(), email=email, password_hash="hashed")


async def count(db: dn.Database, table: str) -> int:
    return int(await db.ascalar(f"SELECT count(*) FROM {table}"))  # our own names


# -- Quick Start ------------------------------------------------------------------


async def test_direct_session_access() -> None:
    from dashtam_nb import get_database

    # --- guide
    db = get_database()

    async with db.get_session() as session:
        # Use session
        result = await session.execute(text("SELECT 1"))
    # --- end
    assert result.scalar() == 1


# -- Session Management -------------------------------------------------------------


async def test_automatic_transaction_management(guide_database) -> None:
    db = guide_database
    user = a_user()
    # --- guide
    async with db.get_session() as session:
        # Operations here
        user_repo = UserRepository(session)
        await user_repo.save(user)
        # Commits automatically on successful exit
    # --- end
    assert await count(db, "users") == 1

    # "If exception occurs: rolls back automatically, re-raises the exception"
    with pytest.raises(RuntimeError):
        async with db.get_session() as session:
            await UserRepository(session).save(a_user("other@example.com"))
            raise RuntimeError
    assert await count(db, "users") == 1


async def test_explicit_transaction_control(guide_database) -> None:
    db = guide_database
    user = a_user()
    account = Account(
        user_id=user.id, name="Main", institution="Bank", account_type="checking"
    )
    # --- guide
    async with db.transaction() as session:
        user_repo = UserRepository(session)
        account_repo = AccountRepository(session)

        await user_repo.save(user)
        await account_repo.save(account)
        # Both commit together or both roll back
    # --- end
    assert (await count(db, "users"), await count(db, "accounts")) == (1, 1)

    # ... or both roll back: the account's user does not exist.
    orphan = Account(
        user_id=uuid7(), name="X", institution="Bank", account_type="savings"
    )
    user = a_user("second@example.com")
    account = orphan
    with pytest.raises(dn.IntegrityViolationError):
        async with db.transaction() as session:
            user_repo = UserRepository(session)
            account_repo = AccountRepository(session)

            await user_repo.save(user)
            await account_repo.save(account)
    assert (await count(db, "users"), await count(db, "accounts")) == (1, 1)


# -- Repository Pattern -------------------------------------------------------------


async def test_creating_a_repository(guide_database) -> None:
    # --- guide
    class UserRepository:
        """Repository for User persistence.

        Maps between domain entities and database models.
        NO business logic - just persistence operations.
        """

        def __init__(self, session: AsyncSession):
            self._session = session

        async def save(self, user: User) -> User:
            """Save user entity to database."""
            model = UserModel.from_entity(user)
            self._session.add(model)
            await self._session.flush()  # Get generated ID
            return model.to_entity()

        async def find_by_id(self, user_id: UUID) -> User | None:
            """Find user by ID."""
            model = await self._session.get(UserModel, user_id)
            return model.to_entity() if model else None

        async def find_by_email(self, email: str) -> User | None:
            """Find user by email."""
            stmt = select(UserModel).where(UserModel.email == email)
            result = await self._session.execute(stmt)
            model = result.scalar_one_or_none()
            return model.to_entity() if model else None

        async def delete(self, user: User) -> None:
            """Delete user from database."""
            model = await self._session.get(UserModel, user.id)
            if model:
                await self._session.delete(model)

    # --- end
    from dashtam_nb.repositories import UserRepository as PackageRepository

    # The guide's class and the package's run the same calls on our models.
    for repo_class in (UserRepository, PackageRepository):
        user = a_user()
        async with guide_database.get_session() as session:
            repo = repo_class(session)
            saved = await repo.save(user)
            assert saved.id == user.id
            assert saved.created_at is not None
            assert await repo.find_by_id(user.id) == saved
            assert await repo.find_by_email("test@example.com") == saved
            await repo.delete(saved)
        # The guide's delete does not flush: the DELETE goes out at commit.
        async with guide_database.get_session() as session:
            assert await repo_class(session).find_by_id(user.id) is None
        assert await count(guide_database, "users") == 0


async def test_entity_model_mapping(guide_database) -> None:
    # --- guide
    # In UserModel class
    def to_entity(self) -> User:
        """Convert database model to domain entity."""
        return User(
            id=self.id,
            email=self.email,
            password_hash=self.password_hash,
            is_active=self.is_active,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )

    @classmethod
    def from_entity(cls, user: User) -> "UserModel":
        """Create database model from domain entity."""
        return cls(
            id=user.id,
            email=user.email,
            password_hash=user.password_hash,
            is_active=user.is_active,
        )

    # --- end
    # The guide shows the methods as they sit in UserModel; ours are those,
    # plus the soft-delete fields. Compare both directions on a stored row.
    user = a_user()
    guide_model = from_entity.__get__(None, UserModel)(user)
    ours = UserModel.from_entity(user)
    for attr in ("id", "email", "password_hash", "is_active"):
        assert getattr(guide_model, attr) == getattr(ours, attr)
    async with guide_database.get_session() as session:
        session.add(guide_model)
        await session.flush()
    assert to_entity(guide_model) == guide_model.to_entity()
    assert guide_model.to_entity().created_at is not None


# -- Testing ------------------------------------------------------------------------


# --- guide
@pytest.mark.integration
class TestUserRepository:
    @pytest_asyncio.fixture
    async def db(self):
        """Create test database connection."""
        database = Database(database_url=settings.database_url, echo=settings.db_echo)
        yield database
        await database.close()

    @pytest.mark.asyncio
    async def test_save_and_find_user(self, db):
        """Test saving and retrieving a user."""
        async with db.get_session() as session:
            repo = UserRepository(session)

            user = User(
                id=uuid7(),
                email="test@example.com",
                password_hash="hashed",
            )

            saved = await repo.save(user)
            assert saved.id == user.id

            found = await repo.find_by_email("test@example.com")
            assert found is not None
            assert found.email == "test@example.com"


# --- end


# The guide's `UserService` does not exist (G1); this is the smallest stand-in:
# `register(email=...)` on top of the real handler.
class UserService:
    def __init__(self, user_repo: Mock) -> None:
        self._handler = RegisterUserHandler(user_repo)

    async def register(self, email: str) -> Result[UUID, ValidationError]:
        return await self._handler.handle(
            RegisterUser(email=email, hashed_password="hashed")
        )


user = User(id=uuid7(), email="test@example.com", password_hash="hashed")


# --- guide (the one change: `def` -> `async def`; `await` in a plain `def` is a
# SyntaxError, G1)
async def test_register_user():
    """Unit test with mocked repository."""
    # Mock repository
    mock_repo = Mock()
    mock_repo.save = AsyncMock(return_value=user)
    mock_repo.find_by_email = AsyncMock(return_value=None)

    service = UserService(user_repo=mock_repo)

    result = await service.register(email="test@example.com")

    assert result.is_success()
    mock_repo.save.assert_called_once()


# --- end


# -- Common Patterns ----------------------------------------------------------------


async def test_pattern_1_handler_with_repository(guide_database) -> None:
    from dashtam_nb.protocols import UserRepository  # the guide's import

    # --- guide
    class RegisterUserHandler:
        def __init__(self, user_repo: UserRepository):
            self._user_repo = user_repo

        async def handle(self, cmd: RegisterUser) -> Result[UUID, Error]:
            # Check if email exists
            existing = await self._user_repo.find_by_email(cmd.email)
            if existing:
                return Failure(ValidationError("Email already registered"))

            # Create and save user
            user = User.create(email=cmd.email, password_hash=cmd.hashed_password)
            await self._user_repo.save(user)

            return Success(user.id)

    # --- end
    from dashtam_nb.handlers import RegisterUserHandler as PackageHandler

    for handler_class, taken in (
        (RegisterUserHandler, Failure(ValidationError("Email already registered"))),
        (
            PackageHandler,
            Failure(ValidationError("Email already registered", field="email")),
        ),
    ):
        async with guide_database.get_session() as session:
            handler = handler_class(repositories.UserRepository(session))
            assert isinstance(handler._user_repo, UserRepository)  # the Protocol
            first = await handler.handle(
                RegisterUser(email="New@Example.com", hashed_password="h")
            )
            again = await handler.handle(
                RegisterUser(email="new@example.COM", hashed_password="h")
            )
        assert isinstance(first, Success)
        assert first.is_success()
        assert again == taken
        assert again.is_failure()
        async with guide_database.get_session() as session:
            repo = repositories.UserRepository(session)
            stored = await repo.find_by_id(first.value)
            assert stored is not None
            await repo.delete(stored)


async def test_pattern_2_query_with_pagination(guide_database) -> None:
    class GuideUserRepository:
        def __init__(self, session: AsyncSession) -> None:
            self._session = session

        # --- guide
        async def find_all_paginated(
            self,
            page: int = 1,
            page_size: int = 20,
        ) -> tuple[list[User], int]:
            """Find all users with pagination."""
            # Count total
            count_stmt = select(func.count()).select_from(UserModel)
            total = (await self._session.execute(count_stmt)).scalar() or 0

            # Get page
            offset = (page - 1) * page_size
            stmt = select(UserModel).offset(offset).limit(page_size)
            result = await self._session.execute(stmt)

            users = [model.to_entity() for model in result.scalars()]
            return users, total

        # --- end

    async with guide_database.get_session() as session:
        ours = UserRepository(session)
        for i in range(5):
            await ours.save(a_user(f"u{i}@example.com"))
        first_user = await ours.find_by_email("u0@example.com")
        assert first_user is not None
        await ours.soft_delete(first_user.id)
        guide_page, guide_total = await GuideUserRepository(session).find_all_paginated(
            page=1, page_size=10
        )
        our_page, our_total = await ours.find_all_paginated(page=1, page_size=10)
        first, _ = await ours.find_all_paginated(page=1, page_size=2)
    # Same rows and total (deleted rows hidden in both); ours is ordered.
    assert guide_total == our_total == 4
    assert {u.id for u in guide_page} == {u.id for u in our_page}
    assert [u.email for u in first] == ["u1@example.com", "u2@example.com"]


async def test_pattern_3_soft_delete(guide_database) -> None:
    class GuideUserRepository:
        def __init__(self, session: AsyncSession) -> None:
            self._session = session

        # --- guide
        # In repository
        async def soft_delete(self, user_id: UUID) -> None:
            """Mark user as deleted (soft delete)."""
            stmt = (
                update(UserModel)
                .where(UserModel.id == user_id)
                .values(is_deleted=True, deleted_at=func.now())
            )
            await self._session.execute(stmt)

        # --- end

    # "In model": the mixin's columns are exactly the guide's.
    assert UserModel.is_deleted.type.python_type is bool
    assert UserModel.deleted_at.nullable
    ann, bob = a_user("ann@example.com"), a_user("bob@example.com")
    async with guide_database.get_session() as session:
        repo = UserRepository(session)
        await repo.save(ann)
        await repo.save(bob)
        await GuideUserRepository(session).soft_delete(ann.id)
        assert await repo.soft_delete(bob.id) is True
        assert await repo.find_by_id(ann.id) is None
        assert await repo.find_by_id(bob.id) is None
        assert await repo.count() == 0
        hidden = await repo.find_by_id(ann.id, include_deleted=True)
        assert hidden is not None
        assert hidden.deleted_at is not None
