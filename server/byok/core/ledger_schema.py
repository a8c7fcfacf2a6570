"""The usage ledger's SQLite schema and its migrations; every migration keeps every existing row.

`PRAGMA user_version` holds the schema version of a ledger file. A file of an older version is brought up to
date when a process opens it, in one `BEGIN IMMEDIATE` transaction, so of several processes opening it at once
exactly one migrates and the others see the result.
"""

from __future__ import annotations

import sqlite3

SCHEMA_VERSION = 2

_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # Version 1: requests and the once-a-month warning marks.
    (
        """CREATE TABLE IF NOT EXISTS requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at REAL NOT NULL,
            updated_at REAL NOT NULL,
            month TEXT NOT NULL,
            day TEXT NOT NULL,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            feature TEXT NOT NULL,
            reserved_usd REAL,
            price_input REAL,
            price_output REAL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            estimated INTEGER NOT NULL DEFAULT 1,
            cost_usd REAL,
            outcome TEXT NOT NULL,
            request_id TEXT,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS requests_month ON requests (month, provider)",
        "CREATE INDEX IF NOT EXISTS requests_pending ON requests (outcome) WHERE outcome = 'pending'",
        """CREATE TABLE IF NOT EXISTS warnings (
            month TEXT NOT NULL,
            scope TEXT NOT NULL,
            at REAL NOT NULL,
            PRIMARY KEY (month, scope)
        )""",
    ),
    # Version 2: prompt-cache reads and writes (parts of input_tokens) and what caching saved. Rows written
    # before it read as no cache use and an unknown saving.
    (
        "ALTER TABLE requests ADD COLUMN cache_read_tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE requests ADD COLUMN saved_usd REAL",
    ),
)


def needs_migration(db: sqlite3.Connection) -> bool:
    return _version(db) < SCHEMA_VERSION


def migrate(db: sqlite3.Connection) -> None:
    """Bring the ledger up to `SCHEMA_VERSION`; call inside a `BEGIN IMMEDIATE` transaction (the version is
    read again there, since another process may have migrated since it was first checked)."""
    version = _version(db)
    for target, statements in enumerate(_MIGRATIONS, start=1):
        if version < target:
            for statement in statements:
                db.execute(statement)
    if version < SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])
