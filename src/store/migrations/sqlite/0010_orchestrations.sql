-- Process orchestration: where each record of a route with steps stands (its current
-- step, the delivery it waits for), and the outcome of every step and compensation.
CREATE TABLE orchestrations (
    record_id TEXT PRIMARY KEY,
    file_id INTEGER NOT NULL,
    route TEXT NOT NULL,
    state TEXT NOT NULL,
    step INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    delivery_id INTEGER,
    reason TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX orchestrations_due ON orchestrations(state, next_at);
CREATE INDEX orchestrations_file ON orchestrations(file_id);
CREATE INDEX orchestrations_delivery ON orchestrations(delivery_id);
CREATE TABLE steps (
    id INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    system_id TEXT,
    output_id INTEGER,
    at TEXT NOT NULL,
    UNIQUE (record_id, seq, kind)
);
CREATE INDEX steps_file ON steps(file_id);
