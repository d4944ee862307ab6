CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL,
    file_id INTEGER NOT NULL REFERENCES files(id),
    target TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    payload BLOB NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT,
    last_status INTEGER,
    last_error TEXT,
    UNIQUE (target, idem_key)
);
CREATE INDEX deliveries_due ON deliveries(state, target, next_at);
CREATE TABLE breakers (
    target TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    failures INTEGER NOT NULL,
    opened_at TEXT
);
