-- Things that must never pass silently (a delivery key that collides with another
-- record's, entries a channel cannot take), counted for status; files whose outputs could
-- not be written wait for `retry_at`; a record reaches each target at most once.
CREATE TABLE anomalies (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_id INTEGER,
    detail TEXT NOT NULL
);
CREATE INDEX anomalies_kind ON anomalies(kind);
ALTER TABLE files ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN retry_at TEXT;
ALTER TABLE files ADD COLUMN last_error TEXT;
CREATE UNIQUE INDEX deliveries_record ON deliveries(target, record_id);
