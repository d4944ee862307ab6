-- What the target system answered: its own id for the document (SAP
-- `SupplierInvoice/FiscalYear`, D365 `HeaderReference`) and a bounded excerpt of its body.
ALTER TABLE deliveries ADD COLUMN system_id TEXT;
ALTER TABLE deliveries ADD COLUMN response TEXT;
CREATE INDEX record_keys_value ON record_keys(value);
ALTER TABLE deliveries ADD COLUMN tried INTEGER NOT NULL DEFAULT 0;
