-- Each Telegram update is processed once, even when it arrives twice (a webhook retried
-- against another instance, polling offsets lost in a crash). Rows are pruned after a day.
CREATE TABLE update_claims (
    bot_id       BIGINT NOT NULL,
    update_id    BIGINT NOT NULL,
    owner        TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('processing', 'done')),
    lease_until  TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (bot_id, update_id)
);

CREATE INDEX update_claims_by_age ON update_claims (updated_at);
