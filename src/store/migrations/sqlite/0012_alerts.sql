-- Alerts to webhooks: one row per alert and fact (its key), so a fact is told once;
-- sent with retries like a delivery.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY,
    alert TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    last_error TEXT,
    UNIQUE (alert, key)
);
CREATE INDEX alerts_due ON alerts(alert, state, next_at);
CREATE INDEX alerts_sent ON alerts(alert, sent_at);
