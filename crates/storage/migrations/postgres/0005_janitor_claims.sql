-- Janitors claim what they sweep, on every store alike: uploads as audio
-- does since 0001. Until when a janitor holds the row for deletion.
ALTER TABLE assets ADD COLUMN janitor_until BIGINT;
