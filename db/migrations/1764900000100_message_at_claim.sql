-- Up Migration

-- No user text in Temporal (design invariant 12, issue 21). The user's message is stored with the turn row when the
-- caller claims the turn, in the same statement; workflows, updates and signals carry the turn's id only. The turn's
-- first activity (or, for a steered message, the turn it joins) copies it into `messages` where the conversation
-- reads it, and clears it here, so the text is kept once.
ALTER TABLE turns ADD COLUMN message text;

-- Down Migration
ALTER TABLE turns DROP COLUMN message;
