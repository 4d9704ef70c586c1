-- Janitors claim what they sweep, on every store alike: audio as on
-- PostgreSQL since 0001, uploads newly on both. Until when a janitor holds
-- the row for deletion (several nodes may sweep).
ALTER TABLE audio ADD COLUMN janitor_until INTEGER;
ALTER TABLE assets ADD COLUMN janitor_until INTEGER;
