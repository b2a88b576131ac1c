DROP INDEX members_employee_number_key;
ALTER TABLE members DROP COLUMN employee_number;
