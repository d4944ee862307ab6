-- Outputs too large for a database value are kept as spool files until written.
ALTER TABLE outputs ADD COLUMN stored TEXT;
