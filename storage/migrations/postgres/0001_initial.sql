-- Signatures, exact counters kept in the same transaction, and per-supporter journeys.

CREATE TABLE petition_counts (
    petition_id  TEXT PRIMARY KEY,
    total        BIGINT NOT NULL DEFAULT 0 CHECK (total >= 0),
    -- Signer numbers come from this sequence and are never reused, even after a withdrawal.
    last_number  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE country_counts (
    petition_id  TEXT NOT NULL,
    country      TEXT NOT NULL,
    total        BIGINT NOT NULL DEFAULT 0 CHECK (total >= 0),
    PRIMARY KEY (petition_id, country)
);

CREATE TABLE signatures (
    petition_id       TEXT NOT NULL,
    user_id           BIGINT NOT NULL,
    number            BIGINT NOT NULL,
    name              TEXT NOT NULL,
    country           TEXT NOT NULL,
    language          TEXT NOT NULL,
    wants_updates     BOOLEAN NOT NULL,
    guardian_consent  BOOLEAN NOT NULL,
    text_version      TEXT NOT NULL,
    referral_code     TEXT NOT NULL UNIQUE,
    referred_by       TEXT,
    signed_at         TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (petition_id, user_id),
    UNIQUE (petition_id, number)
);

CREATE INDEX signatures_by_time ON signatures (petition_id, signed_at);

CREATE TABLE journeys (
    petition_id  TEXT NOT NULL,
    user_id      BIGINT NOT NULL,
    step         TEXT NOT NULL,
    answers      TEXT NOT NULL,
    message_id   BIGINT,
    language     TEXT,
    updated_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (petition_id, user_id)
);
