-- Organisation-wide reads by time (analytics, challenge progress, exports) scan these tables
-- by (organisation, time); without these indexes they read every row of the organisation.
CREATE INDEX ledger_entries_org_created_idx ON ledger_entries (organisation_id, created_at);
CREATE INDEX recognition_recipients_org_created_idx ON recognition_recipients (organisation_id, created_at);
CREATE INDEX initiative_events_org_kind_created_idx ON initiative_events (organisation_id, kind, created_at);
