-- Leaderboards that stay fast at a million members.
--
-- Totals per member, team, period and dimension are kept up to date by a trigger on the ledger,
-- in the same transaction as the entry: a point is on the board as soon as the request that
-- created it has answered. A histogram of member totals per board makes a rank a short range
-- sum over distinct point values instead of a count over every member above you.
--
-- Periods: week (ISO, Monday), month, quarter, year, all; computed in the organisation's time
-- zone. period_start of 'all' is 1970-01-01. dimension '' means every dimension.

CREATE TABLE member_period_points (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    period          text NOT NULL,
    period_start    date NOT NULL,
    dimension       text NOT NULL,
    member_id       uuid NOT NULL,
    points          bigint NOT NULL,
    -- When the member reached this total: ties are shown first-come first.
    reached_at      timestamptz NOT NULL,
    -- The member's current team, for team-scope boards.
    team_id         uuid,
    -- Deactivated and erased members are not listed; their points still count for teams.
    listed          boolean NOT NULL,
    PRIMARY KEY (organisation_id, period, period_start, dimension, member_id),
    CONSTRAINT member_period_points_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT member_period_points_period_check CHECK (period IN ('week', 'month', 'quarter', 'year', 'all'))
);
CREATE INDEX member_period_points_board_idx
    ON member_period_points (organisation_id, period, period_start, dimension, points DESC, reached_at, member_id)
    WHERE listed;
CREATE INDEX member_period_points_team_board_idx
    ON member_period_points (organisation_id, period, period_start, dimension, team_id, points DESC, reached_at, member_id)
    WHERE listed;
CREATE INDEX member_period_points_member_idx ON member_period_points (organisation_id, member_id);

-- How many listed members of a board have exactly `points`.
CREATE TABLE member_points_histogram (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    period          text NOT NULL,
    period_start    date NOT NULL,
    dimension       text NOT NULL,
    points          bigint NOT NULL,
    -- No CHECK (members >= 0): an upsert's proposed row carries the (negative) change and is
    -- checked before the conflict turns it into an update.
    members         integer NOT NULL,
    PRIMARY KEY (organisation_id, period, period_start, dimension, points)
);

-- Team totals count points by the team the member was in when they earned them.
CREATE TABLE team_period_points (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    period          text NOT NULL,
    period_start    date NOT NULL,
    dimension       text NOT NULL,
    team_id         uuid NOT NULL,
    points          bigint NOT NULL,
    reached_at      timestamptz NOT NULL,
    PRIMARY KEY (organisation_id, period, period_start, dimension, team_id),
    CONSTRAINT team_period_points_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id)
);
CREATE INDEX team_period_points_board_idx
    ON team_period_points (organisation_id, period, period_start, dimension, points DESC, reached_at, team_id);

-- Active (not deactivated) members per team, for points per active member.
CREATE TABLE team_sizes (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    team_id         uuid NOT NULL,
    active_members  integer NOT NULL DEFAULT 0,
    PRIMARY KEY (organisation_id, team_id),
    CONSTRAINT team_sizes_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id)
);
INSERT INTO team_sizes (organisation_id, team_id, active_members)
SELECT t.organisation_id, t.id, count(m.id) FILTER (WHERE m.deactivated_at IS NULL)
FROM teams t LEFT JOIN members m ON m.team_id = t.id AND m.organisation_id = t.organisation_id
GROUP BY t.organisation_id, t.id;

CREATE FUNCTION team_sizes_for_new_team() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO team_sizes (organisation_id, team_id) VALUES (NEW.organisation_id, NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER teams_team_sizes AFTER INSERT ON teams
    FOR EACH ROW EXECUTE FUNCTION team_sizes_for_new_team();

-- The periods a local timestamp falls in.
CREATE FUNCTION board_periods(local_ts timestamp)
RETURNS TABLE (period text, period_start date) LANGUAGE sql IMMUTABLE AS $$
    VALUES ('week', date_trunc('week', local_ts)::date),
           ('month', date_trunc('month', local_ts)::date),
           ('quarter', date_trunc('quarter', local_ts)::date),
           ('year', date_trunc('year', local_ts)::date),
           ('all', DATE '1970-01-01')
$$;

-- Fold a batch of new ledger entries into the boards. Statement-level, so a bulk insert is
-- folded in one pass. Rows are touched in key order in every phase, so concurrent writers
-- take their locks in the same order and do not deadlock each other.
CREATE FUNCTION ledger_entries_to_boards() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS board_deltas (
        organisation_id uuid, period text, period_start date, dimension text,
        member_id uuid, team_id uuid, points bigint, at timestamptz
    ) ON COMMIT DELETE ROWS;
    DELETE FROM board_deltas;

    INSERT INTO board_deltas
    SELECT n.organisation_id, p.period, p.period_start, d.dimension, n.member_id, n.team_id,
           n.points, n.created_at
    FROM new_entries n
    JOIN organisations o ON o.id = n.organisation_id
    CROSS JOIN LATERAL board_periods(n.created_at AT TIME ZONE o.time_zone) p
    CROSS JOIN LATERAL (SELECT '' AS dimension
                        UNION ALL
                        SELECT n.dimension WHERE n.dimension IS NOT NULL) d;

    WITH delta AS (
        SELECT organisation_id, period, period_start, dimension, member_id,
               sum(points) AS points, max(at) AS at
        FROM board_deltas
        GROUP BY 1, 2, 3, 4, 5
    ),
    upserted AS (
        INSERT INTO member_period_points AS m
            (organisation_id, period, period_start, dimension, member_id, points, reached_at, team_id, listed)
        SELECT d.organisation_id, d.period, d.period_start, d.dimension, d.member_id, d.points, d.at,
               mem.team_id, mem.deactivated_at IS NULL
        FROM delta d
        JOIN members mem ON mem.id = d.member_id
        ORDER BY d.organisation_id, d.period, d.period_start, d.dimension, d.member_id
        ON CONFLICT (organisation_id, period, period_start, dimension, member_id)
        DO UPDATE SET points = m.points + EXCLUDED.points, reached_at = EXCLUDED.reached_at
        RETURNING m.organisation_id, m.period, m.period_start, m.dimension, m.member_id,
                  m.points, m.listed, (m.xmax = 0) AS inserted
    ),
    moves AS (
        -- A member's total moved from old to new: one fewer at old, one more at new.
        SELECT u.organisation_id, u.period, u.period_start, u.dimension, u.points - d.points AS points, -1 AS change
        FROM upserted u JOIN delta d USING (organisation_id, period, period_start, dimension, member_id)
        WHERE u.listed AND NOT u.inserted
        UNION ALL
        SELECT u.organisation_id, u.period, u.period_start, u.dimension, u.points, 1
        FROM upserted u
        WHERE u.listed
    )
    INSERT INTO member_points_histogram AS h (organisation_id, period, period_start, dimension, points, members)
    SELECT organisation_id, period, period_start, dimension, points, sum(change)
    FROM moves
    GROUP BY 1, 2, 3, 4, 5
    HAVING sum(change) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (organisation_id, period, period_start, dimension, points)
    DO UPDATE SET members = h.members + EXCLUDED.members;

    INSERT INTO team_period_points AS t
        (organisation_id, period, period_start, dimension, team_id, points, reached_at)
    SELECT organisation_id, period, period_start, dimension, team_id, sum(points), max(at)
    FROM board_deltas
    WHERE team_id IS NOT NULL
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (organisation_id, period, period_start, dimension, team_id)
    DO UPDATE SET points = t.points + EXCLUDED.points, reached_at = EXCLUDED.reached_at;

    DELETE FROM board_deltas;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_boards AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_to_boards();

-- Members leaving or rejoining the boards, and moving between teams.
CREATE FUNCTION members_to_boards() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was_listed boolean := (TG_OP = 'UPDATE' AND OLD.deactivated_at IS NULL);
    is_listed  boolean := (NEW.deactivated_at IS NULL);
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.team_id IS DISTINCT FROM NEW.team_id THEN
        UPDATE member_period_points SET team_id = NEW.team_id
        WHERE organisation_id = NEW.organisation_id AND member_id = NEW.id;
    END IF;

    IF TG_OP = 'UPDATE' AND was_listed <> is_listed THEN
        UPDATE member_period_points SET listed = is_listed
        WHERE organisation_id = NEW.organisation_id AND member_id = NEW.id;
        INSERT INTO member_points_histogram AS h (organisation_id, period, period_start, dimension, points, members)
        SELECT organisation_id, period, period_start, dimension, points,
               CASE WHEN is_listed THEN count(*) ELSE -count(*) END
        FROM member_period_points
        WHERE organisation_id = NEW.organisation_id AND member_id = NEW.id
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (organisation_id, period, period_start, dimension, points)
        DO UPDATE SET members = h.members + EXCLUDED.members;
    END IF;

    -- Team sizes: leave the old team (if counted there), join the new one (if active).
    IF TG_OP = 'UPDATE' AND was_listed AND OLD.team_id IS NOT NULL
       AND (OLD.team_id IS DISTINCT FROM NEW.team_id OR NOT is_listed) THEN
        UPDATE team_sizes SET active_members = active_members - 1
        WHERE organisation_id = OLD.organisation_id AND team_id = OLD.team_id;
    END IF;
    IF is_listed AND NEW.team_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NOT was_listed OR OLD.team_id IS DISTINCT FROM NEW.team_id) THEN
        UPDATE team_sizes SET active_members = active_members + 1
        WHERE organisation_id = NEW.organisation_id AND team_id = NEW.team_id;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER members_boards AFTER INSERT OR UPDATE OF team_id, deactivated_at ON members
    FOR EACH ROW EXECUTE FUNCTION members_to_boards();

-- Recompute an organisation's boards from its ledger: after a change of time zone (periods
-- move), or after loading entries with triggers off (benchmark seeding).
CREATE FUNCTION rebuild_boards(org uuid) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM member_points_histogram WHERE organisation_id = org;
    DELETE FROM member_period_points WHERE organisation_id = org;
    DELETE FROM team_period_points WHERE organisation_id = org;

    CREATE TEMP TABLE rebuild_deltas ON COMMIT DROP AS
    SELECT e.member_id, e.team_id, p.period, p.period_start, d.dimension, e.points, e.created_at
    FROM ledger_entries e
    JOIN organisations o ON o.id = e.organisation_id
    CROSS JOIN LATERAL board_periods(e.created_at AT TIME ZONE o.time_zone) p
    CROSS JOIN LATERAL (SELECT '' AS dimension
                        UNION ALL
                        SELECT e.dimension WHERE e.dimension IS NOT NULL) d
    WHERE e.organisation_id = org;

    INSERT INTO member_period_points
        (organisation_id, period, period_start, dimension, member_id, points, reached_at, team_id, listed)
    SELECT org, r.period, r.period_start, r.dimension, r.member_id, sum(r.points), max(r.created_at),
           m.team_id, m.deactivated_at IS NULL
    FROM rebuild_deltas r JOIN members m ON m.id = r.member_id
    GROUP BY r.period, r.period_start, r.dimension, r.member_id, m.team_id, m.deactivated_at;

    INSERT INTO member_points_histogram (organisation_id, period, period_start, dimension, points, members)
    SELECT org, period, period_start, dimension, points, count(*)
    FROM member_period_points
    WHERE organisation_id = org AND listed
    GROUP BY period, period_start, dimension, points;

    INSERT INTO team_period_points (organisation_id, period, period_start, dimension, team_id, points, reached_at)
    SELECT org, period, period_start, dimension, team_id, sum(points), max(created_at)
    FROM rebuild_deltas
    WHERE team_id IS NOT NULL
    GROUP BY period, period_start, dimension, team_id;

    DROP TABLE rebuild_deltas;
END $$;
