ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'export', 'erasure', 'role_change', 'member_deactivated', 'member_reactivated',
    'api_key_created', 'api_key_revoked', 'api_key_used',
    'point_reversal', 'point_adjustment', 'point_rules_changed', 'kpi_recorded', 'kpi_corrected'));
ALTER TABLE organisations DROP CONSTRAINT organisations_min_group_size_check;
ALTER TABLE organisations ADD CONSTRAINT organisations_min_group_size_check
    CHECK (min_group_size BETWEEN 1 AND 1000);
ALTER TABLE organisations DROP COLUMN pseudonymised_exports_only;
ALTER TABLE point_rules DROP COLUMN challenge_reward_cap;
ALTER TABLE point_rules DROP COLUMN submission_points_on_approval;
ALTER TABLE point_rules DROP COLUMN submission_points_daily_cap;
