import GRDB

/// The corpus database's schema, as numbered migrations. A migration once released is never
/// edited: a change is a new migration, so every existing corpus file can be brought forward.
enum CorpusSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: sessions, attempts, diagnostics, tool calls, exports") { db in
            try db.execute(sql: """
                CREATE TABLE sessions (
                    id TEXT PRIMARY KEY,             -- the retry loop's id, or "serve:<client id>"
                    source TEXT NOT NULL,            -- generate | serve | mcp | import
                    task_id TEXT,
                    task TEXT NOT NULL DEFAULT '',
                    kind TEXT NOT NULL DEFAULT '',
                    model TEXT,
                    system_prompt TEXT,              -- the first message the model saw
                    budget INTEGER,                  -- attempts allowed (max_attempts)
                    attempts INTEGER NOT NULL DEFAULT 0,
                    first_passing_attempt INTEGER,   -- NULL while no attempt has passed
                    outcome TEXT NOT NULL,           -- passed | failed
                    started_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                );
                CREATE INDEX sessions_kind ON sessions(kind);
                CREATE TABLE attempts (
                    id INTEGER PRIMARY KEY,
                    session_id TEXT NOT NULL REFERENCES sessions(id),
                    attempt INTEGER NOT NULL,
                    passed INTEGER NOT NULL,
                    code TEXT NOT NULL,
                    reply TEXT,                      -- the model's whole reply (NULL: code sent directly)
                    feedback TEXT,                   -- the retry text sent after a failure, as rendered then
                    model TEXT,
                    started_at TEXT,
                    latency_ms REAL,
                    record TEXT NOT NULL,            -- the full attempt record, JSON
                    UNIQUE (session_id, attempt)
                );
                CREATE TABLE diagnostics (
                    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    rule TEXT NOT NULL,
                    severity TEXT NOT NULL,
                    line INTEGER, column INTEGER, end_line INTEGER, end_column INTEGER,
                    message TEXT NOT NULL,
                    hint TEXT NOT NULL DEFAULT ''
                );
                CREATE INDEX diagnostics_attempt ON diagnostics(attempt_id);
                CREATE INDEX diagnostics_rule ON diagnostics(rule);
                CREATE TABLE tool_calls (
                    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
                    position INTEGER NOT NULL,
                    tool TEXT NOT NULL,
                    arguments TEXT NOT NULL,         -- JSON
                    duration_ms REAL,
                    outcome TEXT NOT NULL,
                    result_bytes INTEGER,
                    fields_read TEXT NOT NULL        -- JSON list of the result paths the code read
                );
                CREATE INDEX tool_calls_attempt ON tool_calls(attempt_id);
                CREATE TABLE exports (
                    id INTEGER PRIMARY KEY,
                    created_at TEXT NOT NULL,
                    format TEXT NOT NULL,
                    seed INTEGER NOT NULL,
                    destination TEXT NOT NULL,
                    report TEXT NOT NULL             -- JSON: gate removals, split sizes
                );
                """)
        }
        migrator.registerMigration("v2: attempt ids, feedback, result fields, data flows") { db in
            try db.execute(sql: """
                ALTER TABLE attempts ADD COLUMN uid TEXT;           -- the id front ends hand out (execute/validate results)
                ALTER TABLE attempts ADD COLUMN verdict TEXT;       -- the user's latest: accepted | edited | rejected
                CREATE UNIQUE INDEX attempts_uid ON attempts(uid) WHERE uid IS NOT NULL;
                ALTER TABLE tool_calls ADD COLUMN result_fields TEXT;  -- JSON {path: [occurrences, nulls]}
                CREATE TABLE data_flows (
                    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
                    from_call INTEGER NOT NULL,
                    from_tool TEXT NOT NULL,
                    from_path TEXT NOT NULL,
                    to_call INTEGER NOT NULL,
                    to_tool TEXT NOT NULL,
                    argument TEXT NOT NULL
                );
                CREATE INDEX data_flows_attempt ON data_flows(attempt_id);
                CREATE TABLE feedback (
                    id INTEGER PRIMARY KEY,
                    attempt_id INTEGER NOT NULL REFERENCES attempts(id) ON DELETE CASCADE,
                    verdict TEXT NOT NULL,
                    edited_code TEXT,
                    note TEXT,
                    fix_attempt_id INTEGER REFERENCES attempts(id),  -- the attempt an edit became
                    created_at TEXT NOT NULL
                );
                CREATE INDEX feedback_attempt ON feedback(attempt_id);
                """)
        }
        return migrator
    }

    /// The newest migration this build knows; a file migrated past it was made by a newer crucible.
    static var latest: String { migrator.migrations.last! }
}
