-- The event order without a global lock (crates/outbox). Writers take outbox ids from the
-- identity sequence `outbox_id_seq` without waiting for each other; readers restore the
-- order by filling every missing id below one they can see, with the event once its
-- writer commits or with a placeholder (topic `outbox.hole`) where no event will come.
-- Positions at or below the horizon were pruned: readers pass over them instead of
-- filling them.
CREATE TABLE outbox_horizon (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    pruned_through bigint NOT NULL
);
COMMENT ON TABLE outbox_horizon IS
    'The newest outbox position pruned (crates/outbox::prune); readers start above it.';

-- On a database whose outbox was pruned already, everything below its oldest row (or, if
-- it is empty, every id drawn so far) is gone.
INSERT INTO outbox_horizon (pruned_through)
SELECT COALESCE((SELECT min(id) - 1 FROM outbox),
                pg_sequence_last_value('outbox_id_seq'),
                0);

COMMENT ON TABLE outbox IS
    'Domain events in stream order (crates/outbox): the id is every frame''s seq; ids may commit out of order, and readers take them in order, filling holes; kept a day.';
