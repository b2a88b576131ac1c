-- Team exports and team analytics read a batch of teams' points over a time range. With only
-- (organisation, created_at) that is every entry of the organisation in the range, once per
-- batch of teams: at a million members, ten full passes for a 12-month export.
CREATE INDEX ledger_entries_team_created_idx ON ledger_entries (organisation_id, team_id, created_at);
