-- Gamification: badges, levels and challenges. Streaks are computed from activity.

-- Challenge rewards are ledger entries of their own kind.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check CHECK (reason IN (
    'initiative_submitted', 'initiative_approved', 'initiative_implemented', 'initiative_measured',
    'initiative_contribution', 'recognition_received', 'badge', 'challenge_reward', 'adjustment', 'reversal'));

CREATE TABLE badges (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    -- A stable handle, e.g. first_approved_initiative.
    key             text NOT NULL,
    name            text NOT NULL,
    description     text NOT NULL DEFAULT '',
    -- What earns it; see src/gamification/badges.rs for each criterion's meaning.
    criterion       text NOT NULL,
    threshold       integer NOT NULL DEFAULT 1,
    -- For criteria about one CX dimension: that dimension (NULL = any single dimension).
    dimension       text,
    -- Points granted with the badge (a ledger entry), 0 for none.
    points          integer NOT NULL DEFAULT 0,
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT badges_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT badges_key_key UNIQUE (organisation_id, key),
    CONSTRAINT badges_key_format CHECK (key ~ '^[a-z0-9_]{1,64}$'),
    CONSTRAINT badges_name_length CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    CONSTRAINT badges_criterion_check CHECK (criterion IN (
        'initiatives_approved', 'initiatives_in_one_dimension', 'initiatives_measured',
        'recognitions_received', 'recognitions_given', 'weekly_streak', 'cross_team_contributions',
        'lifetime_points', 'challenge')),
    CONSTRAINT badges_threshold_check CHECK (threshold BETWEEN 1 AND 1000000),
    CONSTRAINT badges_points_check CHECK (points BETWEEN 0 AND 100000),
    CONSTRAINT badges_dimension_check CHECK (dimension IS NULL OR dimension IN ('trust', 'problem_solving', 'time_and_effort', 'expectations', 'personalisation', 'empathy'))
);

-- A badge is awarded once per member: the primary key is what makes it so under concurrency.
CREATE TABLE member_badges (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    badge_id        uuid NOT NULL,
    member_id       uuid NOT NULL,
    awarded_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (badge_id, member_id),
    CONSTRAINT member_badges_badge_fkey FOREIGN KEY (organisation_id, badge_id) REFERENCES badges (organisation_id, id),
    CONSTRAINT member_badges_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);
CREATE INDEX member_badges_member_idx ON member_badges (organisation_id, member_id, awarded_at);

-- Levels from lifetime points: [{"name": "...", "points": N}, ...] ascending, first at 0.
CREATE TABLE level_settings (
    organisation_id uuid PRIMARY KEY REFERENCES organisations (id),
    levels          jsonb NOT NULL DEFAULT '[
        {"name": "Newcomer", "points": 0},
        {"name": "Contributor", "points": 100},
        {"name": "Advocate", "points": 500},
        {"name": "Champion", "points": 1500},
        {"name": "Legend", "points": 5000}
    ]'::jsonb,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE challenges (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    title           text NOT NULL,
    description     text NOT NULL DEFAULT '',
    -- team: counts the team's activity (team_id set); organisation: everyone's.
    scope           text NOT NULL,
    team_id         uuid,
    -- What counts: initiatives_submitted, initiatives_approved, recognitions_given,
    -- recognitions_received, points_earned.
    metric          text NOT NULL,
    dimension       text,
    channel         text,
    target          integer NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    -- Granted to every member who contributed, on completion.
    reward_points   integer NOT NULL DEFAULT 0,
    reward_badge_id uuid,
    created_by      uuid NOT NULL,
    completed_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT challenges_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT challenges_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id),
    CONSTRAINT challenges_badge_fkey FOREIGN KEY (organisation_id, reward_badge_id) REFERENCES badges (organisation_id, id),
    CONSTRAINT challenges_created_by_fkey FOREIGN KEY (organisation_id, created_by) REFERENCES members (organisation_id, id),
    CONSTRAINT challenges_scope_check CHECK ((scope = 'team' AND team_id IS NOT NULL) OR (scope = 'organisation' AND team_id IS NULL)),
    CONSTRAINT challenges_metric_check CHECK (metric IN ('initiatives_submitted', 'initiatives_approved', 'recognitions_given', 'recognitions_received', 'points_earned')),
    CONSTRAINT challenges_dimension_check CHECK (dimension IS NULL OR dimension IN ('trust', 'problem_solving', 'time_and_effort', 'expectations', 'personalisation', 'empathy')),
    CONSTRAINT challenges_channel_check CHECK (channel IS NULL OR channel IN ('phone', 'in_person', 'email', 'chat', 'social', 'app', 'web', 'mail')),
    CONSTRAINT challenges_target_check CHECK (target BETWEEN 1 AND 10000000),
    CONSTRAINT challenges_window_check CHECK (ends_at > starts_at),
    CONSTRAINT challenges_reward_check CHECK (reward_points BETWEEN 0 AND 100000),
    CONSTRAINT challenges_title_length CHECK (char_length(btrim(title)) BETWEEN 1 AND 200)
);
CREATE INDEX challenges_window_idx ON challenges (organisation_id, ends_at, starts_at);

-- The default badge set, installed with every organisation.
CREATE FUNCTION install_default_gamification(org uuid) RETURNS void LANGUAGE sql AS $$
    INSERT INTO level_settings (organisation_id) VALUES (org) ON CONFLICT DO NOTHING;
    INSERT INTO badges (organisation_id, key, name, description, criterion, threshold, points) VALUES
        (org, 'first_win', 'First win', 'Your first approved initiative', 'initiatives_approved', 1, 10),
        (org, 'ten_wins', 'Ten wins', 'Ten approved initiatives', 'initiatives_approved', 10, 50),
        (org, 'dimension_specialist', 'Specialist', 'Five approved initiatives in one CX dimension', 'initiatives_in_one_dimension', 5, 25),
        (org, 'first_measured', 'Proven impact', 'Your first initiative with a measured outcome', 'initiatives_measured', 1, 25),
        (org, 'well_recognised', 'Well recognised', 'Recognised by colleagues twenty times', 'recognitions_received', 20, 25),
        (org, 'generous', 'Generous', 'Recognised colleagues ten times', 'recognitions_given', 10, 10),
        (org, 'four_week_streak', 'On a roll', 'Active four weeks in a row', 'weekly_streak', 4, 20),
        (org, 'bridge_builder', 'Bridge builder', 'Contributed to an initiative of another team', 'cross_team_contributions', 1, 15)
    ON CONFLICT (organisation_id, key) DO NOTHING;
$$;
SELECT install_default_gamification(id) FROM organisations;

CREATE FUNCTION gamification_for_new_organisation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM install_default_gamification(NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER organisations_gamification AFTER INSERT ON organisations
    FOR EACH ROW EXECUTE FUNCTION gamification_for_new_organisation();
