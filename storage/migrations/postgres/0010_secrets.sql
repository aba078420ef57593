-- Secrets the instances of one bot share, made on first use: the key of the pseudonyms
-- that stand in for Telegram ids in logs (unless LOG_SECRET gives one).
CREATE TABLE bot_secrets (
    name   TEXT PRIMARY KEY,
    value  BYTEA NOT NULL
);
