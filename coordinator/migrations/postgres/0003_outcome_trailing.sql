-- The trailing stop of an executed signal (issue 11): placed, failed(<reason>) or off.
-- (`trailing` alone is a reserved word in PostgreSQL.)
ALTER TABLE signal_outcomes ADD COLUMN trailing_stop TEXT NOT NULL DEFAULT '';
