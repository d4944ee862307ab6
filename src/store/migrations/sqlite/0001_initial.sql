CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    channel TEXT NOT NULL,
    partner TEXT,
    name TEXT NOT NULL,
    source_key TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 1,
    duplicate_of INTEGER REFERENCES files(id),
    blob TEXT NOT NULL,
    refusal TEXT,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX files_sha ON files(sha256);
CREATE INDEX files_state ON files(state);
CREATE INDEX files_source ON files(source_key);
CREATE TABLE outputs (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    kind TEXT NOT NULL,
    path TEXT NOT NULL UNIQUE,
    content BLOB NOT NULL,
    written_at TEXT
);
CREATE INDEX outputs_file ON outputs(file_id);
CREATE TABLE records (
    id TEXT PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    schema TEXT NOT NULL,
    partner TEXT NOT NULL
);
CREATE TABLE record_keys (
    record_id TEXT NOT NULL REFERENCES records(id),
    key TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX record_keys_lookup ON record_keys(key, value);
CREATE TABLE interchanges (
    file_id INTEGER NOT NULL REFERENCES files(id),
    partner TEXT NOT NULL,
    sender TEXT NOT NULL,
    control TEXT NOT NULL
);
CREATE INDEX interchanges_lookup ON interchanges(sender, control);
CREATE TABLE counters (
    partner TEXT NOT NULL,
    kind TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (partner, kind)
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    file_id INTEGER,
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT
);
CREATE INDEX events_file ON events(file_id);
