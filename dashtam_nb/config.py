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
from typing import Any

import platformdirs
from sqlalchemy.engine import URL, make_url

from dashtam_nb.errors import ConfigError, ValidationError

ASYNC_DRIVER = "postgresql+psycopg"
_SCHEMES = {"postgresql", "postgres"}
_DRIVERS = {"psycopg", "psycopg_async"}
_URL_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9+._-]*://")
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_RESERVED = frozenset("@/ ?#[]")
_RESERVED_MSG = (
    "the password contains a reserved character (@, /, % or space): "
    "URL-encode it, or build the URL with sqlalchemy.URL.create()"
)


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
        ValidationError: ``raw`` is neither a string nor a `URL`.
    """
    if isinstance(raw, URL):
        url = raw
    elif not isinstance(raw, str):
        raise ValidationError(
            "the database URL must be a string or a sqlalchemy.URL",
            field="database_url",
        )
    else:
        url = _parse_text(raw)
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


def _parse_text(raw: str) -> URL:
    """Check the raw text part by part, then let SQLAlchemy parse it.

    No message quotes the input: any piece of it may be part of a password.
    """
    text = raw.strip()
    if not text:
        raise ConfigError("the database URL is empty", part="url")
    if not _URL_SHAPE.match(text):
        raise ConfigError(
            "the database URL must start with a scheme such as postgresql://",
            part="scheme",
        )
    scheme, rest = text.split("://", 1)
    _check_scheme(scheme)
    # The query (?host=/run/...) may hold "/" legitimately: look before it.
    # The userinfo ends at the *last* "@"; anything reserved inside it means
    # an unescaped password, which SQLAlchemy would split at the first "@".
    head = rest.split("?", 1)[0]
    userinfo, at, after = head.rpartition("@")
    if at and any(c in userinfo for c in _RESERVED):
        raise ConfigError(_RESERVED_MSG, part="password")
    if at and _BAD_PCT.search(userinfo):
        raise ConfigError(
            "the user or password has invalid percent-encoding: encode % as %25",
            part="password",
        )
    _check_ports((after if at else head).split("/", 1)[0])
    try:
        return make_url(text)
    except Exception:
        raise ConfigError(
            "the database URL could not be parsed; check the port and that the "
            "password is URL-encoded",
            part="url",
        ) from None


def _check_ports(hosts: str) -> None:
    """Every ``host:port`` of the authority has a numeric port (or none)."""
    for hostport in hosts.split(","):
        if hostport.startswith("["):  # [::1]:5432
            port = hostport.partition("]")[2].removeprefix(":")
        else:
            port = hostport.rpartition(":")[2] if ":" in hostport else ""
        if port and not (port.isascii() and port.isdigit()):
            raise ConfigError(
                "the port is not a number (if the password contains @, /, % or "
                "space, URL-encode it)",
                part="port",
            )


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


_NO_PICKLE = (
    "settings hold the database password and cannot be pickled; "
    "re-read them with dashtam_nb.settings.reload()"
)


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
