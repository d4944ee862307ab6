CREATE TABLE channel_health (
    channel TEXT PRIMARY KEY,
    last_poll_at TEXT,
    last_ok_at TEXT,
    last_error TEXT,
    failures INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE uploads (
    id INTEGER PRIMARY KEY,
    output_id INTEGER NOT NULL REFERENCES outputs(id),
    channel TEXT NOT NULL,
    remote_name TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    last_error TEXT,
    done_at TEXT
);
CREATE INDEX uploads_due ON uploads(state, channel, next_at);
