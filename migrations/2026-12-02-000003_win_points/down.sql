ALTER TABLE recognitions DROP COLUMN giving_period_start;
DROP TABLE submission_points_daily;
