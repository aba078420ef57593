-- Polling keeps each fetched update here before Telegram is told it arrived, so an update
-- whose process was killed mid-way is handled after the restart. (The claims table is only
-- bookkeeping for a day: it is simply made anew.)
DROP TABLE update_claims;

CREATE TABLE update_claims (
    bot_id       BIGINT NOT NULL,
    update_id    BIGINT NOT NULL,
    owner        TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('received', 'processing', 'done')),
    lease_until  TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    payload      TEXT,
    PRIMARY KEY (bot_id, update_id)
);

CREATE INDEX update_claims_by_age ON update_claims (updated_at);
