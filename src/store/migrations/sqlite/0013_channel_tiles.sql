-- The console's channel tiles: each channel's latest files without a scan.
CREATE INDEX files_channel ON files(channel, received_at);
