-- Interchanges sent to partners and the functional acknowledgement each one is owed:
-- overdue while `awaiting` past `due_at`; a late one still settles it.
CREATE TABLE sent_interchanges (
    id INTEGER PRIMARY KEY,
    partner TEXT NOT NULL,
    syntax TEXT NOT NULL,
    control TEXT NOT NULL,
    document TEXT NOT NULL,
    file_id INTEGER NOT NULL,
    output_id INTEGER NOT NULL UNIQUE,
    sent_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    state TEXT NOT NULL,
    ack_at TEXT,
    ack_file_id INTEGER
);
CREATE INDEX sent_interchanges_due ON sent_interchanges(state, due_at);
CREATE INDEX sent_interchanges_control ON sent_interchanges(partner, syntax, control);
CREATE INDEX sent_interchanges_file ON sent_interchanges(file_id);
