"""How each of the guide's blocks is accounted for (docs/from-the-guide.md).

One `Entry` per fenced block, keyed by the heading the block sits under:
its status, the tests that run it, the names it uses without defining them,
and the fixes applied to its text. `INLINE` classifies every inline code span
of the guide's prose; the two shell commands among them are run too.
``G1`` etc. are the items of shared/notes/guide-notes.md.
"""

from __future__ import annotations

from tests.support.guide_blocks import Entry, Fix

MODULE = "tests/integration/test_guide_blocks.py"
INLINE_TEST = "test_connection_issues_inline_commands"

ACCOUNT: dict[str, Entry] = {
    "Get a Database Session": Entry(
        "fixed",
        ("test_get_a_database_session",),
        needs=("UserCreate", "UserRepository", "UserResponse", "router", "user_entity"),
        fixes=(
            Fix(
                "from fastapi import Depends",
                "from tests.support.guide_app import Depends",
                "FastAPI is not a dependency of this toolkit (not a guide bug); the "
                "stand-in resolves Depends(get_db_session) as FastAPI does. The "
                "endpoint's router, UserCreate, UserResponse and user_entity exist "
                "nowhere (G18): the test supplies them as an app would.",
            ),
        ),
    ),
    "Direct Session Access (Application Layer)": Entry(
        "unchanged", ("test_direct_session_access",), needs=("text",)
    ),
    "Automatic Transaction Management": Entry(
        "unchanged",
        ("test_automatic_transaction_management",),
        needs=("UserRepository", "db", "user"),
    ),
    "Explicit Transaction Control": Entry(
        "unchanged",
        ("test_explicit_transaction_control",),
        needs=("AccountRepository", "UserRepository", "account", "db", "user"),
    ),
    "Mutable Model (can be updated)": Entry("unchanged", ("test_mutable_model",)),
    "Immutable Model (audit logs, events)": Entry(
        "unchanged", ("test_immutable_model",), needs=("UUID",)
    ),
    "Creating a Repository": Entry("unchanged", ("test_creating_a_repository",)),
    "Entity-Model Mapping": Entry(
        "unchanged", ("test_entity_model_mapping",), needs=("User",)
    ),
    "Create a New Migration": Entry("command", ("test_create_a_new_migration",)),
    "Apply Migrations": Entry("command", ("test_apply_migrations",)),
    "Rollback Migration": Entry("command", ("test_rollback_migration",)),
    "View Migration History": Entry("command", ("test_view_migration_history",)),
    "Integration Tests (Recommended)": Entry(
        "unchanged",
        ("TestUserRepository::test_save_and_find_user",),
        needs=("User", "UserRepository", "uuid7"),
    ),
    "Mocking for Unit Tests": Entry(
        "fixed",
        ("test_register_user",),
        needs=("UserService", "user"),
        fixes=(
            Fix(
                "def test_register_user():",
                "async def test_register_user():",
                "G1: `await` inside a plain `def` is a SyntaxError, so the whole "
                "test module would fail to import. The undefined `user` and "
                "`UserService` (which exists nowhere) are supplied by the test.",
            ),
        ),
    ),
    "Pattern 1: Handler with Repository": Entry(
        "unchanged",
        ("test_pattern_1_handler_with_repository",),
        needs=(
            "Error",
            "Failure",
            "RegisterUser",
            "Result",
            "Success",
            "UUID",
            "User",
            "ValidationError",
        ),
    ),
    "Pattern 2: Query with Pagination": Entry(
        "unchanged",
        ("test_pattern_2_query_with_pagination",),
        needs=("User", "UserModel", "func", "select"),
    ),
    "Pattern 3: Soft Delete": Entry(
        "unchanged",
        ("test_pattern_3_soft_delete",),
        needs=(
            "Mapped",
            "UUID",
            "UserModel",
            "datetime",
            "func",
            "mapped_column",
            "update",
        ),
    ),
    "Migration Conflicts": Entry(
        "command",
        ("test_migration_conflicts",),
        fixes=(
            Fix(
                "alembic stamp head",
                "alembic stamp head --purge",
                "Not in guide-notes: under the symptom this block is for (Can't "
                "locate revision), `stamp head` fails with that same error, because "
                "Alembic first looks up the recorded revision. `--purge` drops it "
                "first.",
            ),
        ),
    ),
}

INLINE: dict[str, str] = {
    "docs/architecture/database.md": "path",
    "get_session()": "name",
    "ConnectionRefusedError": "name",
    "docker ps": "command",
    "DATABASE_URL": "name",
    ".env": "name",
    "docker compose logs postgres": "command",
    "Can't locate revision": "message",
    "Session is closed": "message",
    "async with db.get_session()": "name",
    "expire_on_commit=False": "setting",
    "docs/architecture/dependency-injection.md": "path",
}
"""Every inline span of the prose: only the two commands are code to run."""
