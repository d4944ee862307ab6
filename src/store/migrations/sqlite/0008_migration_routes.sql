-- Phased migration: the route and mode each record was routed under (decided once), the
-- side of each delivery, the routes' modes with the audit trail of their changes, and the
-- latest reconciliations.
CREATE TABLE record_routes (
    record_id TEXT PRIMARY KEY,
    file_id INTEGER NOT NULL,
    route TEXT NOT NULL,
    mode TEXT NOT NULL,
    routed_at TEXT NOT NULL
);
CREATE INDEX record_routes_route ON record_routes(route, routed_at);
CREATE INDEX record_routes_file ON record_routes(file_id);
CREATE INDEX deliveries_record_id ON deliveries(record_id);
ALTER TABLE deliveries ADD COLUMN route TEXT;
ALTER TABLE deliveries ADD COLUMN side TEXT;
ALTER TABLE deliveries ADD COLUMN shadow INTEGER NOT NULL DEFAULT 0;
CREATE TABLE route_modes (
    route TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    since TEXT NOT NULL
);
CREATE TABLE route_changes (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    route TEXT NOT NULL,
    old_mode TEXT,
    new_mode TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE TABLE reconcile_runs (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    route TEXT NOT NULL,
    summary TEXT NOT NULL
);
