-- Members' budgets of what costs the service more than a lookup: board computations that miss
-- the read cache (boards by company value or by distinct givers, summed when asked), reports
-- and comments (src/rates.rs). Kept here, not in a server's memory, so that every server
-- process on the database counts against the same budget.
--
-- One row per member and action, reused: a reservation that finds its window over starts the
-- next one in place, so the table holds at most (members x actions) rows; every server process
-- also deletes rows whose window is over (they would start again anyway).
CREATE TABLE member_rates (
    organisation_id uuid NOT NULL,
    member_id uuid NOT NULL,
    action text NOT NULL CONSTRAINT member_rates_action_check
        CHECK (action IN ('board', 'report', 'comment')),
    -- Reservations in the current window (refused attempts do not count).
    used integer NOT NULL CONSTRAINT member_rates_used_check CHECK (used >= 0),
    -- When the current window ends: the first reservation after it starts a new one.
    window_ends_at timestamptz NOT NULL,
    PRIMARY KEY (organisation_id, member_id, action),
    CONSTRAINT member_rates_member_fkey FOREIGN KEY (organisation_id, member_id)
        REFERENCES members (organisation_id, id)
);
CREATE INDEX member_rates_window_ends_at_idx ON member_rates (window_ends_at);
