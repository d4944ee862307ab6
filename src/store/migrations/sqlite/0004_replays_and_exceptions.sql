ALTER TABLE files ADD COLUMN replay INTEGER NOT NULL DEFAULT 0;
ALTER TABLE files ADD COLUMN documents TEXT NOT NULL DEFAULT '';
CREATE TABLE exceptions (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES files(id),
    document TEXT NOT NULL,
    control TEXT NOT NULL,
    interchange TEXT NOT NULL,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    offset INTEGER NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (file_id, offset)
);
