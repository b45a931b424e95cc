"""Application-level handlers from the guide (Pattern 1: handler with repository).

A handler owns a use case: it validates input, asks repositories, and returns a
``Result`` for outcomes the caller must handle. It never commits: the session
or transaction around it does.
"""

from dataclasses import dataclass, field
from uuid import UUID

from dashtam_nb.entities.user import User, validate_email
from dashtam_nb.protocols import UserRepository
from dashtam_nb.result import Failure, Result, Success, ValidationError

__all__ = ["RegisterUser", "RegisterUserHandler"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RegisterUser:
    """Command: register a user whose password is already hashed."""

    email: str
    # Hidden from repr: even a hash should not reach notebook outputs or logs.
    hashed_password: str = field(repr=False)


class RegisterUserHandler:
    """Register a user unless the email is malformed or already taken."""

    def __init__(self, user_repo: UserRepository) -> None:
        """Keep the repository; any ``UserRepository`` (or fake) will do.

        Args:
            user_repo: Where users are looked up and saved.
        """
        self._user_repo = user_repo

    async def handle(self, cmd: RegisterUser) -> Result[UUID, ValidationError]:
        """Register the user described by ``cmd``.

        Validation happens before the repository is touched, so a bad email
        costs no query. A concurrent registration of the same email that slips
        between the lookup and the save is still stopped by the unique index
        (``DuplicateError`` from ``save``).

        Args:
            cmd: The email and the already hashed password.

        Returns:
            ``Success(user_id)``, or ``Failure(ValidationError)`` naming the
            field when the email is malformed or taken, or the hash is empty.
        """
        try:
            email = validate_email(cmd.email)
        except ValidationError as exc:
            return Failure(exc)
        if not cmd.hashed_password:
            return Failure(
                ValidationError("Password hash is required", field="hashed_password")
            )

        existing = await self._user_repo.find_by_email(email)
        if existing:
            return Failure(ValidationError("Email already registered", field="email"))

        user = User.create(email=email, password_hash=cmd.hashed_password)
        await self._user_repo.save(user)
        return Success(user.id)
