-- The admin console. Every figure /stats shows is a counter kept in the signing transaction,
-- so it reads in O(1) at millions of signatures: signatures per UTC day, per language, per
-- referrer, the journey funnel, and flags (asked for updates, came through a link).
CREATE TABLE tallies (
    petition_id  TEXT NOT NULL,
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL,
    total        INTEGER NOT NULL DEFAULT 0 CHECK (total >= 0),
    PRIMARY KEY (petition_id, kind, key)
) WITHOUT ROWID;

-- Top referrers without sorting every referrer.
CREATE INDEX tallies_ranked ON tallies (petition_id, kind, total);

INSERT INTO tallies (petition_id, kind, key, total)
SELECT petition_id, 'day', substr(signed_at, 1, 10), COUNT(*) FROM signatures
GROUP BY petition_id, substr(signed_at, 1, 10);

INSERT INTO tallies (petition_id, kind, key, total)
SELECT petition_id, 'language', language, COUNT(*) FROM signatures GROUP BY petition_id, language;

INSERT INTO tallies (petition_id, kind, key, total)
SELECT petition_id, 'referrer', referred_by, COUNT(*) FROM signatures
WHERE referred_by IS NOT NULL GROUP BY petition_id, referred_by;

INSERT INTO tallies (petition_id, kind, key, total)
SELECT petition_id, 'flag', 'wants_updates', COUNT(*) FROM signatures
WHERE wants_updates GROUP BY petition_id;

INSERT INTO tallies (petition_id, kind, key, total)
SELECT petition_id, 'flag', 'referred', COUNT(*) FROM signatures
WHERE referred_by IS NOT NULL GROUP BY petition_id;

-- "You brought N signers" reads the tally now.
DROP INDEX signatures_by_referrer;

-- Per-country delivery reports and exports walk one country's signatures by number.
CREATE INDEX signatures_by_country ON signatures (petition_id, country, number);

-- Milestones admins were told about: the first instance to record a mark sends the news.
CREATE TABLE milestones (
    petition_id  TEXT NOT NULL,
    mark         INTEGER NOT NULL,
    reached_at   TEXT NOT NULL,
    PRIMARY KEY (petition_id, mark)
);

-- Broadcasts to supporters who asked for updates. A delivery row is written before each
-- message goes out, so after a crash nobody gets a message twice.
CREATE TABLE broadcasts (
    id           INTEGER PRIMARY KEY,
    petition_id  TEXT NOT NULL,
    text         TEXT NOT NULL,
    created_by   INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    state        TEXT NOT NULL
        CHECK (state IN ('draft', 'sending', 'stopped', 'done', 'cancelled')),
    owner        TEXT,
    lease_until  TEXT
);

CREATE INDEX broadcasts_by_petition ON broadcasts (petition_id, state, id);

CREATE TABLE broadcast_deliveries (
    broadcast_id  INTEGER NOT NULL REFERENCES broadcasts (id),
    user_id       INTEGER NOT NULL,
    state         TEXT NOT NULL
        CHECK (state IN ('queued', 'sending', 'sent', 'blocked', 'failed')),
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, user_id)
) WITHOUT ROWID;

CREATE INDEX broadcast_deliveries_by_state ON broadcast_deliveries (broadcast_id, state);
