-- Issue #15, recognition people use every day: who may see a recognition, whole teams
-- recognised at once, comments, boosts, undo and moderation.

-- Times default to frontline_now(), the clock the calendar rules go by (see the clock migration).

-- public: the organisation's feed; team: the recipients' teams (their leads included);
-- private: the giver, the recipients, their teams' leads and HR. Admins see every one.
ALTER TABLE recognitions ADD COLUMN visibility text NOT NULL DEFAULT 'public'
    CONSTRAINT recognitions_visibility_check CHECK (visibility IN ('public', 'team', 'private'));
-- Taken back by its giver (undo) or hidden by an admin (moderation): kept, its points reversed.
ALTER TABLE recognitions ADD COLUMN undone_at timestamptz;
ALTER TABLE recognitions ADD COLUMN undone_by uuid;
ALTER TABLE recognitions ADD COLUMN hidden_at timestamptz;
ALTER TABLE recognitions ADD COLUMN hidden_by uuid;
ALTER TABLE recognitions ADD CONSTRAINT recognitions_undone_by_fkey
    FOREIGN KEY (organisation_id, undone_by) REFERENCES members (organisation_id, id);
ALTER TABLE recognitions ADD CONSTRAINT recognitions_hidden_by_fkey
    FOREIGN KEY (organisation_id, hidden_by) REFERENCES members (organisation_id, id);

-- The teams a recognition named as a whole (`team_ids`); their members are its recipients.
CREATE TABLE recognition_teams (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    recognition_id  uuid NOT NULL,
    team_id         uuid NOT NULL,
    PRIMARY KEY (recognition_id, team_id),
    CONSTRAINT recognition_teams_recognition_fkey FOREIGN KEY (organisation_id, recognition_id) REFERENCES recognitions (organisation_id, id),
    CONSTRAINT recognition_teams_team_fkey FOREIGN KEY (organisation_id, team_id) REFERENCES teams (organisation_id, id)
);

CREATE TABLE recognition_comments (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    recognition_id  uuid NOT NULL,
    author_id       uuid NOT NULL,
    body            text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT frontline_now(),
    edited_at       timestamptz,
    -- Deleted by its author or an admin, or hidden by moderation: the row stays for the audit.
    deleted_at      timestamptz,
    deleted_by      uuid,
    hidden_at       timestamptz,
    CONSTRAINT recognition_comments_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT recognition_comments_recognition_fkey FOREIGN KEY (organisation_id, recognition_id) REFERENCES recognitions (organisation_id, id),
    CONSTRAINT recognition_comments_author_fkey FOREIGN KEY (organisation_id, author_id) REFERENCES members (organisation_id, id),
    CONSTRAINT recognition_comments_deleted_by_fkey FOREIGN KEY (organisation_id, deleted_by) REFERENCES members (organisation_id, id),
    CONSTRAINT recognition_comments_body_length CHECK (char_length(btrim(body)) BETWEEN 1 AND 2000)
);
CREATE INDEX recognition_comments_recognition_idx ON recognition_comments (recognition_id, created_at, id);

-- A member's add-on to someone else's recognition, paid from their own pot like a recognition:
-- `points` to each recipient. Once per member and recognition.
CREATE TABLE recognition_boosts (
    organisation_id     uuid NOT NULL REFERENCES organisations (id),
    recognition_id      uuid NOT NULL,
    booster_id          uuid NOT NULL,
    kind                text NOT NULL,
    points              integer NOT NULL,
    -- The giving period it was paid from, for an undo to give the points back to.
    giving_period_start date,
    created_at          timestamptz NOT NULL DEFAULT frontline_now(),
    PRIMARY KEY (recognition_id, booster_id),
    CONSTRAINT recognition_boosts_recognition_fkey FOREIGN KEY (organisation_id, recognition_id) REFERENCES recognitions (organisation_id, id),
    CONSTRAINT recognition_boosts_booster_fkey FOREIGN KEY (organisation_id, booster_id) REFERENCES members (organisation_id, id),
    CONSTRAINT recognition_boosts_kind_check CHECK (kind IN ('peer', 'lead', 'admin')),
    CONSTRAINT recognition_boosts_points_check CHECK (points > 0)
);
CREATE INDEX recognition_boosts_booster_idx ON recognition_boosts (organisation_id, booster_id, created_at);

-- Reports of a recognition or one of its comments, and what an admin made of them.
CREATE TABLE moderation_reports (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    recognition_id  uuid NOT NULL,
    -- Set when the report is about a comment of the recognition.
    comment_id      uuid,
    reporter_id     uuid NOT NULL,
    reason          text NOT NULL,
    status          text NOT NULL DEFAULT 'open',
    created_at      timestamptz NOT NULL DEFAULT frontline_now(),
    resolved_at     timestamptz,
    resolved_by     uuid,
    resolution_note text,
    CONSTRAINT moderation_reports_organisation_id_id_key UNIQUE (organisation_id, id),
    CONSTRAINT moderation_reports_recognition_fkey FOREIGN KEY (organisation_id, recognition_id) REFERENCES recognitions (organisation_id, id),
    CONSTRAINT moderation_reports_comment_fkey FOREIGN KEY (organisation_id, comment_id) REFERENCES recognition_comments (organisation_id, id),
    CONSTRAINT moderation_reports_reporter_fkey FOREIGN KEY (organisation_id, reporter_id) REFERENCES members (organisation_id, id),
    CONSTRAINT moderation_reports_resolved_by_fkey FOREIGN KEY (organisation_id, resolved_by) REFERENCES members (organisation_id, id),
    CONSTRAINT moderation_reports_status_check CHECK (status IN ('open', 'hidden', 'dismissed')),
    CONSTRAINT moderation_reports_reason_length CHECK (char_length(btrim(reason)) BETWEEN 1 AND 1000),
    CONSTRAINT moderation_reports_note_length CHECK (char_length(resolution_note) <= 1000)
);
-- One open report per member and thing reported.
CREATE UNIQUE INDEX moderation_reports_open_key ON moderation_reports
    (recognition_id, COALESCE(comment_id, '00000000-0000-0000-0000-000000000000'::uuid), reporter_id)
    WHERE status = 'open';
CREATE INDEX moderation_reports_queue_idx ON moderation_reports (organisation_id, status, created_at, id);

-- A boost pays each recipient an entry of its own kind (its booster in created_by).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reason_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reason_check CHECK (reason IN (
    'initiative_submitted', 'initiative_approved', 'initiative_implemented', 'initiative_measured',
    'initiative_contribution', 'recognition_received', 'recognition_boost', 'badge',
    'challenge_reward', 'adjustment', 'reversal'));

-- What ranks the members board by default: points, or distinct givers (anti-gaming).
ALTER TABLE organisations ADD COLUMN rank_members_by text NOT NULL DEFAULT 'points'
    CONSTRAINT organisations_rank_members_by_check CHECK (rank_members_by IN ('points', 'distinct_givers'));

-- How long a giver may take a recognition back.
ALTER TABLE point_rules ADD COLUMN undo_window_hours integer NOT NULL DEFAULT 24
    CONSTRAINT point_rules_undo_window_hours_check CHECK (undo_window_hours BETWEEN 0 AND 720);

ALTER TABLE audit_log DROP CONSTRAINT audit_log_action_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_action_check CHECK (action IN (
    'export', 'erasure', 'role_change', 'member_deactivated', 'member_reactivated',
    'api_key_created', 'api_key_revoked', 'api_key_used',
    'point_reversal', 'point_adjustment', 'point_rules_changed', 'kpi_recorded', 'kpi_corrected',
    'organisation_settings_changed', 'member_created', 'invite_created', 'invite_accepted',
    'password_changed', 'api_key_reassigned',
    'challenge_created', 'challenge_changed', 'challenge_cancelled',
    'value_created', 'value_changed',
    'recognition_undone', 'recognition_hidden', 'comment_hidden', 'comment_deleted',
    'report_dismissed'));
