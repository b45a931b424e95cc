"""Revision messages: any text in, a file that parses and a sane name out.

A message lands in two places: the new file's docstring (``script.py.mako``)
and its name (the slug). Alembic pastes it into ``\"\"\"${message}`` as is, so
a quote, a backslash or a NUL byte breaks the file, and its slug keeps any
Unicode letter. Here the message is one line (runs of whitespace, newlines
included, become one space: a stray ``Create Date:`` line cannot fake the
header), the docstring escapes what Python would read differently, and the
slug is ASCII words joined by ``_``.
"""

from __future__ import annotations

import re
import unicodedata

from dashtam_nb.errors import ValidationError

__all__ = ["FALLBACK_SLUG", "docstring", "normalize", "slug"]


_WORD = re.compile(r"[a-z0-9]+")
FALLBACK_SLUG = "revision"
"""The slug of a message with no ASCII letter or digit (``"日本語"``)."""


def normalize(message: object) -> str:
    """The message on one line, or `ValidationError` if there is none."""
    if not isinstance(message, str):
        raise ValidationError("message must be a non-empty string", field="message")
    text = " ".join(message.split())
    if not text:
        raise ValidationError("message must be a non-empty string", field="message")
    return text


def slug(message: str, limit: int = 40) -> str:
    """ASCII words of ``message``, lower case, joined by ``_``, cut at a word.

    Accents are folded (``"Ünïcode"`` -> ``unicode``); other scripts drop out.
    Never empty: `FALLBACK_SLUG` stands in.
    """
    folded = unicodedata.normalize("NFKD", message).encode("ascii", "ignore")
    words = _WORD.findall(folded.decode().lower())
    kept: list[str] = []
    for word in words:
        if len("_".join([*kept, word])) > limit:
            if not kept:  # one long word: cut it
                kept.append(word[:limit])
            break
        kept.append(word)
    return "_".join(kept) or FALLBACK_SLUG


def docstring(text: object) -> str:
    r"""``text`` escaped for the inside of a triple-quoted docstring.

    Backslashes and double quotes are escaped, and every character that is not
    printable (controls, NUL, line and paragraph separators, lone surrogates)
    becomes its ``\x``/``\u`` escape, so the docstring's value is ``text``
    exactly. Used by ``alembic/script.py.mako`` as a Mako filter, so plain
    ``alembic revision -m ...`` is safe too.
    """
    out = []
    for ch in str(text):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ascii(ch)[1:-1])
    return "".join(out)
