-- Which node is sending a delivery, until when, and under which claim number (a settlement
-- under an older number is refused): nodes sharing a store split the deliveries between them.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claim_until TEXT;
ALTER TABLE deliveries ADD COLUMN claim_no INTEGER NOT NULL DEFAULT 0;
