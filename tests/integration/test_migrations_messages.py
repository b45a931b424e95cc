"""Revision messages and files: any text is safe, and a failure leaves nothing.

Every test writes into its own copy of ``alembic/`` (``script_location=``), so
the repository's revisions are never touched.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dashtam_nb as dn
from dashtam_nb import migrations
from dashtam_nb.migrations import messages, scripts

pytestmark = [pytest.mark.integration, pytest.mark.migration]

ROOT = migrations.PROJECT_DIR
NASTY = list(
    "\"'\\\n\r\t\x00\x0b\x1f\x7f%$#{}<>&;|`~é日\u2028\u2029\u200b\ufeff\ud800 "
)

MESSAGES = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.sampled_from(NASTY), max_size=30),
    st.text(
        alphabet=st.one_of(st.sampled_from(NASTY), st.characters(codec="utf-8")),
        min_size=1,
        max_size=40,
    ),
    st.builds(
        lambda core, n: core * n,
        st.sampled_from(['"""', "\\", "a", "%(rev)s", "${x}", "<%", "日本"]),
        st.integers(1, 400),
    ),
).filter(lambda m: bool(m.split()))


def _copy_alembic(where: Path) -> Path:
    target = where / "alembic"
    shutil.copytree(
        ROOT / "alembic", target, ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def _files(scripts_dir: Path) -> set[str]:
    return {p.name for p in (scripts_dir / "versions").glob("*.py")}


@pytest.fixture(scope="module")
def shared_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_alembic(tmp_path_factory.mktemp("messages"))


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    return _copy_alembic(tmp_path)


def _check_file(path: Path, message: str) -> None:
    expected = " ".join(message.split())
    source = path.read_bytes()
    tree = ast.parse(source)  # the file parses, whatever the message
    doc = ast.get_docstring(tree, clean=False)
    assert doc is not None
    assert doc.split("\n\n")[0] == expected  # the docstring holds it exactly
    match = re.fullmatch(r"(\d{8})_([0-9a-f]{12})_([a-z0-9_]+)\.py", path.name)
    assert match, path.name
    slug = match.group(3)
    assert len(slug) <= 40
    assert not slug.startswith("_")
    assert not slug.endswith("_")
    assert "__" not in slug
    assert slug == messages.slug(expected)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(message=MESSAGES)
def test_property_any_message_gives_a_file_that_parses(
    shared_copy: Path, message: str
) -> None:
    path = Path(
        migrations.revision(message, autogenerate=False, script_location=shared_copy)
    )
    try:
        assert path.parent == shared_copy / "versions"
        _check_file(path, message)
    finally:
        path.unlink()


@given(message=MESSAGES)
@settings(max_examples=300)
def test_property_the_docstring_escape_round_trips(message: str) -> None:
    source = f'"""{messages.docstring(message)}\n\nmore\n"""\n'
    assert ast.literal_eval(source.strip()) == f"{message}\n\nmore\n"
    assert "\n" not in messages.docstring(message)


@given(message=st.text(max_size=200))
@settings(max_examples=300)
def test_property_slugs_are_short_ascii_words(message: str) -> None:
    slug = messages.slug(message)
    assert re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)*", slug)
    assert len(slug) <= 40


@pytest.mark.parametrize(
    ("message", "slug"),
    [
        ("add nickname to users", "add_nickname_to_users"),
        ("Ünïcödé café", "unicode_cafe"),
        ("日本語", messages.FALLBACK_SLUG),
        ('say "hi" -- and \\ go', "say_hi_and_go"),
        ("x" * 60, "x" * 40),
        ("alpha " * 10, "alpha_alpha_alpha_alpha_alpha_alpha"),
    ],
)
def test_slug_examples(message: str, slug: str) -> None:
    assert messages.slug(message) == slug


def test_a_nasty_message_reads_back_in_history(copy: Path, fresh_db: dn.Database):
    nasty = 'a "quoted" \\ back\nslash """ Create Date: 1999-01-01 %(rev)s ${x} \x00 é'
    path = Path(migrations.revision(nasty, autogenerate=False, script_location=copy))
    _check_file(path, nasty)
    frame = migrations.history(db=fresh_db, script_location=copy)
    last = frame.iloc[-1]
    assert last["message"] == " ".join(nasty.split())
    assert last["revision"] in path.name
    assert last["created"].year > 2000  # the message did not fake the header


@pytest.mark.parametrize("blank", ["", "   ", "\n\t", None, 3])
def test_blank_or_non_text_messages_are_refused(copy: Path, blank: object) -> None:
    with pytest.raises(dn.ValidationError, match="message"):
        migrations.revision(blank, autogenerate=False, script_location=copy)  # type: ignore[arg-type]
    assert _files(copy) == _files(ROOT / "alembic")


def test_hooks_run_with_their_output_captured(
    copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd
) -> None:
    # A hook that leaves a mark in the file and is noisy on both streams.
    marker = tmp_path / "mark.py"
    marker.write_text(
        "import sys, pathlib\n"
        "p = pathlib.Path(sys.argv[1])\n"
        "p.write_text(p.read_text() + '# hooked\\n')\n"
        "print('noise on stdout'); print('noise on stderr', file=sys.stderr)\n"
    )

    def config(script_location: object = None) -> Config:
        cfg = migrations.alembic_config(script_location)  # type: ignore[arg-type]
        cfg.set_section_option("post_write_hooks", "hooks", "mark")
        cfg.set_section_option("post_write_hooks", "mark.type", "exec")
        cfg.set_section_option("post_write_hooks", "mark.executable", sys.executable)
        cfg.set_section_option(
            "post_write_hooks", "mark.options", f"{marker} REVISION_SCRIPT_FILENAME"
        )
        return cfg

    monkeypatch.setattr(scripts, "alembic_config", config)
    capfd.readouterr()
    path = Path(migrations.revision("hooked", autogenerate=False, script_location=copy))
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")  # no "Running post write hook ... done"
    assert path.read_text().endswith("# hooked\n")


def test_the_project_hooks_format_the_new_file(copy: Path, capfd) -> None:
    capfd.readouterr()
    path = Path(migrations.revision("formatted", False, script_location=copy))
    assert capfd.readouterr() == ("", "")
    checked = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--quiet", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_autogenerate_against_an_unmigrated_database_leaves_no_file(
    copy: Path, fresh_db: dn.Database
) -> None:
    before = _files(copy)
    with pytest.raises(dn.MigrationError, match="not up to date"):
        migrations.revision("too early", db=fresh_db, script_location=copy)
    assert _files(copy) == before


def test_autogenerate_with_nothing_to_do_leaves_no_file(
    copy: Path, fresh_db: dn.Database
) -> None:
    migrations.upgrade("head", db=fresh_db, script_location=copy)
    before = _files(copy)
    with pytest.raises(dn.MigrationError) as caught:
        migrations.revision("nothing", db=fresh_db, script_location=copy)
    assert caught.value.message == scripts.NO_CHANGES
    assert _files(copy) == before


def test_a_file_that_does_not_import_is_removed(copy: Path) -> None:
    # The template renders, the file is written, then Alembic's import fails.
    template = copy / "script.py.mako"
    template.write_text(template.read_text() + "\ndef broken(:\n")
    before = _files(copy)
    with pytest.raises(dn.MigrationError, match="revision"):
        migrations.revision("broken file", autogenerate=False, script_location=copy)
    assert _files(copy) == before
    assert not list((copy / "versions").glob("__pycache__/*broken_file*"))


def test_a_hook_that_cannot_run_removes_the_written_file(
    copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    finish = scripts.Draft.finish

    def spy(self: scripts.Draft, path: Path) -> None:
        written.append(path)
        assert path.is_file()  # it really was written before the hook failed
        finish(self, path)

    def config(script_location: object = None) -> Config:
        cfg = migrations.alembic_config(script_location)  # type: ignore[arg-type]
        cfg.set_section_option(
            "post_write_hooks", "ruff_format.module", "no_such_module_for_dn"
        )
        return cfg

    monkeypatch.setattr(scripts, "alembic_config", config)
    monkeypatch.setattr(scripts.Draft, "finish", spy)
    before = _files(copy)
    with pytest.raises(dn.MigrationError, match="no_such_module_for_dn"):
        migrations.revision("hook fails", autogenerate=False, script_location=copy)
    assert len(written) == 1
    assert not written[0].exists()
    assert _files(copy) == before
