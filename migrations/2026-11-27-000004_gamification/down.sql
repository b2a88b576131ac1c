DROP TRIGGER organisations_gamification ON organisations;
DROP FUNCTION gamification_for_new_organisation();
DROP FUNCTION install_default_gamification(uuid);
DROP TABLE challenges;
DROP TABLE level_settings;
DROP TABLE member_badges;
DROP TABLE badges;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check CHECK (reason IN (
    'initiative_submitted', 'initiative_approved', 'initiative_implemented', 'initiative_measured',
    'initiative_contribution', 'recognition_received', 'badge', 'adjustment', 'reversal'));
