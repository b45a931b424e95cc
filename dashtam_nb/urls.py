"""The one parser for database URLs, and their secret-free renderings.

A URL is parsed once into a `sqlalchemy.URL`, whose repr masks the password;
the raw string is never stored. Malformed URLs fail here with `ConfigError`
naming the bad part, before any driver sees them (psycopg echoes bad
percent-encoding verbatim, and SQLAlchemy splits an unescaped ``@`` so the tail
of a password shows up as the host).
"""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url

from dashtam_nb.errors import ConfigError, DashtamError, ValidationError

__all__ = ["ASYNC_DRIVER", "describe_target", "masked", "parse_database_url"]

ASYNC_DRIVER = "postgresql+psycopg"
_SCHEMES = {"postgresql", "postgres"}
_DRIVERS = {"psycopg", "psycopg_async"}
_URL_SHAPE = re.compile(r"^[A-Za-z][A-Za-z0-9+._-]*://")
_BAD_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# A space is no delimiter, and SQLAlchemy's own render_as_string() leaves it
# unescaped, so it is accepted; these would split the URL in the wrong place.
_RESERVED = frozenset("@/?#[]")
_RESERVED_MSG = (
    "the password contains a reserved character (@, /, %, ? or #): "
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
    # Tracebacks with locals (%xmode Verbose, --showlocals) print every frame's
    # variables: no frame that raises may still hold the raw text. Helpers
    # *return* the problem, and ``raw`` is dropped before anything is raised.
    if isinstance(raw, URL):
        result: URL | DashtamError = raw
    elif isinstance(raw, str):
        result = _parse_text(raw)
    else:
        result = ValidationError(
            "the database URL must be a string or a sqlalchemy.URL",
            field="database_url",
        )
    del raw
    if isinstance(result, DashtamError):
        raise result
    problem = _url_problem(result)
    if problem is not None:
        raise problem
    return result.set(drivername=ASYNC_DRIVER)


def _url_problem(url: URL) -> ConfigError | None:
    """What is wrong with a parsed URL, if anything."""
    problem = _scheme_problem(url.drivername)
    if problem is None and url.host and any(c in url.host for c in "@/% "):
        problem = ConfigError(
            "the host part is invalid; a password with @, /, % or space must be "
            "URL-encoded",
            part="host",
        )
    if problem is None and url.port is not None and not 0 < url.port < 65536:
        problem = ConfigError(f"port {url.port} is out of range", part="port")
    return problem


def _parse_text(raw: str) -> URL | ConfigError:
    """Check the raw text part by part, then let SQLAlchemy parse it.

    No message quotes the input: any piece of it may be part of a password.
    """
    text = raw.strip()
    if not text:
        return ConfigError("the database URL is empty", part="url")
    if not _URL_SHAPE.match(text):
        return ConfigError(
            "the database URL must start with a scheme such as postgresql://",
            part="scheme",
        )
    scheme, rest = text.split("://", 1)
    problem = _scheme_problem(scheme)
    # The query (?host=/run/...) may hold "/" legitimately: look before it.
    # The userinfo ends at the *last* "@"; anything reserved inside it means
    # an unescaped password, which SQLAlchemy would split at the first "@".
    head = rest.split("?", 1)[0]
    userinfo, at, after = head.rpartition("@")
    # An unescaped "?" in the password ends `head` too early (app:a@b?c@host):
    # also take the userinfo up to the last "@" before the path.
    wide = rest.split("/", 1)[0].rpartition("@")[0]
    if problem is None and at and any(c in wide + userinfo for c in _RESERVED):
        problem = ConfigError(_RESERVED_MSG, part="password")
    if problem is None and at and _BAD_PCT.search(userinfo):
        problem = ConfigError(
            "the user or password has invalid percent-encoding: encode % as %25",
            part="password",
        )
    if problem is None:
        problem = _port_problem((after if at else head).split("/", 1)[0])
    # An "@" in the query means a password's "@/?" pushed the host there
    # (app:pw@/?x@db/ledger would parse as an empty host); a query value that
    # really holds "@" can be written %40.
    if problem is None and "@" in rest.partition("?")[2]:
        problem = ConfigError(_RESERVED_MSG, part="password")
    if problem is not None:
        return problem
    try:
        return make_url(text)
    except Exception:
        return ConfigError(
            "the database URL could not be parsed; check the port and that the "
            "password is URL-encoded",
            part="url",
        )


def _port_problem(hosts: str) -> ConfigError | None:
    """Every ``host:port`` of the authority has a numeric port (or none)."""
    for hostport in hosts.split(","):
        if hostport.startswith("["):  # [::1]:5432
            port = hostport.partition("]")[2].removeprefix(":")
        else:
            port = hostport.rpartition(":")[2] if ":" in hostport else ""
        if port and not (port.isascii() and port.isdigit()):
            return ConfigError(
                "the port is not a number (if the password contains @, /, % or "
                "space, URL-encode it)",
                part="port",
            )
    return None


def _scheme_problem(drivername: str) -> ConfigError | None:
    backend, _, driver = drivername.partition("+")
    if backend not in _SCHEMES:
        return ConfigError(
            f"unsupported scheme {backend[:20]!r}: dashtam_nb speaks PostgreSQL "
            "(postgresql://)",
            part="scheme",
        )
    if driver and driver not in _DRIVERS:
        return ConfigError(
            f"unsupported driver {driver[:20]!r}: use postgresql:// or "
            "postgresql+psycopg://",
            part="driver",
        )
    return None


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
