-- Issue #12, item 12: erasure blanks what the member wrote, including notes on rows that are
-- otherwise append-only: ledger entries they created (adjustments, reversals), KPI values they
-- recorded, and timeline events they acted in. The erasure transaction sets
-- frontline.erasure = 'on'; even then only the `note` column may change, so the erasure can
-- never alter a point, a KPI value or a status.
CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND TG_TABLE_NAME IN ('initiative_events', 'ledger_entries', 'team_kpis')
       AND current_setting('frontline.erasure', true) = 'on'
       AND (to_jsonb(NEW) - 'note') = (to_jsonb(OLD) - 'note') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'raise_exception';
END $$;

-- Erasure finds the ledger entries and KPI values a member created by these columns.
CREATE INDEX ledger_entries_created_by_idx ON ledger_entries (organisation_id, created_by)
    WHERE created_by IS NOT NULL;
CREATE INDEX team_kpis_recorded_by_idx ON team_kpis (organisation_id, recorded_by)
    WHERE recorded_by IS NOT NULL;
