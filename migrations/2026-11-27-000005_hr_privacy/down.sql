CREATE OR REPLACE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'raise_exception';
END $$;
DROP TABLE audit_log;
DROP TABLE team_kpis;
DROP TABLE api_keys;
ALTER TABLE members DROP COLUMN erased_at;
ALTER TABLE organisations DROP COLUMN min_group_size;
