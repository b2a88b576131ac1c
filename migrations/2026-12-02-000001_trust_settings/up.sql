-- Issue #12 (points people can trust): the settings the trust rules read, and the audit
-- actions they record. Behaviour lives in later migrations and in the code.

-- Submission points: at most this many points per member per day (organisation time zone)
-- from submitting wins and from marking one's own win implemented or measured (default: three
-- submissions' worth at the default of 5 points each).
ALTER TABLE point_rules ADD COLUMN submission_points_daily_cap integer NOT NULL DEFAULT 15
    CONSTRAINT point_rules_submission_points_daily_cap_check
    CHECK (submission_points_daily_cap BETWEEN 0 AND 1000000);
-- Pay submission points when a win is approved, not when it is submitted. Organisations that
-- existed before keep paying on submission (false); new organisations pay on approval.
ALTER TABLE point_rules ADD COLUMN submission_points_on_approval boolean NOT NULL DEFAULT false;
ALTER TABLE point_rules ALTER COLUMN submission_points_on_approval SET DEFAULT true;
-- The most points an admin's challenge may pay each member who completes it.
ALTER TABLE point_rules ADD COLUMN challenge_reward_cap integer NOT NULL DEFAULT 500
    CONSTRAINT point_rules_challenge_reward_cap_check
    CHECK (challenge_reward_cap BETWEEN 0 AND 100000);

-- Every HR export of the organisation is pseudonymised when this is on.
ALTER TABLE organisations ADD COLUMN pseudonymised_exports_only boolean NOT NULL DEFAULT false;

-- A group of fewer than three people cannot hide anyone.
UPDATE organisations SET min_group_size = 3 WHERE min_group_size < 3;
ALTER TABLE organisations DROP CONSTRAINT organisations_min_group_size_check;
ALTER TABLE organisations ADD CONSTRAINT organisations_min_group_size_check
    CHECK (min_group_size BETWEEN 3 AND 1000);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'export', 'erasure', 'role_change', 'member_deactivated', 'member_reactivated',
    'api_key_created', 'api_key_revoked', 'api_key_used',
    'point_reversal', 'point_adjustment', 'point_rules_changed', 'kpi_recorded', 'kpi_corrected',
    'organisation_settings_changed', 'member_created', 'invite_created', 'invite_accepted',
    'password_changed', 'api_key_reassigned',
    'challenge_created', 'challenge_changed', 'challenge_cancelled'));
