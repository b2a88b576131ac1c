-- HR: engagement exports, CX KPIs, API keys for machine clients, erasure and the audit log.

-- Aggregates over fewer members than this are suppressed in pseudonymised exports.
ALTER TABLE organisations ADD COLUMN min_group_size integer NOT NULL DEFAULT 5
    CONSTRAINT organisations_min_group_size_check CHECK (min_group_size BETWEEN 1 AND 1000);

-- Erased members keep their id (so ledger totals and aggregates stay whole) and lose
-- everything personal.
ALTER TABLE members ADD COLUMN erased_at timestamptz;

-- Machine clients (an HR system pulling exports nightly). Only a hash of the key is kept.
CREATE TABLE api_keys (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    name            text NOT NULL,
    -- The first characters of the key, to recognise it in lists.
    prefix          text NOT NULL,
    key_hash        bytea NOT NULL,
    scopes          text[] NOT NULL,
    created_by      uuid NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    CONSTRAINT api_keys_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT api_keys_created_by_fkey FOREIGN KEY (organisation_id, created_by) REFERENCES members (organisation_id, id),
    CONSTRAINT api_keys_name_length CHECK (char_length(btrim(name)) BETWEEN 1 AND 100),
    CONSTRAINT api_keys_scopes_check CHECK (scopes <@ ARRAY['exports', 'kpis']::text[] AND cardinality(scopes) >= 1)
);
CREATE UNIQUE INDEX api_keys_key_hash_key ON api_keys (key_hash);

-- CX KPIs per team and period. Rows are never changed: a correction is a new row that
-- supersedes the old one, so the history of what was reported stays.
CREATE TABLE team_kpis (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    team_id         uuid NOT NULL,
    -- csat, nps, ces, fcr, or an organisation-defined name.
    kpi             text NOT NULL,
    period_start    date NOT NULL,
    period_end      date NOT NULL,
    value           double precision NOT NULL,
    sample_size     integer,
    note            text,
    supersedes      uuid UNIQUE REFERENCES team_kpis (id),
    recorded_by     uuid,
    recorded_by_key uuid,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT team_kpis_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT team_kpis_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id),
    CONSTRAINT team_kpis_recorded_by_fkey FOREIGN KEY (organisation_id, recorded_by) REFERENCES members (organisation_id, id),
    CONSTRAINT team_kpis_recorded_by_key_fkey FOREIGN KEY (organisation_id, recorded_by_key) REFERENCES api_keys (organisation_id, id),
    CONSTRAINT team_kpis_kpi_format CHECK (kpi ~ '^[a-z][a-z0-9_]{0,39}$'),
    CONSTRAINT team_kpis_period_check CHECK (period_end > period_start),
    CONSTRAINT team_kpis_sample_check CHECK (sample_size IS NULL OR sample_size >= 0),
    CONSTRAINT team_kpis_value_finite CHECK (value <> 'NaN'::float8 AND value <> 'Infinity'::float8 AND value <> '-Infinity'::float8),
    CONSTRAINT team_kpis_recorder_check CHECK (recorded_by IS NOT NULL OR recorded_by_key IS NOT NULL)
);
CREATE INDEX team_kpis_team_idx ON team_kpis (organisation_id, team_id, kpi, period_start);
CREATE TRIGGER team_kpis_append_only BEFORE UPDATE OR DELETE ON team_kpis
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- The audit log of sensitive actions. Append-only.
CREATE TABLE audit_log (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT clock_timestamp(),
    action          text NOT NULL,
    -- Who: a member, or an API key (machine client).
    actor_member_id uuid,
    actor_api_key_id uuid,
    subject_type    text,
    subject_id      uuid,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    request_id      text,
    CONSTRAINT audit_log_action_check CHECK (action IN (
        'export', 'erasure', 'role_change', 'member_deactivated', 'member_reactivated',
        'api_key_created', 'api_key_revoked', 'api_key_used',
        'point_reversal', 'point_adjustment', 'point_rules_changed', 'kpi_recorded', 'kpi_corrected'))
);
CREATE INDEX audit_log_listing_idx ON audit_log (organisation_id, at DESC, id DESC);
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change();

-- Erasure replaces free text a member wrote, including timeline notes, which are otherwise
-- append-only: the erasure transaction sets frontline.erasure = 'on' to be let through.
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME = 'initiative_events'
       AND current_setting('frontline.erasure', true) = 'on' THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'raise_exception';
END $$;
