-- Up Migration

-- No user text in Temporal (design invariant 12, issue 21). The user's message is stored with the turn row when the
-- caller claims the turn, in the same statement; workflows, updates and signals carry the turn's id only. The turn's
-- first activity (or, for a steered message, the turn it joins) copies it into `messages` where the conversation
-- reads it, and clears it here, so the text is kept once.
ALTER TABLE turns ADD COLUMN message text;

-- A tool's last transient error (RetryableToolError), read back for the model once its retries run out: the failure
-- Temporal records carries our own message, not the tool's words.
CREATE TABLE tool_retry_errors (
  turn_id      text NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
  hop          integer NOT NULL,
  tool_call_id text NOT NULL,
  message      text NOT NULL,
  PRIMARY KEY (turn_id, hop, tool_call_id)
);

-- Down Migration
DROP TABLE tool_retry_errors;
ALTER TABLE turns DROP COLUMN message;
