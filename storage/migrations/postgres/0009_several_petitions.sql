-- Several petitions in one bot. A supporter's typed answers and commands go to the petition
-- they opened last (by its deep link, the chooser or one of its buttons): one row each.
CREATE TABLE supporter_focus (
    user_id      BIGINT PRIMARY KEY,
    petition_id  TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- /mydata covers every petition a supporter has a journey or a signature in.
CREATE INDEX journeys_by_user ON journeys (user_id);
CREATE INDEX signatures_by_user ON signatures (user_id);
