-- Nodes sharing this database: each one's heartbeat, and the one lease that makes a node the
-- active one (its fence number grows at every takeover; a write under an older fence is
-- refused). The lease's time is the server's, so the nodes' clocks need not agree.
CREATE TABLE nodes (
    node TEXT PRIMARY KEY,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    seen_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE leader (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    node TEXT NOT NULL,
    fence BIGINT NOT NULL,
    since TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
