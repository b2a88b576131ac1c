-- Issue #17, employee numbers: frontline staff without a corporate mailbox sign in with the
-- number their employer gave them. Unique per organisation, compared without regard to case
-- (`e-1042` is `E-1042`), kept as the admin wrote it.
ALTER TABLE members ADD COLUMN employee_number text;
ALTER TABLE members ADD CONSTRAINT members_employee_number_shape
    CHECK (employee_number IS NULL OR char_length(employee_number) BETWEEN 1 AND 64);
CREATE UNIQUE INDEX members_employee_number_key ON members (organisation_id, upper(employee_number))
    WHERE employee_number IS NOT NULL;
