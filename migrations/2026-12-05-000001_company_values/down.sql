ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'export', 'erasure', 'role_change', 'member_deactivated', 'member_reactivated',
    'api_key_created', 'api_key_revoked', 'api_key_used',
    'point_reversal', 'point_adjustment', 'point_rules_changed', 'kpi_recorded', 'kpi_corrected',
    'organisation_settings_changed', 'member_created', 'invite_created', 'invite_accepted',
    'password_changed', 'api_key_reassigned',
    'challenge_created', 'challenge_changed', 'challenge_cancelled'));
ALTER TABLE point_rules DROP COLUMN peer_monthly_cap_per_recipient;
ALTER TABLE point_rules DROP COLUMN min_message_length;
ALTER TABLE point_rules DROP COLUMN values_required;
DROP TABLE recognition_hashtags;
DROP TABLE recognition_values;
DROP TABLE company_values;
