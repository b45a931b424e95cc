"""Success / Failure values for handlers that report expected outcomes.

Handlers return a ``Result`` for outcomes a caller must handle (a taken email);
unexpected faults stay exceptions. The error value is usually a ``DashtamError``
instance such as ``ValidationError``: one class per meaning, used both raised
and returned, so there is no twin dataclass to keep in sync.
"""

from dataclasses import dataclass
from typing import Generic, Literal, TypeAlias, TypeGuard, TypeVar

from dashtam_nb.errors import ValidationError

__all__ = [
    "Failure",
    "Result",
    "Success",
    "ValidationError",
    "is_failure",
    "is_success",
]

T = TypeVar("T", covariant=True)
E = TypeVar("E", covariant=True)


@dataclass(frozen=True, slots=True)
class Success(Generic[T]):
    """The outcome when the operation did what it was asked.

    Positional on purpose, as in the guide: ``Success(user.id)``.
    """

    value: T

    def is_success(self) -> Literal[True]:
        """Return True: this is a success (the guide's ``result.is_success()``)."""
        return True

    def is_failure(self) -> Literal[False]:
        """Return False: a success is never a failure."""
        return False


@dataclass(frozen=True, slots=True)
class Failure(Generic[E]):
    """The outcome when the operation was refused for an expected reason.

    Positional on purpose, as in the guide:
    ``Failure(ValidationError("Email already registered"))``.
    """

    error: E

    def is_success(self) -> Literal[False]:
        """Return False: a failure is never a success."""
        return False

    def is_failure(self) -> Literal[True]:
        """Return True: this is a failure."""
        return True


Result: TypeAlias = Success[T] | Failure[E]
"""Either outcome; ``Result[UUID, ValidationError]`` reads "an id or an error"."""


def is_success(result: Success[T] | Failure[E]) -> TypeGuard[Success[T]]:
    """Narrow ``result`` to ``Success`` for type checkers.

    Args:
        result: Any result.

    Returns:
        True if it is a ``Success``.
    """
    return isinstance(result, Success)


def is_failure(result: Success[T] | Failure[E]) -> TypeGuard[Failure[E]]:
    """Narrow ``result`` to ``Failure`` for type checkers.

    Args:
        result: Any result.

    Returns:
        True if it is a ``Failure``.
    """
    return isinstance(result, Failure)
