-- Live changes admins make without a restart (NULL: as in the petition file), and a record of
-- every admin action, and of every refused attempt.
ALTER TABLE petition_counts ADD COLUMN goal BIGINT;
ALTER TABLE petition_counts ADD COLUMN paused BOOLEAN;

CREATE TABLE audit_log (
    id           BIGSERIAL PRIMARY KEY,
    petition_id  TEXT NOT NULL,
    user_id      BIGINT NOT NULL,
    action       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    allowed      BOOLEAN NOT NULL,
    at           TIMESTAMPTZ NOT NULL
);
