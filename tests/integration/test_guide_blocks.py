# Size: one test per guide block, beside the checks of the account itself; split, the
# account and the blocks it names would be read in two places.
"""Every code block of the guide, read from the guide file, run on a real database.

The blocks come from ``docs/reference/database-usage-guide.md`` itself
(`tests.support.guide_blocks`); nothing is pasted. Each runs with only its
``src.*`` imports rewritten to ``dashtam_nb``, plus the fixes its entry in
`tests.support.guide_account` records (shown on docs/from-the-guide.md), in a
namespace holding exactly the names the block uses without defining them.
Shell blocks run as this toolkit's commands (`tests.support.guide_shell`).
The two blocks that are pytest tests are run into this module, so pytest
collects and runs them as tests. The summary line counts what passed.

An autouse fixture points ``settings`` and ``get_database()`` at a fresh
migrated database, so the guide's ``Database(database_url=settings.database_url)``
and ``get_database()`` never touch a shared one.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Integer, Table, func, select, text, update
from sqlalchemy.orm import Mapped, mapped_column

import dashtam_nb as dn
from dashtam_nb import config, migrations, repositories, server
from dashtam_nb.config import settings
from dashtam_nb.entities import Account, User
from dashtam_nb.errors import DashtamError
from dashtam_nb.handlers import RegisterUser
from dashtam_nb.ids import uuid7
from dashtam_nb.migrations import alembic_config, console, scripts
from dashtam_nb.models import AuditLogModel, UserModel
from dashtam_nb.repositories import AccountRepository, UserRepository
from dashtam_nb.result import Failure, Result, Success, ValidationError
from tests.support import guide_app, guide_blocks, guide_shell
from tests.support.guide_account import ACCOUNT, INLINE, INLINE_TEST, MODULE
from tests.support.guide_app import UserService  # noqa: F401 - the unit test block uses it
from tests.support.guide_blocks import LEDGER

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration

GUIDE_TEXT = guide_blocks.GUIDE.read_text(encoding="utf-8")
BLOCKS = guide_blocks.blocks(GUIDE_TEXT)
LEDGER.module, LEDGER.guide = MODULE, list(BLOCKS)
LEDGER.entries, LEDGER.inline = ACCOUNT, INLINE
LEDGER.inline_test = INLINE_TEST
SCRIPTS = ScriptDirectory.from_config(alembic_config())
REVISIONS = [s.revision for s in SCRIPTS.walk_revisions("base", "heads")][::-1]
HEAD, PREVIOUS = REVISIONS[-1], REVISIONS[-2]

SUPPLY: dict[str, object] = {
    # Imports the guide's snippets omit (G24), as dashtam_nb has them.
    **{"text": text, "func": func, "select": select, "update": update},
    **{"UUID": UUID, "datetime": datetime, "Mapped": Mapped, "uuid7": uuid7},
    **{"mapped_column": mapped_column, "User": User, "UserModel": UserModel},
    **{"UserRepository": UserRepository, "AccountRepository": AccountRepository},
    **{"Result": Result, "Success": Success, "Failure": Failure},
    **{"ValidationError": ValidationError, "RegisterUser": RegisterUser},
    "Error": DashtamError,  # no Error type exists (G16); ours is the root
    # Names from the guide's own app (G18, G1).
    **{"UserCreate": guide_app.UserCreate, "UserResponse": guide_app.UserResponse},
}


def a_user(email: str = "test@example.com") -> User:
    return User(id=uuid7(), email=email, password_hash="hashed")


async def count(db: dn.Database, table: str) -> int:
    return int(await db.ascalar(f"SELECT count(*) FROM {table}"))  # our own names


async def run_block(key: str, builtins: Any = None, **context: object) -> Any:
    """Run the guide's block under ``key``; return its namespace."""
    block, entry = BLOCKS[key], ACCOUNT[key]
    source = guide_blocks.prepare(block, entry)
    names = guide_blocks.namespace(source, entry, {**SUPPLY, **context})
    if builtins is not None:
        names["__builtins__"] = builtins
    done = eval(guide_blocks.compiled(block, source), names)
    if inspect.iscoroutine(done):
        await done
    return names


def _into_module(key: str) -> None:
    """Run a block that defines pytest tests into this module's globals."""
    try:
        block, entry = BLOCKS[key], ACCOUNT[key]
        source = guide_blocks.prepare(block, entry)
        guide_blocks.namespace(source, entry, globals())
        exec(guide_blocks.compiled(block, source), globals())
    except Exception as exc:
        error = exc

        def test_guide_block_runs() -> None:
            raise error

        # Named by the heading, so a vanished block (KeyError) still fails here.
        slug = "_".join(re.findall(r"[a-z0-9]+", key.lower()))
        globals()[f"test_guide_block_{slug}_runs"] = test_guide_block_runs


@pytest.fixture(autouse=True)
def guide_database(
    schema_db: dn.Database, monkeypatch: pytest.MonkeyPatch, request
) -> Iterator[dn.Database]:
    """``settings.database_url`` and ``get_database()`` are the test's database."""
    fresh = config.Settings(
        data_dir=settings.data_dir, db_echo=False, _env_url=schema_db.url
    )
    monkeypatch.setattr(settings, "_value", fresh)
    yield schema_db
    if request.cls is not None and request.cls.__name__ == "TestUserRepository":
        # The guide's class built its own Database from settings: its user
        # must have landed in this test's fresh database, nowhere else.
        assert schema_db.scalar("SELECT email FROM users") == "test@example.com"


# -- The account itself -------------------------------------------------------------


def test_every_block_is_accounted_for() -> None:
    assert list(BLOCKS) == list(ACCOUNT)  # same blocks, guide order
    for key, block in BLOCKS.items():
        entry = ACCOUNT[key]
        want = {"bash": {"command"}, "python": {"unchanged", "fixed"}}[block.lang]
        assert entry.status in want, key
        assert bool(entry.fixes) == (entry.status == "fixed") or block.lang == "bash"
        guide_blocks.prepare(block, entry)  # every recorded fix still applies
        assert entry.tests, key
    assert guide_blocks.indented_code(GUIDE_TEXT) == []
    assert list(dict.fromkeys(guide_blocks.inline_spans(GUIDE_TEXT))) == list(INLINE)


def test_the_copy_is_the_guide() -> None:
    # A fresh clone has only the copy; next to shared/ it must be the same file.
    if guide_blocks.ORIGINAL.is_file():
        assert guide_blocks.ORIGINAL.read_bytes() == guide_blocks.GUIDE.read_bytes()
    assert GUIDE_TEXT.startswith("# Database Usage Guide\n")


def test_the_page_shows_every_fix() -> None:
    page = (guide_blocks.ROOT / "docs" / "from-the-guide.md").read_text("utf-8")
    for key, entry in ACCOUNT.items():
        assert f"## {key}" in page, key
        assert f"**{entry.status}**" in page.split(f"## {key}")[1].split("\n## ")[0]
        for fix in entry.fixes:
            assert fix.old in page
            assert fix.new in page


# -- Quick Start --------------------------------------------------------------------


async def test_get_a_database_session(guide_database: dn.Database) -> None:
    db, router, entity = guide_database, guide_app.Router(), a_user()
    names = await run_block("Get a Database Session", router=router, user_entity=entity)
    endpoint = router.routes["POST /users"]
    assert endpoint is names["create_user"]
    body = guide_app.UserCreate(email=entity.email)
    response = await guide_app.call(endpoint, data=body)
    assert response == guide_app.UserResponse(id=entity.id, email=entity.email)
    # "Session automatically commits on success": another session sees it.
    assert await count(db, "users") == 1
    # "... rolls back on error": saving a second new user with that email fails.
    names["user_entity"] = a_user("TEST@example.com")
    with pytest.raises(dn.DuplicateError):
        await guide_app.call(endpoint, data=body)
    assert await count(db, "users") == 1


async def test_direct_session_access() -> None:
    names = await run_block("Direct Session Access (Application Layer)")
    assert names["result"].scalar() == 1
    assert names["db"] is dn.get_database()


# -- Session Management -------------------------------------------------------------


async def test_automatic_transaction_management(guide_database: dn.Database) -> None:
    db = guide_database
    key = "Automatic Transaction Management"
    await run_block(key, db=db, user=a_user())
    assert await count(db, "users") == 1
    # "If exception occurs: rolls back automatically, re-raises the exception"
    with pytest.raises(DashtamError):
        await run_block(key, db=db, user=a_user("Test@Example.com"))  # taken
    assert await count(db, "users") == 1


async def test_explicit_transaction_control(guide_database: dn.Database) -> None:
    db, key, user = guide_database, "Explicit Transaction Control", a_user()
    account = Account(
        user_id=user.id, name="Main", institution="Bank", account_type="checking"
    )
    await run_block(key, db=db, user=user, account=account)
    assert (await count(db, "users"), await count(db, "accounts")) == (1, 1)
    # "... or both roll back": this account's user does not exist.
    orphan = Account(
        user_id=uuid7(), name="X", institution="Bank", account_type="savings"
    )
    with pytest.raises(dn.IntegrityViolationError):
        await run_block(key, db=db, user=a_user("second@example.com"), account=orphan)
    assert (await count(db, "users"), await count(db, "accounts")) == (1, 1)


# -- Creating Models ----------------------------------------------------------------


async def _app_model(key: str, name: str) -> Any:
    """The guide's model class, defined on the guide app's own base."""
    app_base = guide_app.base_copy()
    imports = guide_app.builtins_with({"dashtam_nb.models.base": app_base})
    model = (await run_block(key, builtins=imports))[name]
    assert model.metadata is app_base.Base.metadata
    ours = dn.models.Base.metadata.tables[model.__tablename__].c
    for column in model.__table__.c:  # each a column of the migrated table
        assert column.name in ours
        if column.name != "user_id":  # G11: required in the guide, not here
            assert column.nullable == ours[column.name].nullable, column.name
    return model


async def test_mutable_model(guide_database: dn.Database) -> None:
    db = guide_database
    model = await _app_model("Mutable Model (can be updated)", "UserModel")
    async with db.get_session() as session:
        session.add(model(email="ada@example.com", password_hash="hashed"))
    async with db.get_session() as session:
        found = await UserRepository(session).find_by_email("ada@example.com")
    assert found is not None
    assert found.is_active  # the guide's default=True
    assert found.created_at == found.updated_at  # "auto-set", "auto-updated"
    # unique=True holds in the real table (there: case-insensitively).
    with pytest.raises(dn.DuplicateError):
        async with db.get_session() as session:
            session.add(model(email="ada@example.com", password_hash="x"))


async def test_immutable_model(guide_database: dn.Database) -> None:
    db, actor = guide_database, uuid7()
    model = await _app_model("Immutable Model (audit logs, events)", "AuditLogModel")
    async with db.get_session() as session:
        session.add(model(action="user.login", user_id=actor, resource_type="user"))
    sql = "SELECT action FROM audit_logs WHERE user_id = :u"
    assert await db.ascalar(sql, {"u": actor}) == "user.login"
    # Immutable in the database, not only by having no updated_at (G11).
    with pytest.raises(dn.PermissionDeniedError):
        await db.aexecute("UPDATE audit_logs SET action = 'edited'")
    # G11: the guide's user_id is required; ours is NULL for system actions.
    assert not model.__table__.c.user_id.nullable
    assert AuditLogModel.__table__.c.user_id.nullable


# -- Repository Pattern -------------------------------------------------------------


async def test_creating_a_repository(guide_database: dn.Database) -> None:
    guide_class = (await run_block("Creating a Repository"))["UserRepository"]
    # The guide's class and the package's run the same calls on our models.
    for repo_class in (guide_class, UserRepository):
        user = a_user()
        async with guide_database.get_session() as session:
            repo = repo_class(session)
            saved = await repo.save(user)
            assert saved.id == user.id
            assert saved.created_at is not None
            assert await repo.find_by_id(user.id) == saved
            assert await repo.find_by_email("test@example.com") == saved
            await repo.delete(saved)
        # The guide's delete does not flush: the DELETE goes out at commit.
        async with guide_database.get_session() as session:
            assert await repo_class(session).find_by_id(user.id) is None
        assert await count(guide_database, "users") == 0


async def test_entity_model_mapping(guide_database: dn.Database) -> None:
    names = await run_block("Entity-Model Mapping")
    to_entity, from_entity = names["to_entity"], names["from_entity"]
    # "In UserModel class": bound to UserModel, the guide's methods are ours,
    # plus the soft-delete fields. Compare both directions on a stored row.
    user = a_user()
    guide_model = from_entity.__get__(None, UserModel)(user)
    ours = UserModel.from_entity(user)
    for attr in ("id", "email", "password_hash", "is_active"):
        assert getattr(guide_model, attr) == getattr(ours, attr)
    async with guide_database.get_session() as session:
        session.add(guide_model)
        await session.flush()
    # The guide's entity has no row version; ours carries the one it read.
    assert to_entity(guide_model) == dataclasses.replace(
        guide_model.to_entity(), version=None
    )
    assert guide_model.to_entity().created_at is not None


# -- Alembic Migrations (and Troubleshooting) ---------------------------------------


@pytest.fixture(scope="module")
def command_db(server_url: object) -> Iterator[dn.Database]:
    """A database of its own, moved up and down by the guide's commands."""
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}_guide"
    db = dn.connect(name, fresh=True)
    yield db
    dn.run(db.close())
    dn.drop_database(name)


@pytest.fixture
def versions(
    command_db: dn.Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Path:
    """``dashtam-nb migrate`` works on ``command_db``; new revisions go to a copy."""
    dn.set_database(command_db)
    copy = tmp_path / "alembic"
    shutil.copytree(migrations.PROJECT_DIR / "alembic", copy)
    monkeypatch.setattr(
        scripts, "alembic_config", lambda where=None: alembic_config(where or copy)
    )
    return copy / "versions"


def commands(key: str) -> list[list[str]]:
    """The block's lines, fixes applied, as ``dashtam-nb`` arguments."""
    source = guide_blocks.prepare(BLOCKS[key], ACCOUNT[key])
    return [
        guide_shell.toolkit_argv(line) for line in guide_shell.command_lines(source)
    ]


def say(argv: list[str]) -> str:
    """Run one command; it succeeds and says what it did in one line."""
    ran = guide_shell.run(argv)
    assert (ran.status, ran.err) == (0, ""), ran
    assert len(ran.out) == 1, ran
    return ran.out[0]


def test_create_a_new_migration(versions: Path, command_db: dn.Database) -> None:
    migrations.upgrade("head", db=command_db)
    lines = commands("Create a New Migration")
    assert lines == [["migrate", "create", "add_users_table"]] * 2  # make, docker
    probe = Table("guide_probe", dn.models.Base.metadata, Column("id", Integer))
    try:
        for argv in lines:  # a model change, as the guide's NAME says
            written = Path(say(argv))
            assert written.parent == versions
            script = written.read_text("utf-8")
            assert "op.create_table(" in script
            assert 'op.drop_table("guide_probe")' in script
            written.unlink()
    finally:
        dn.models.Base.metadata.remove(probe)
    assert say(lines[0]) == console.NOTHING_TO_GENERATE  # no change, no file


def test_apply_migrations(versions: Path, command_db: dn.Database) -> None:
    lines = commands("Apply Migrations")
    assert lines == [["migrate", "up"], ["migrate", "up", "head"]]  # make, docker
    for argv in lines:
        migrations.downgrade("base", db=command_db)
        assert say(argv) == f"upgraded base → {HEAD}"
        assert migrations.current(db=command_db) == HEAD


def test_rollback_migration(versions: Path, command_db: dn.Database) -> None:
    lines = commands("Rollback Migration")
    assert lines == [["migrate", "down"], ["migrate", "down", "-1"]]  # make, docker
    for argv in lines:  # one step, and no prompt (G14)
        migrations.upgrade("head", db=command_db)
        assert say(argv) == f"downgraded {HEAD} → {PREVIOUS}"
        assert migrations.current(db=command_db) == PREVIOUS


def test_view_migration_history(versions: Path, command_db: dn.Database) -> None:
    (argv,) = commands("View Migration History")
    ran = guide_shell.run(argv)
    assert ran.status == 0
    listed = "\n".join(ran.out)
    assert all(revision in listed for revision in REVISIONS)


def test_migration_conflicts(versions: Path, command_db: dn.Database) -> None:
    current, stamp, create = commands("Migration Conflicts")
    assert stamp == ["migrate", "stamp", "head", "--purge"]  # the fix
    # The symptom: the database records a revision no script has.
    migrations.upgrade("head", db=command_db)
    command_db.execute("UPDATE alembic_version SET version_num = 'deadbeef0000'")
    assert say(current) == "deadbeef0000"
    unfixed = guide_shell.run(stamp[:-1])  # the guide's `stamp head`, as written
    assert unfixed.status == 1
    assert "Can't locate revision" in unfixed.err
    assert say(stamp) == f"stamped {HEAD}"
    assert say(current) == HEAD
    assert create == ["migrate", "create", "sync_schema"]
    assert say(create) == console.NOTHING_TO_GENERATE  # in sync: nothing written
    assert sorted(p.name for p in versions.iterdir() if p.suffix == ".py") == sorted(
        p.name for p in (migrations.PROJECT_DIR / "alembic" / "versions").glob("*.py")
    )


# -- Testing ------------------------------------------------------------------------

# The guide's test class and unit test, run into this module: pytest collects
# TestUserRepository::test_save_and_find_user and test_register_user from here.
user = a_user()  # the unit test's undefined `user` (G1)
_into_module("Integration Tests (Recommended)")
_into_module("Mocking for Unit Tests")


# -- Common Patterns ----------------------------------------------------------------


async def test_pattern_1_handler_with_repository(guide_database: dn.Database) -> None:
    names = await run_block("Pattern 1: Handler with Repository")
    guide_handler, protocol = names["RegisterUserHandler"], names["UserRepository"]
    from dashtam_nb.handlers import RegisterUserHandler as PackageHandler

    taken = "Email already registered"
    for handler_class, refusal in (
        (guide_handler, Failure(ValidationError(taken))),
        (PackageHandler, Failure(ValidationError(taken, field="email"))),
    ):
        async with guide_database.get_session() as session:
            handler = handler_class(repositories.UserRepository(session))
            assert isinstance(handler._user_repo, protocol)  # the Protocol
            first = await handler.handle(
                RegisterUser(email="New@Example.com", hashed_password="h")
            )
            again = await handler.handle(
                RegisterUser(email="new@example.COM", hashed_password="h")
            )
        assert isinstance(first, Success)
        assert first.is_success()
        assert again == refusal
        assert again.is_failure()
        async with guide_database.get_session() as session:
            repo = repositories.UserRepository(session)
            stored = await repo.find_by_id(first.value)
            assert stored is not None
            await repo.delete(stored)


def _repository_with(method: Any) -> type:
    """A repository class holding one of the guide's methods ("In repository")."""

    def __init__(self: Any, session: Any) -> None:
        self._session = session

    return type(
        "GuideUserRepository", (), {"__init__": __init__, method.__name__: method}
    )


async def test_pattern_2_query_with_pagination(guide_database: dn.Database) -> None:
    names = await run_block("Pattern 2: Query with Pagination")
    guide_repo = _repository_with(names["find_all_paginated"])
    async with guide_database.get_session() as session:
        ours = UserRepository(session)
        for i in range(5):
            await ours.save(a_user(f"u{i}@example.com"))
        first_user = await ours.find_by_email("u0@example.com")
        assert first_user is not None
        await ours.soft_delete(first_user.id)
        guide_page, guide_total = await guide_repo(session).find_all_paginated(
            page=1, page_size=10
        )
        our_page, our_total = await ours.find_all_paginated(page=1, page_size=10)
        first, _ = await ours.find_all_paginated(page=1, page_size=2)
    # Same rows and total (deleted rows hidden in both); ours is ordered.
    assert guide_total == our_total == 4
    assert {u.id for u in guide_page} == {u.id for u in our_page}
    assert [u.email for u in first] == ["u1@example.com", "u2@example.com"]


async def test_pattern_3_soft_delete(guide_database: dn.Database) -> None:
    names = await run_block("Pattern 3: Soft Delete")
    # "In model": the mixin's columns are the guide's, defaults included.
    columns = UserModel.__table__.c
    assert names["is_deleted"].column.default.arg is False
    assert columns.is_deleted.default.arg is False
    assert columns.is_deleted.type.python_type is bool
    assert names["deleted_at"].column.nullable is columns.deleted_at.nullable is True
    guide_repo = _repository_with(names["soft_delete"])
    ann, bob = a_user("ann@example.com"), a_user("bob@example.com")
    async with guide_database.get_session() as session:
        repo = UserRepository(session)
        await repo.save(ann)
        await repo.save(bob)
        await guide_repo(session).soft_delete(ann.id)
        assert await repo.soft_delete(bob.id) is True
        assert await repo.find_by_id(ann.id) is None
        assert await repo.find_by_id(bob.id) is None
        assert await repo.count() == 0
        hidden = await repo.find_by_id(ann.id, include_deleted=True)
        assert hidden is not None
        assert hidden.deleted_at is not None


# -- Troubleshooting: the inline commands -------------------------------------------


def test_connection_issues_inline_commands() -> None:
    settings.reload()  # the real settings, not the test database's
    commands = [span for span, kind in INLINE.items() if kind == "command"]
    assert commands == ["docker ps", "docker compose logs postgres"]
    # `docker ps` ("is the database running?") is `dashtam-nb db status`.
    status = say(["db", "status"])
    if settings.uses_embedded:
        running = server.status(settings.data_dir)
        assert running.running
        assert str(running.pgdata) in status
        # `docker compose logs postgres`: no command; the server logs here.
        assert (running.pgdata / "log").is_file()
    else:
        assert status.startswith("external server: ")
