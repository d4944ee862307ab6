-- Lookups by owner: re-running a step deletes its earlier rows by file or record, and
-- retention deletes by file; without these each was a scan of a table that only grows.
CREATE INDEX interchanges_file ON interchanges(file_id);
CREATE INDEX record_keys_record ON record_keys(record_id);
CREATE INDEX records_file ON records(file_id);
CREATE INDEX deliveries_file ON deliveries(file_id);
CREATE INDEX uploads_output ON uploads(output_id);
CREATE INDEX files_duplicate ON files(duplicate_of);
