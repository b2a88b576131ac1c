ALTER TABLE recognition_recipients ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE recognitions ALTER COLUMN created_at SET DEFAULT now();
ALTER TABLE ledger_entries ALTER COLUMN created_at SET DEFAULT now();
DROP FUNCTION frontline_now();
