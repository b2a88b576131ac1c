-- Issue #12 (points people can trust), items 3 and 4.

-- What each member has been paid today (a day in the organisation's time zone) from points
-- that are capped by point_rules.submission_points_daily_cap: submitting wins, and the points
-- of a status change the author (or a contributor) made themselves. One row per member and
-- day; paying takes its lock, so a member's concurrent submissions serialise on it and cannot
-- pay more than the cap between them. It counts what was paid: a later decline or reversal
-- does not give room back, so submitting and withdrawing cannot farm the cap.
CREATE TABLE submission_points_daily (
    organisation_id uuid NOT NULL REFERENCES organisations (id),
    member_id       uuid NOT NULL,
    day             date NOT NULL,
    paid            integer NOT NULL DEFAULT 0,
    PRIMARY KEY (organisation_id, member_id, day),
    CONSTRAINT submission_points_daily_member_fkey FOREIGN KEY (organisation_id, member_id) REFERENCES members (organisation_id, id),
    CONSTRAINT submission_points_daily_paid_check CHECK (paid >= 0)
);

-- The giving period (first day of the month, organisation time zone) whose allowance or budget
-- paid for a recognition: reversing one of its entries gives the points back to exactly that
-- period, even if the organisation's time zone changed since. NULL for admins (unbudgeted), and
-- for rows written by other means (imports, SQL): a reversal then takes the month of created_at.
ALTER TABLE recognitions ADD COLUMN giving_period_start date;
UPDATE recognitions r
   SET giving_period_start = date_trunc('month', r.created_at AT TIME ZONE o.time_zone)::date
  FROM organisations o
 WHERE o.id = r.organisation_id AND r.kind <> 'admin';
