"""The guide's code, read from the guide file, made runnable, and accounted for.

`blocks` reads every fenced block of ``docs/reference/database-usage-guide.md``
(a copy of ``shared/reference``; `ORIGINAL` is compared with it where found),
keyed by the heading it sits under, so a changed guide changes what the tests
see. `prepare` turns a block into the text that runs: the guide's ``src.*``
imports rewritten by `IMPORTS` (the README's table), then the block's `Fix`es,
each an exact text replacement that must still match. `compiled` compiles it
as a notebook cell would (top-level ``await`` allowed). `LEDGER` records which
tests pass for which block; `tests.support.fix_guide` prints its line.
"""

from __future__ import annotations

import ast
import builtins
import linecache
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import CodeType

    import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "reference" / "database-usage-guide.md"
ORIGINAL = ROOT.parent / "shared" / "reference" / "database-usage-guide.md"
"""Where the guide lives on a development machine (absent in a fresh clone)."""

IMPORTS = {
    "src.core.container": "dashtam_nb",
    "src.core.config": "dashtam_nb.config",
    "src.infrastructure.persistence.database": "dashtam_nb",
    "src.infrastructure.persistence.base": "dashtam_nb.models.base",
    "src.infrastructure.persistence.models.user": "dashtam_nb.models",
    "src.domain.entities.user": "dashtam_nb.entities",
    "src.domain.protocols.user_repository": "dashtam_nb.protocols",
}
"""The guide's modules and ours (README, "The guide's imports")."""

Status = Literal["unchanged", "fixed", "command"]
_FENCE = re.compile(r"^```(\w*)\s*$")
_HEADING = re.compile(r"^(#{2,3}) (.+?)\s*$")
_SRC_IMPORT = re.compile(r"^(\s*)from (src(?:\.\w+)+) import ", re.MULTILINE)
_INLINE = re.compile(r"`([^`\n]+)`")


@dataclass(frozen=True)
class Block:
    """One fenced block: under which heading, in which language, on which line."""

    key: str
    lang: str
    line: int
    text: str


@dataclass(frozen=True)
class Fix:
    """The smallest change that makes a block run: ``old`` becomes ``new``."""

    old: str
    new: str
    why: str


@dataclass(frozen=True)
class Entry:
    """How one block is accounted for, and by which tests."""

    status: Status
    tests: tuple[str, ...]
    needs: tuple[str, ...] = ()
    """Names the block uses but never defines (imports it omits, G24; context)."""
    fixes: tuple[Fix, ...] = ()


def blocks(markdown: str) -> dict[str, Block]:
    """Every fenced block, keyed by its heading (``#2`` etc. for a second one)."""
    found: dict[str, Block] = {}
    heading, lang, start = "(top)", None, 0
    body: list[str] = []
    for number, line in enumerate(markdown.splitlines(), start=1):
        fence = _FENCE.match(line)
        if lang is None:
            if fence:
                lang, start, body = fence.group(1) or "text", number, []
            elif match := _HEADING.match(line):
                heading = match.group(2)
            continue
        if line.rstrip() == "```":
            key, n = heading, 1
            while key in found:
                n += 1
                key = f"{heading} #{n}"
            found[key] = Block(key, lang, start, "\n".join(body) + "\n")
            lang = None
        else:
            body.append(line)
    assert lang is None, f"fence opened on line {start} is never closed"
    return found


def prose(markdown: str) -> list[str]:
    """The guide's lines outside fences (fence lines blanked, numbering kept)."""
    out: list[str] = []
    inside = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            inside = not inside
            out.append("")
        else:
            out.append("" if inside else line)
    return out


def inline_spans(markdown: str) -> list[str]:
    """Every inline code span outside fences, in order."""
    return [m.group(1) for line in prose(markdown) for m in _INLINE.finditer(line)]


def indented_code(markdown: str) -> list[int]:
    """Lines starting an indented code block (4 spaces after a blank line)."""
    lines = prose(markdown)
    return [
        i + 1
        for i, line in enumerate(lines)
        if line.startswith(("    ", "\t")) and line.strip() and not lines[i - 1]
    ]


def rewrite_imports(text: str) -> str:
    """The guide's ``from src.x import y`` lines as ``from dashtam_nb... import y``."""

    def ours(match: re.Match[str]) -> str:
        module = match.group(2)
        assert module in IMPORTS, f"the guide imports {module}: add it to IMPORTS"
        return f"{match.group(1)}from {IMPORTS[module]} import "

    return _SRC_IMPORT.sub(ours, text)


def apply(text: str, fixes: tuple[Fix, ...]) -> str:
    """``text`` with each fix applied; a fix whose ``old`` is gone fails loudly."""
    for fix in fixes:
        times = text.count(fix.old)
        assert times == 1, (
            f"recorded fix no longer applies ({times} matches): {fix.old!r}"
        )
        text = text.replace(fix.old, fix.new)
    return text


def prepare(block: Block, entry: Entry) -> str:
    """The text that runs: imports rewritten, then the entry's fixes."""
    return apply(rewrite_imports(block.text), entry.fixes)


def free_names(source: str) -> set[str]:
    """Names ``source`` reads but never binds (nor are builtins)."""
    tree = ast.parse(source)
    read: set[str] = set()
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (read if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return read - bound - set(dir(builtins))


def compiled(block: Block, source: str) -> CodeType:
    """``source`` compiled like a notebook cell; tracebacks show its lines."""
    filename = f"<guide line {block.line}: {block.key}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code: CodeType = compile(source, filename, "exec", flags=flags, dont_inherit=True)
    return code


@dataclass
class Ledger:
    """Which guide blocks' tests passed in this run, for the summary line."""

    module: str = ""
    guide: list[str] = field(default_factory=list)
    """The keys of the blocks the guide file holds (the total, whatever the account)."""
    entries: dict[str, Entry] = field(default_factory=dict)
    inline: dict[str, str] = field(default_factory=dict)
    inline_test: str = ""
    passed: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)

    def record(self, report: pytest.TestReport) -> None:
        """Note a test's outcome (any failed phase counts against it)."""
        if report.failed:
            self.failed.add(report.nodeid)
        elif report.when == "call" and report.passed:
            self.passed.add(report.nodeid)

    def _ok(self, test: str) -> bool:
        nodeid = f"{self.module}::{test}"
        return nodeid in self.passed and nodeid not in self.failed

    def accounted(self) -> dict[str, Entry]:
        """The guide's blocks that have an entry all of whose tests passed."""
        return {
            key: self.entries[key]
            for key in self.guide
            if key in self.entries and all(self._ok(t) for t in self.entries[key].tests)
        }

    def line(self) -> str:
        """``guide blocks: 20 of 20 accounted for (...)``."""
        done = self.accounted()
        counts = dict.fromkeys(("unchanged", "fixed", "command"), 0)
        for entry in done.values():
            counts[entry.status] += 1
        patched = sum(1 for e in done.values() if e.status == "command" and e.fixes)
        commands = sum(1 for kind in self.inline.values() if kind == "command")
        inline_done = commands if self._ok(self.inline_test) else 0
        total = len(self.guide) + commands
        return (
            f"guide blocks: {len(done) + inline_done} of {total} accounted for "
            f"({len(self.guide)} fenced: {counts['unchanged']} unchanged, "
            f"{counts['fixed']} fixed, {counts['command']} commands "
            f"({patched} with a fix); {inline_done} of {commands} inline commands)"
        )


LEDGER = Ledger()


def namespace(
    source: str, entry: Entry, supply: Mapping[str, object]
) -> dict[str, Any]:
    """Globals for one block: exactly the names it needs and does not define.

    A guide change that starts using a new name fails here, naming it.
    """
    needed = free_names(source)
    assert needed == set(entry.needs), (
        f"the block now needs {sorted(needed)}, the account says {sorted(entry.needs)}"
    )
    return {"__name__": "guide", **{name: supply[name] for name in entry.needs}}
