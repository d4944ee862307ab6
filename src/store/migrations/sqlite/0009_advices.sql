-- Rejections to tell the partner about: one per record, queued in the transaction that
-- settles the live delivery the ERP rejected, written once as an output (824, APERAK).
CREATE TABLE advices (
    id INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL UNIQUE,
    delivery_id INTEGER NOT NULL,
    file_id INTEGER NOT NULL,
    target TEXT NOT NULL,
    error TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,
    output_id INTEGER,
    note TEXT
);
CREATE INDEX advices_state ON advices(state);
