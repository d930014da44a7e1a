-- The trailing stop of an executed signal (issue 11): placed, failed(<reason>) or off.
ALTER TABLE signal_outcomes ADD COLUMN trailing TEXT NOT NULL DEFAULT '';
