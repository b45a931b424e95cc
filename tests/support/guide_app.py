"""What the guide's blocks take from the guide's own application, as stand-ins.

The guide's blocks use names its app defines elsewhere (``router``,
``UserCreate``, ``UserResponse``, ``UserService``) or a web framework this
toolkit does not depend on (FastAPI's ``Depends``). Each stand-in here does
only what the block needs, the way the real one does it: `call` resolves a
``Depends(generator)`` default as FastAPI does (enter, call the endpoint, let
the generator commit, or throw the error into it so it rolls back).

`base_copy` loads a second copy of ``dashtam_nb.models.base`` (same
conventions, its own metadata): the guide's ``class UserModel`` maps the
``users`` table that ``dashtam_nb.models`` already maps, and SQLAlchemy
refuses a table defined twice in one metadata. The guide's app would have one
base; the copy stands for it.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.util
import inspect
import itertools
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dashtam_nb.handlers import RegisterUser, RegisterUserHandler
from dashtam_nb.models import base

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping
    from types import ModuleType
    from uuid import UUID

    from dashtam_nb.entities import User
    from dashtam_nb.protocols import UserRepository
    from dashtam_nb.result import Result, ValidationError

_copies = itertools.count(1)


@dataclass(frozen=True)
class Dependency:
    """FastAPI's ``Depends(fn)`` marker, as a parameter default."""

    dependency: Callable[[], AsyncIterator[Any]]


def Depends(dependency: Callable[[], AsyncIterator[Any]]) -> Any:
    """Mark a parameter as provided by ``dependency`` (FastAPI's spelling)."""
    return Dependency(dependency)


class Router:
    """FastAPI's ``APIRouter``, for ``@router.post(path)``: keeps the endpoint."""

    def __init__(self) -> None:
        """No routes yet."""
        self.routes: dict[str, Callable[..., Any]] = {}

    def post(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register the decorated endpoint under ``POST path``."""

        def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
            self.routes[f"POST {path}"] = endpoint
            return endpoint

        return register


async def call(endpoint: Callable[..., Any], **params: object) -> Any:
    """Call ``endpoint`` as FastAPI would, each ``Depends`` resolved around it."""
    async with contextlib.AsyncExitStack() as stack:
        for name, parameter in inspect.signature(endpoint).parameters.items():
            if isinstance(parameter.default, Dependency):
                enter = contextlib.asynccontextmanager(parameter.default.dependency)
                params[name] = await stack.enter_async_context(enter())
        return await endpoint(**params)


@dataclass(frozen=True)
class UserCreate:
    """The request body of the guide's endpoint (Dashtam: UserCreateRequest)."""

    email: str


@dataclass(frozen=True)
class UserResponse:
    """The response of the guide's endpoint (Dashtam: UserCreateResponse)."""

    id: UUID
    email: str

    @classmethod
    def from_entity(cls, user: User) -> UserResponse:
        """Only the public fields of a stored user."""
        return cls(id=user.id, email=user.email)


class UserService:
    """The guide's ``UserService`` (it exists nowhere, G1): the real handler.

    ``register(email=...)`` is all the guide's unit test calls.
    """

    def __init__(self, user_repo: UserRepository) -> None:
        """Keep the (mocked) repository."""
        self._handler = RegisterUserHandler(user_repo)

    async def register(self, email: str) -> Result[UUID, ValidationError]:
        """Register ``email`` with a placeholder hash."""
        return await self._handler.handle(
            RegisterUser(email=email, hashed_password="hashed")
        )


def base_copy() -> ModuleType:
    """A fresh, private copy of ``dashtam_nb.models.base`` (own metadata)."""
    name = f"_guide_app_base_{next(_copies)}"
    spec = importlib.util.spec_from_file_location(name, base.__file__)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # SQLAlchemy resolves annotations by module
    spec.loader.exec_module(module)
    return module


def builtins_with(modules: Mapping[str, ModuleType]) -> dict[str, Any]:
    """Builtins whose ``import`` finds ``modules`` first (for one exec only)."""
    real = builtins.__import__

    def guide_import(name: str, *args: Any, **kwargs: Any) -> Any:
        return modules[name] if name in modules else real(name, *args, **kwargs)

    return {**vars(builtins), "__import__": guide_import}
