"""``.env`` is read: environment > .env > defaults (issue 16.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashtam_nb.config import Settings, default_data_dir, dotenv_path, dotenv_values

if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_values_quotes_export_and_comments(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(
        "# a comment\n"
        "export DB_ECHO=yes\n"
        "DASHTAM_DATA_DIR = '/data/with # hash'\n"
        'OTHER="two words"  \n'
        "PLAIN=value # trailing comment\n"
        "not a setting\n"
        "=nameless\n"
    )
    assert dotenv_values(env) == {
        "DB_ECHO": "yes",
        "DASHTAM_DATA_DIR": "/data/with # hash",
        "OTHER": "two words",
        "PLAIN": "value",
    }
    assert dotenv_values(tmp_path / "missing.env") == {}


def test_environment_beats_dotenv_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(f"DASHTAM_DATA_DIR={tmp_path / 'dot'}\nDB_ECHO=1\n")
    monkeypatch.chdir(tmp_path)
    for name in ("DASHTAM_DATA_DIR", "DB_ECHO", "DATABASE_URL", "DATABASE_OWNER_URL"):
        monkeypatch.delenv(name, raising=False)
    read = Settings.from_env()
    assert read.data_dir == tmp_path / "dot"
    assert read.db_echo is True

    monkeypatch.setenv("DASHTAM_DATA_DIR", str(tmp_path / "env"))
    assert Settings.from_env().data_dir == tmp_path / "env"

    (tmp_path / ".env").unlink()
    monkeypatch.delenv("DASHTAM_DATA_DIR")
    assert Settings.from_env().data_dir == default_data_dir()
    assert Settings.from_env().db_echo is False


def test_a_kernel_in_notebooks_reads_the_projects_dotenv(tmp_path: Path) -> None:
    project = tmp_path / "project"
    notebooks = project / "notebooks"
    notebooks.mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (tmp_path / ".env").write_text("DB_ECHO=1\n")  # above the project: not read
    assert dotenv_path(notebooks) is None
    (project / ".env").write_text("DB_ECHO=1\n")
    assert dotenv_path(notebooks) == (project / ".env").resolve()


def test_outside_a_project_only_the_working_directory_counts(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DB_ECHO=1\n")
    (tmp_path / "sub").mkdir()
    assert dotenv_path(tmp_path / "sub") is None
    assert dotenv_path(tmp_path) == (tmp_path / ".env").resolve()


def test_a_relative_data_dir_in_dotenv_is_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / ".env").write_text("DASHTAM_DATA_DIR=.dashtam/data\n")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    monkeypatch.delenv("DASHTAM_DATA_DIR", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert Settings.from_env().data_dir == tmp_path.resolve() / ".dashtam" / "data"
