-- Which node is advancing a file (translating it, writing its outputs, placing it) and until
-- when: nodes sharing a store split the files between them. A commit of a node whose claim
-- was taken since is refused.
ALTER TABLE files ADD COLUMN claimed_by TEXT;
ALTER TABLE files ADD COLUMN claim_until TEXT;
