-- Issue #15, company values and hashtags: what a recognition stands for, so that recognition
-- carries the organisation's culture and can be counted per value.

CREATE TABLE company_values (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    name            text NOT NULL,
    -- Stored without its '#' (letters, digits and '_', checked by the API); matched
    -- case-insensitively.
    hashtag         text NOT NULL,
    description     text NOT NULL DEFAULT '',
    active          boolean NOT NULL DEFAULT true,
    position        integer NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT company_values_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT company_values_name_length CHECK (char_length(btrim(name)) BETWEEN 1 AND 80),
    CONSTRAINT company_values_hashtag_shape CHECK (char_length(hashtag) BETWEEN 1 AND 50 AND hashtag !~ '[[:space:]#]'),
    CONSTRAINT company_values_description_length CHECK (char_length(description) <= 1000),
    CONSTRAINT company_values_position_range CHECK (position BETWEEN 0 AND 1000)
);
CREATE UNIQUE INDEX company_values_hashtag_key ON company_values (organisation_id, lower(hashtag));

-- The values a recognition carries (chosen, or named by their hashtag in its message).
CREATE TABLE recognition_values (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    recognition_id  uuid NOT NULL,
    value_id        uuid NOT NULL,
    -- The recognition's time, so that counts per value over a period read this table alone.
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (recognition_id, value_id),
    CONSTRAINT recognition_values_recognition_fkey FOREIGN KEY (organisation_id, recognition_id) REFERENCES recognitions (organisation_id, id),
    CONSTRAINT recognition_values_value_fkey FOREIGN KEY (organisation_id, value_id) REFERENCES company_values (organisation_id, id)
);
CREATE INDEX recognition_values_value_idx ON recognition_values (organisation_id, value_id, created_at DESC);

-- Free hashtags parsed from a recognition's message (lower case, without '#'; the API parses).
CREATE TABLE recognition_hashtags (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    recognition_id  uuid NOT NULL,
    tag             text NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (recognition_id, tag),
    CONSTRAINT recognition_hashtags_recognition_fkey FOREIGN KEY (organisation_id, recognition_id) REFERENCES recognitions (organisation_id, id),
    CONSTRAINT recognition_hashtags_tag_shape CHECK (char_length(tag) BETWEEN 1 AND 50 AND tag !~ '[[:space:]#]')
);
CREATE INDEX recognition_hashtags_tag_idx ON recognition_hashtags (organisation_id, tag, created_at DESC);

-- Recognition rules an organisation sets beside its point rules.
-- Every recognition must carry at least one value.
ALTER TABLE point_rules ADD COLUMN values_required boolean NOT NULL DEFAULT false;
-- A recognition's message must be at least this long (characters, after trimming).
ALTER TABLE point_rules ADD COLUMN min_message_length integer NOT NULL DEFAULT 1
    CONSTRAINT point_rules_min_message_length_check CHECK (min_message_length BETWEEN 1 AND 500);
-- The most one peer may give one colleague per calendar month (organisation time zone), on top
-- of the daily cap; by default the whole default allowance.
ALTER TABLE point_rules ADD COLUMN peer_monthly_cap_per_recipient integer NOT NULL DEFAULT 100
    CONSTRAINT point_rules_peer_monthly_cap_per_recipient_check
    CHECK (peer_monthly_cap_per_recipient BETWEEN 0 AND 1000000);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'export', 'erasure', 'role_change', 'member_deactivated', 'member_reactivated',
    'api_key_created', 'api_key_revoked', 'api_key_used',
    'point_reversal', 'point_adjustment', 'point_rules_changed', 'kpi_recorded', 'kpi_corrected',
    'organisation_settings_changed', 'member_created', 'invite_created', 'invite_accepted',
    'password_changed', 'api_key_reassigned',
    'challenge_created', 'challenge_changed', 'challenge_cancelled',
    'value_created', 'value_changed'));
