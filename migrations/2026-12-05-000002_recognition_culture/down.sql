ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'export', 'erasure', 'role_change', 'member_deactivated', 'member_reactivated',
    'api_key_created', 'api_key_revoked', 'api_key_used',
    'point_reversal', 'point_adjustment', 'point_rules_changed', 'kpi_recorded', 'kpi_corrected',
    'organisation_settings_changed', 'member_created', 'invite_created', 'invite_accepted',
    'password_changed', 'api_key_reassigned',
    'challenge_created', 'challenge_changed', 'challenge_cancelled',
    'value_created', 'value_changed'));
ALTER TABLE point_rules DROP COLUMN undo_window_hours;
ALTER TABLE organisations DROP COLUMN rank_members_by;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check CHECK (reason IN (
    'initiative_submitted', 'initiative_approved', 'initiative_implemented', 'initiative_measured',
    'initiative_contribution', 'recognition_received', 'badge', 'challenge_reward', 'adjustment', 'reversal'));
DROP TABLE moderation_reports;
DROP TABLE recognition_boosts;
DROP TABLE recognition_comments;
DROP TABLE recognition_teams;
ALTER TABLE recognitions DROP CONSTRAINT recognitions_hidden_by_fkey;
ALTER TABLE recognitions DROP CONSTRAINT recognitions_undone_by_fkey;
ALTER TABLE recognitions DROP COLUMN hidden_by;
ALTER TABLE recognitions DROP COLUMN hidden_at;
ALTER TABLE recognitions DROP COLUMN undone_by;
ALTER TABLE recognitions DROP COLUMN undone_at;
ALTER TABLE recognitions DROP COLUMN visibility;
