-- 0011: PostgreSQL announces changes with NOTIFY (see its migration). SQLite has no such thing
-- and needs none: one server owns the file, and it learns of its own changes by reading the
-- store (nodes.PollEvery, token.Config.WatchInterval). Nothing changes here.
SELECT 1;
