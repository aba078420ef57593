-- Live changes admins make without a restart (NULL: as in the petition file), and a record of
-- every admin action, and of every refused attempt.
ALTER TABLE petition_counts ADD COLUMN goal INTEGER;
ALTER TABLE petition_counts ADD COLUMN paused INTEGER;

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    petition_id  TEXT NOT NULL,
    user_id      INTEGER NOT NULL,
    action       TEXT NOT NULL,
    detail       TEXT NOT NULL,
    allowed      INTEGER NOT NULL,
    at           TEXT NOT NULL
);
