-- Signatures are anonymised a while after the petition closes: name and Telegram id go,
-- country and date stay so every count still holds.
ALTER TABLE signatures ADD COLUMN anonymized_at TIMESTAMPTZ;
