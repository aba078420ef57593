-- When a supporter blocks the bot, messages to them fail with 403: remember it, so broadcasts
-- skip them, until they write to the bot again.
ALTER TABLE signatures ADD COLUMN blocked_at TEXT;
