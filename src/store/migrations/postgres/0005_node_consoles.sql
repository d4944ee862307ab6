-- Where each node's admin listener (API and console) answers, so that `status` names them all
-- (the data folder's admin-address file names only the node that started last).
ALTER TABLE nodes ADD COLUMN admin TEXT;
