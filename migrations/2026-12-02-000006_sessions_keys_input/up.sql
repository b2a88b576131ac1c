-- Issue #12 items 10 and 14: API keys that expire, belong to an active member and are audited
-- at most once a minute; the last two tenant references that ignored organisation_id.

-- Keys expire (one year unless the admin chooses otherwise). Keys that exist get a year from
-- their creation, and at least 30 days from now so that no client breaks without warning.
ALTER TABLE api_keys ADD COLUMN expires_at timestamptz;
UPDATE api_keys SET expires_at = GREATEST(created_at + interval '1 year', now() + interval '30 days');
ALTER TABLE api_keys ALTER COLUMN expires_at SET NOT NULL;
ALTER TABLE api_keys ALTER COLUMN expires_at SET DEFAULT now() + interval '1 year';

-- The member a key acts for: its creator, until an admin re-assigns it. A key stops working
-- while its owner is deactivated or erased.
ALTER TABLE api_keys ADD COLUMN owner_id uuid;
UPDATE api_keys SET owner_id = created_by;
ALTER TABLE api_keys ALTER COLUMN owner_id SET NOT NULL;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_owner_fkey
    FOREIGN KEY (organisation_id, owner_id) REFERENCES members (organisation_id, id);

-- When the key's use was last written to the audit log: a conditional UPDATE on it lets one
-- request per minute, across every server process, write the `api_key_used` entry.
ALTER TABLE api_keys ADD COLUMN last_audited_at timestamptz;

-- A reversal reverses an entry of its own organisation; a KPI correction supersedes a KPI of
-- its own organisation.
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_reverses_fkey;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_reverses_fkey
    FOREIGN KEY (organisation_id, reverses) REFERENCES ledger_entries (organisation_id, id);
ALTER TABLE team_kpis DROP CONSTRAINT team_kpis_supersedes_fkey;
ALTER TABLE team_kpis ADD CONSTRAINT team_kpis_supersedes_fkey
    FOREIGN KEY (organisation_id, supersedes) REFERENCES team_kpis (organisation_id, id);
