"""Settings from the environment: the database URLs, echo, the data directory.

Precedence: the environment, then a ``.env`` file, then the defaults. The
``.env`` is the one in the working directory or, inside a project (a folder
with ``pyproject.toml`` or ``.git``), the nearest one up to the project root,
so a kernel started in ``notebooks/`` reads the project's ``.env``. It holds
``NAME=value`` lines (``export`` and quotes allowed, ``#`` comments, no
variable expansion) and is read once, with the settings.

With no ``DATABASE_URL`` the URL is the embedded server's (see `server`),
started on first use, as the app role (see `roles`). ``DATABASE_OWNER_URL``
(optional) is the owner role's URL on the same server, for migrations and
``CREATE DATABASE`` when ``DATABASE_URL`` is a DML-only app role. URLs are
parsed by `urls`, once, into a `sqlalchemy.URL` whose repr masks the password.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from dashtam_nb.urls import describe_target, masked, parse_database_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "Settings",
    "default_data_dir",
    "describe_target",
    "dotenv_path",
    "dotenv_values",
    "masked",
    "parse_database_url",
    "settings",
]

_NO_PICKLE = (
    "settings hold the database password and cannot be pickled; "
    "re-read them with dashtam_nb.settings.reload()"
)


def default_data_dir() -> Path:
    """Per-user data directory: the same whichever folder a kernel starts in."""
    return Path(platformdirs.user_data_dir("dashtam_nb", appauthor=False))


def dotenv_path(start: Path | None = None) -> Path | None:
    """The ``.env`` the settings read (see the module docstring), or None."""
    here = (start or Path.cwd()).resolve()
    folders = [here, *here.parents]
    marks = ("pyproject.toml", ".git")
    roots = [f for f in folders if any((f / m).exists() for m in marks)]
    search = folders[: folders.index(roots[0]) + 1] if roots else [here]
    return next((f / ".env" for f in search if (f / ".env").is_file()), None)


def dotenv_values(path: Path | None = None) -> dict[str, str]:
    """``NAME=value`` pairs of ``path`` (default `dotenv_path`); {} when none."""
    path = path or dotenv_path()
    try:
        text = path.read_text(encoding="utf-8", errors="replace") if path else ""
    except OSError:
        return {}
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip().removeprefix("export ").strip()
        name, sep, value = line.partition("=")
        if not sep or line.startswith("#") or not name.strip():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].rstrip()
        values[name.strip()] = value
    return values


_DOTENV: dict[str, str] = {}


def _env(name: str) -> str | None:
    return os.environ.get(name) or _DOTENV.get(name) or None


def _data_dir(value: str | None, dotenv: Path | None) -> Path:
    """``DASHTAM_DATA_DIR``; a relative one from ``.env`` is relative to it."""
    if not value:
        return default_data_dir()
    path = Path(value).expanduser()
    if dotenv is None or path.is_absolute() or os.environ.get("DASHTAM_DATA_DIR"):
        return path
    return dotenv.parent / path


def _url_from_env(name: str = "DATABASE_URL") -> URL | None:
    # A failed parse raises from parse_database_url, whose frame holds no
    # raw text; this frame's only expression is a call, which is not shown.
    return parse_database_url(_env(name) or "") if _env(name) else None


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """What the environment says, read when first needed.

    ``database_url`` is the URL to connect to: ``DATABASE_URL`` when set, else the
    embedded server (started on first access). ``owner_url`` is
    ``DATABASE_OWNER_URL`` (None when unset). The passwords never appear in
    ``repr``.
    """

    data_dir: Path
    db_echo: bool
    _env_url: URL | None
    _owner_url: URL | None = None

    @classmethod
    def from_env(cls) -> Settings:
        """Read the ``DATABASE_URL``s, ``DB_ECHO`` and ``DASHTAM_DATA_DIR``.

        Each from the environment, else the ``.env`` file, else its default.
        """
        # Only the parsed URL is kept. Neither the raw text nor ``os.environ``
        # may appear in this frame: %xmode Verbose evaluates the names and
        # attributes on the failing line and would print the environment.
        found = dotenv_path()
        _DOTENV.clear()
        _DOTENV.update(dotenv_values(found) if found else {})
        env_url = _url_from_env()
        owner_url = _url_from_env("DATABASE_OWNER_URL")
        data = _env("DASHTAM_DATA_DIR")
        return cls(
            data_dir=_data_dir(data, found),
            db_echo=_truthy(_env("DB_ECHO")),
            _env_url=env_url,
            _owner_url=owner_url,
        )

    @property
    def uses_embedded(self) -> bool:
        """True when no ``DATABASE_URL`` is set."""
        return self._env_url is None

    @property
    def database_url(self) -> URL:
        """The URL to connect to (starts the embedded server when needed)."""
        if self._env_url is not None:
            return self._env_url
        from dashtam_nb.server import ensure_server

        return ensure_server(self.data_dir)

    @property
    def owner_url(self) -> URL | None:
        """``DATABASE_OWNER_URL``: the owner role's URL, or None (see `roles`)."""
        return self._owner_url

    def __repr__(self) -> str:
        source = "embedded" if self._env_url is None else masked(self._env_url)
        owner = (
            "" if self._owner_url is None else f", owner={masked(self._owner_url)!r}"
        )
        return (
            f"Settings(database={source!r}{owner}, db_echo={self.db_echo}, "
            f"data_dir={str(self.data_dir)!r})"
        )

    def __reduce__(self) -> str | tuple[Any, ...]:
        # A pickle (IPython %store, joblib, multiprocessing) would carry the
        # plaintext password to disk or another process.
        raise TypeError(_NO_PICKLE)


class _LazySettings:
    """Module attribute that reads the environment on first use.

    Importing the package must not fail on a bad ``DATABASE_URL``; the error
    belongs to the first call that needs the database.
    """

    _value: Settings | None = None

    def _get(self) -> Settings:
        if self._value is None:
            self._value = Settings.from_env()
        return self._value

    def reload(self) -> Settings:
        """Re-read the environment (tests and notebooks that change it)."""
        self._value = Settings.from_env()
        return self._value

    @property
    def database_url(self) -> URL:
        """See `Settings.database_url`."""
        return self._get().database_url

    @property
    def owner_url(self) -> URL | None:
        """See `Settings.owner_url`."""
        return self._get().owner_url

    @property
    def db_echo(self) -> bool:
        """See `Settings.db_echo`."""
        return self._get().db_echo

    @property
    def data_dir(self) -> Path:
        """See `Settings.data_dir`."""
        return self._get().data_dir

    @property
    def uses_embedded(self) -> bool:
        """See `Settings.uses_embedded`."""
        return self._get().uses_embedded

    def __repr__(self) -> str:
        return repr(self._get())

    def __reduce__(self) -> str | tuple[Any, ...]:
        raise TypeError(_NO_PICKLE)


settings = _LazySettings()
