-- A facility's favourites (offered its favourites-first shifts, and welcome while their
-- attendance restricts them) and its do-not-return list (no offer, search result, claim
-- or push there; a future booking there is cancelled). The nurse is never told who
-- blocked her beyond "not eligible at this facility".
CREATE TABLE facility_favourites (
    facility_id uuid NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
    nurse_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    added_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (facility_id, nurse_id)
);
CREATE INDEX facility_favourites_nurse ON facility_favourites (nurse_id);

CREATE TABLE facility_blocks (
    facility_id uuid NOT NULL REFERENCES facilities (id) ON DELETE CASCADE,
    nurse_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason      text NOT NULL CHECK (char_length(reason) BETWEEN 1 AND 1000),
    added_by    uuid REFERENCES users (id) ON DELETE SET NULL,
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (facility_id, nurse_id)
);
CREATE INDEX facility_blocks_nurse ON facility_blocks (nurse_id);

-- Posted with `favourites_first_minutes`: until then only the facility's favourites are
-- offered the shift and may claim it.
ALTER TABLE shifts ADD COLUMN favourites_until timestamptz;
-- Every node looks every second for windows that ended: only shifts that have one.
CREATE INDEX shifts_favourites_window_idx ON shifts (favourites_until)
    WHERE favourites_until IS NOT NULL;
