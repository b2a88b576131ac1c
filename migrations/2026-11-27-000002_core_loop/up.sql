-- The core loop: initiatives ("wins"), recognition, and the points ledger.

-- Point rules and giving budgets: one row per organisation, created with it.
CREATE TABLE point_rules (
    organisation_id              uuid PRIMARY KEY REFERENCES organisations (id),
    initiative_submitted         integer NOT NULL DEFAULT 5,
    initiative_approved          integer NOT NULL DEFAULT 10,
    initiative_implemented       integer NOT NULL DEFAULT 20,
    initiative_measured          integer NOT NULL DEFAULT 30,
    -- Each contributor's credit at every stage after submission (approved, implemented, measured).
    contributor                  integer NOT NULL DEFAULT 5,
    -- Peer recognition: what each member may give per calendar month (organisation time zone).
    peer_monthly_allowance       integer NOT NULL DEFAULT 100,
    -- Peer recognition: the most one giver may give one recipient per day.
    peer_daily_cap_per_recipient integer NOT NULL DEFAULT 50,
    -- Team leads' monthly recognition budget, unless set per lead in lead_budgets.
    lead_monthly_budget          integer NOT NULL DEFAULT 500,
    -- The most points one recognition may carry per recipient.
    max_points_per_recognition   integer NOT NULL DEFAULT 100,
    updated_at                   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT point_rules_non_negative CHECK (
        initiative_submitted BETWEEN 0 AND 10000 AND initiative_approved BETWEEN 0 AND 10000
        AND initiative_implemented BETWEEN 0 AND 10000 AND initiative_measured BETWEEN 0 AND 10000
        AND contributor BETWEEN 0 AND 10000 AND peer_monthly_allowance BETWEEN 0 AND 1000000
        AND peer_daily_cap_per_recipient BETWEEN 0 AND 1000000 AND lead_monthly_budget BETWEEN 0 AND 10000000
        AND max_points_per_recognition BETWEEN 1 AND 1000000)
);
INSERT INTO point_rules (organisation_id) SELECT id FROM organisations;

CREATE FUNCTION point_rules_for_new_organisation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO point_rules (organisation_id) VALUES (NEW.id);
    RETURN NEW;
END $$;
CREATE TRIGGER organisations_point_rules AFTER INSERT ON organisations
    FOR EACH ROW EXECUTE FUNCTION point_rules_for_new_organisation();

-- A team lead's own monthly budget, set by an admin; overrides point_rules.lead_monthly_budget.
CREATE TABLE lead_budgets (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    member_id       uuid NOT NULL,
    monthly_points  integer NOT NULL CHECK (monthly_points BETWEEN 0 AND 10000000),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    updated_by      uuid,
    PRIMARY KEY (organisation_id, member_id),
    CONSTRAINT lead_budgets_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT lead_budgets_updated_by_fkey FOREIGN KEY (organisation_id, updated_by) REFERENCES members (organisation_id, id)
);

CREATE TABLE initiatives (
    organisation_id     uuid NOT NULL REFERENCES organisations (id),
    id                  uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    author_id           uuid NOT NULL,
    -- The author's team when they submitted it: whose lead approves it, whose list it is on.
    team_id             uuid,
    title               text NOT NULL,
    description         text NOT NULL,
    dimension           text NOT NULL,
    channel             text NOT NULL,
    journey_stage       text NOT NULL,
    customer_value      smallint NOT NULL,
    organisation_value  smallint NOT NULL,
    ease                smallint NOT NULL,
    -- The sources' prioritisation: value (customer and organisation) times ease, 4..100.
    priority            smallint GENERATED ALWAYS AS ((customer_value + organisation_value) * ease * 2) STORED,
    customer_reference  text,
    status              text NOT NULL DEFAULT 'submitted',
    outcome_kpi         text,
    outcome_unit        text,
    outcome_baseline    double precision,
    outcome_result      double precision,
    outcome_measured_at timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT initiatives_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT initiatives_author_fkey FOREIGN KEY (organisation_id, author_id) REFERENCES members (organisation_id, id),
    CONSTRAINT initiatives_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id),
    CONSTRAINT initiatives_dimension_check CHECK (dimension IN ('trust', 'problem_solving', 'time_and_effort', 'expectations', 'personalisation', 'empathy')),
    CONSTRAINT initiatives_channel_check CHECK (channel IN ('phone', 'in_person', 'email', 'chat', 'social', 'app', 'web', 'mail')),
    CONSTRAINT initiatives_journey_stage_check CHECK (journey_stage IN ('before', 'during', 'after')),
    CONSTRAINT initiatives_ratings_check CHECK (customer_value BETWEEN 1 AND 5 AND organisation_value BETWEEN 1 AND 5 AND ease BETWEEN 1 AND 5),
    CONSTRAINT initiatives_status_check CHECK (status IN ('submitted', 'approved', 'declined', 'implemented', 'measured')),
    CONSTRAINT initiatives_outcome_check CHECK (status <> 'measured' OR (outcome_kpi IS NOT NULL AND outcome_result IS NOT NULL AND outcome_measured_at IS NOT NULL)),
    CONSTRAINT initiatives_title_length CHECK (char_length(btrim(title)) BETWEEN 1 AND 200),
    CONSTRAINT initiatives_description_length CHECK (char_length(description) <= 10000)
);
CREATE INDEX initiatives_org_created_idx ON initiatives (organisation_id, created_at DESC, id DESC);
CREATE INDEX initiatives_org_priority_idx ON initiatives (organisation_id, priority DESC, created_at DESC, id DESC);
CREATE INDEX initiatives_author_idx ON initiatives (organisation_id, author_id, created_at DESC);
CREATE INDEX initiatives_team_idx ON initiatives (organisation_id, team_id, created_at DESC);

CREATE TABLE initiative_contributors (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    initiative_id   uuid NOT NULL,
    member_id       uuid NOT NULL,
    PRIMARY KEY (initiative_id, member_id),
    CONSTRAINT initiative_contributors_initiative_fkey FOREIGN KEY (organisation_id, initiative_id) REFERENCES initiatives (organisation_id, id),
    CONSTRAINT initiative_contributors_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);
CREATE INDEX initiative_contributors_member_idx ON initiative_contributors (organisation_id, member_id);

-- The timeline: every change to an initiative, in order. Append-only.
CREATE TABLE initiative_events (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    initiative_id   uuid NOT NULL,
    actor_id        uuid NOT NULL,
    kind            text NOT NULL,
    from_status     text,
    to_status       text,
    note            text,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT initiative_events_initiative_fkey FOREIGN KEY (organisation_id, initiative_id) REFERENCES initiatives (organisation_id, id),
    CONSTRAINT initiative_events_actor_fkey FOREIGN KEY (organisation_id, actor_id) REFERENCES members (organisation_id, id),
    CONSTRAINT initiative_events_kind_check CHECK (kind IN ('submitted', 'edited', 'approved', 'declined', 'implemented', 'measured'))
);
CREATE INDEX initiative_events_initiative_idx ON initiative_events (initiative_id, created_at, id);

CREATE TABLE initiative_comments (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    initiative_id   uuid NOT NULL,
    author_id       uuid NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT initiative_comments_initiative_fkey FOREIGN KEY (organisation_id, initiative_id) REFERENCES initiatives (organisation_id, id),
    CONSTRAINT initiative_comments_author_fkey FOREIGN KEY (organisation_id, author_id) REFERENCES members (organisation_id, id),
    CONSTRAINT initiative_comments_body_length CHECK (char_length(btrim(body)) BETWEEN 1 AND 5000)
);
CREATE INDEX initiative_comments_initiative_idx ON initiative_comments (initiative_id, created_at, id);

CREATE TABLE recognitions (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    giver_id        uuid NOT NULL,
    -- peer: from the giver's monthly allowance; lead: from a team lead's budget; admin: unbudgeted.
    kind            text NOT NULL,
    message         text NOT NULL,
    points_each     integer NOT NULL,
    dimension       text,
    initiative_id   uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT recognitions_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT recognitions_giver_fkey FOREIGN KEY (organisation_id, giver_id) REFERENCES members (organisation_id, id),
    CONSTRAINT recognitions_initiative_fkey FOREIGN KEY (organisation_id, initiative_id) REFERENCES initiatives (organisation_id, id),
    CONSTRAINT recognitions_kind_check CHECK (kind IN ('peer', 'lead', 'admin')),
    CONSTRAINT recognitions_points_check CHECK (points_each > 0),
    CONSTRAINT recognitions_dimension_check CHECK (dimension IS NULL OR dimension IN ('trust', 'problem_solving', 'time_and_effort', 'expectations', 'personalisation', 'empathy')),
    CONSTRAINT recognitions_message_length CHECK (char_length(btrim(message)) BETWEEN 1 AND 2000)
);
CREATE INDEX recognitions_feed_idx ON recognitions (organisation_id, created_at DESC, id DESC);
CREATE INDEX recognitions_giver_idx ON recognitions (organisation_id, giver_id, created_at);

CREATE TABLE recognition_recipients (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    recognition_id  uuid NOT NULL,
    member_id       uuid NOT NULL,
    -- The recipient's team at the time, for team feeds that stay true after moves.
    team_id         uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (recognition_id, member_id),
    CONSTRAINT recognition_recipients_recognition_fkey FOREIGN KEY (organisation_id, recognition_id) REFERENCES recognitions (organisation_id, id),
    CONSTRAINT recognition_recipients_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT recognition_recipients_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id)
);
CREATE INDEX recognition_recipients_member_idx ON recognition_recipients (organisation_id, member_id, created_at);
CREATE INDEX recognition_recipients_team_idx ON recognition_recipients (organisation_id, team_id, created_at DESC);

CREATE TABLE recognition_reactions (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    recognition_id  uuid NOT NULL,
    member_id       uuid NOT NULL,
    kind            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (recognition_id, member_id, kind),
    CONSTRAINT recognition_reactions_recognition_fkey FOREIGN KEY (organisation_id, recognition_id) REFERENCES recognitions (organisation_id, id),
    CONSTRAINT recognition_reactions_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT recognition_reactions_kind_check CHECK (kind IN ('applause', 'heart', 'celebrate', 'insightful', 'star'))
);

-- What a giver has spent of an allowance or budget in one period (a calendar month in the
-- organisation's time zone). The CHECK is the last line of defence: whatever races, spent never
-- exceeds granted. Every spend is also a row in recognitions, so the two can be reconciled.
CREATE TABLE giving_balances (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    member_id       uuid NOT NULL,
    kind            text NOT NULL,
    period_start    date NOT NULL,
    granted         integer NOT NULL,
    spent           integer NOT NULL DEFAULT 0,
    PRIMARY KEY (organisation_id, member_id, kind, period_start),
    CONSTRAINT giving_balances_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT giving_balances_kind_check CHECK (kind IN ('peer', 'lead')),
    CONSTRAINT giving_balances_within_grant CHECK (spent >= 0 AND spent <= granted)
);

-- The points ledger. Immutable: corrections are new, reversing entries.
CREATE TABLE ledger_entries (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    member_id       uuid NOT NULL,
    -- The member's team when the entry was made: team totals stay true after moves.
    team_id         uuid,
    points          integer NOT NULL,
    reason          text NOT NULL,
    source_type     text,
    source_id       uuid,
    dimension       text,
    note            text,
    created_by      uuid,
    -- For reversals: the entry this one cancels. Unique, so nothing is reversed twice.
    reverses        uuid UNIQUE REFERENCES ledger_entries (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_entries_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT ledger_entries_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT ledger_entries_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id),
    CONSTRAINT ledger_entries_created_by_fkey FOREIGN KEY (organisation_id, created_by) REFERENCES members (organisation_id, id),
    CONSTRAINT ledger_entries_points_check CHECK (points <> 0),
    CONSTRAINT ledger_entries_reason_check CHECK (reason IN (
        'initiative_submitted', 'initiative_approved', 'initiative_implemented', 'initiative_measured',
        'initiative_contribution', 'recognition_received', 'badge', 'adjustment', 'reversal')),
    CONSTRAINT ledger_entries_dimension_check CHECK (dimension IS NULL OR dimension IN ('trust', 'problem_solving', 'time_and_effort', 'expectations', 'personalisation', 'empathy')),
    CONSTRAINT ledger_entries_reversal_check CHECK ((reason = 'reversal') = (reverses IS NOT NULL)),
    CONSTRAINT ledger_entries_adjustment_note CHECK (reason NOT IN ('adjustment', 'reversal') OR (note IS NOT NULL AND created_by IS NOT NULL))
);
CREATE INDEX ledger_entries_member_idx ON ledger_entries (organisation_id, member_id, created_at DESC, id DESC);
CREATE INDEX ledger_entries_source_idx ON ledger_entries (organisation_id, source_type, source_id);

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'raise_exception';
END $$;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();
CREATE TRIGGER initiative_events_append_only BEFORE UPDATE OR DELETE ON initiative_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Idempotency-Key: the first response to a key is stored and replayed to retries.
CREATE TABLE idempotency_keys (
    organisation_id  uuid NOT NULL REFERENCES organisations (id),
    member_id        uuid NOT NULL,
    key              text NOT NULL,
    request_hash     bytea NOT NULL,
    response_status  smallint NOT NULL,
    response_body    jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organisation_id, member_id, key),
    CONSTRAINT idempotency_keys_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id)
);
