"""Settings from the environment, and the one parser for database URLs.

A URL is parsed once into a `sqlalchemy.URL`, whose repr masks the password;
the raw string is never stored. Malformed URLs fail here with `ConfigError`
naming the bad part, before any driver sees them (psycopg echoes bad
percent-encoding verbatim, and SQLAlchemy splits an unescaped ``@`` so the tail
of a password shows up as the host).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from sqlalchemy.engine import URL, make_url

from dashtam_nb.errors import ConfigError

ASYNC_DRIVER = "postgresql+psycopg"
_SCHEMES = {"postgresql", "postgres"}
_DRIVERS = {"psycopg", "psycopg_async"}
_URL_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9+._-]*://")
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")


def parse_database_url(raw: str | URL) -> URL:
    """Parse and normalise a PostgreSQL URL to the psycopg async driver.

    Args:
        raw: ``postgresql://...``, ``postgres://...`` or ``postgresql+psycopg://...``,
            or an already built `URL` (``URL.create(password=...)`` needs no
            escaping, so it is the safe way to pass odd passwords).

    Returns:
        The URL with driver ``postgresql+psycopg``.

    Raises:
        ConfigError: naming the scheme, driver, port, host or percent-encoding
            problem; the message never contains the password.
    """
    if isinstance(raw, URL):
        url = raw
    else:
        if not isinstance(raw, str) or not raw.strip():
            raise ConfigError("DATABASE_URL is empty", part="url")
        text = raw.strip()
        if not _URL_SHAPE.match(text):
            raise ConfigError(
                "DATABASE_URL must start with a scheme such as postgresql://",
                part="scheme",
            )
        scheme = text.split("://", 1)[0]
        _check_scheme(scheme)
        rest = text.split("://", 1)[1]
        netloc = rest.split("/", 1)[0].split("?", 1)[0]
        if netloc.count("@") > 1:
            raise ConfigError(
                "the password contains a reserved character (@, /, % or space): "
                "URL-encode it, or build the URL with sqlalchemy.URL.create()",
                part="password",
            )
        if _BAD_PCT.search(netloc):
            raise ConfigError(
                "the user or password has invalid percent-encoding: encode % as %25",
                part="password",
            )
        try:
            url = make_url(text)
        except ValueError:
            raise ConfigError(
                "DATABASE_URL could not be parsed; check the port and that the "
                "password is URL-encoded",
                part="url",
            ) from None
        except Exception:
            raise ConfigError("DATABASE_URL could not be parsed", part="url") from None
    _check_scheme(url.drivername)
    if url.host and any(c in url.host for c in "@/% "):
        raise ConfigError(
            "the host part is invalid; a password with @, /, % or space must be "
            "URL-encoded",
            part="host",
        )
    if url.port is not None and not 0 < url.port < 65536:
        raise ConfigError(f"port {url.port} is out of range", part="port")
    return url.set(drivername=ASYNC_DRIVER)


def _check_scheme(drivername: str) -> None:
    backend, _, driver = drivername.partition("+")
    if backend not in _SCHEMES:
        raise ConfigError(
            f"unsupported scheme {backend[:20]!r}: dashtam_nb speaks PostgreSQL "
            "(postgresql://)",
            part="scheme",
        )
    if driver and driver not in _DRIVERS:
        raise ConfigError(
            f"unsupported driver {driver[:20]!r}: use postgresql:// or "
            "postgresql+psycopg://",
            part="driver",
        )


def masked(url: URL) -> str:
    """The URL as text with the password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def describe_target(url: URL) -> str:
    """A short, secret-free name for a server, for error messages."""
    host = url.host or url.query.get("host") or "local socket"
    if isinstance(host, tuple):
        host = host[0]
    where = f"{host}:{url.port}" if url.port else str(host)
    if "/" in where:
        where = "embedded server"
    return f"database {url.database!r} on {where}"


def default_data_dir() -> Path:
    """Per-user data directory: the same whichever folder a kernel starts in."""
    return Path(platformdirs.user_data_dir("dashtam_nb", appauthor=False))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """What the environment says, read when first needed.

    ``database_url`` is the URL to connect to: ``DATABASE_URL`` when set, else the
    embedded server (started on first access). The password never appears in
    ``repr``.
    """

    data_dir: Path
    db_echo: bool
    _env_url: URL | None

    @classmethod
    def from_env(cls) -> Settings:
        """Read ``DATABASE_URL``, ``DB_ECHO`` and ``DASHTAM_DATA_DIR``."""
        raw = os.environ.get("DATABASE_URL")
        env_url = parse_database_url(raw) if raw else None
        data = os.environ.get("DASHTAM_DATA_DIR")
        return cls(
            data_dir=Path(data).expanduser() if data else default_data_dir(),
            db_echo=_truthy(os.environ.get("DB_ECHO")),
            _env_url=env_url,
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

    def __repr__(self) -> str:
        source = "embedded" if self._env_url is None else masked(self._env_url)
        return (
            f"Settings(database={source!r}, db_echo={self.db_echo}, "
            f"data_dir={str(self.data_dir)!r})"
        )


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


settings = _LazySettings()
