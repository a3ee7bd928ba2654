-- Up Migration

-- Turns of a conversation run one at a time (issue 11). A turn accepted while another runs waits in its
-- conversation's queue: it is stored as 'queued' (owned from the moment its start answered, but not counted as a
-- running turn) until its workflow starts. A message steered into the running turn becomes part of that turn
-- ('steered', `steered_into` names it) instead of a turn of its own.
ALTER TABLE turns DROP CONSTRAINT turns_status_check;
ALTER TABLE turns ADD CONSTRAINT turns_status_check
  CHECK (status IN ('queued', 'running', 'completed', 'cancelled', 'failed', 'steered'));
ALTER TABLE turns ADD COLUMN steered_into text;

-- kind 'steer': a user message delivered into a running turn at a hop boundary; it belongs to that turn and
-- sits, by id, between the tool results of one hop and the model's next reply.
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN ('user', 'hop', 'tool', 'final', 'steer'));

-- 'queued': the turn waits behind the conversation's running turn (its first event, before the turn's own).
ALTER TABLE turn_events DROP CONSTRAINT turn_events_type_check;
ALTER TABLE turn_events ADD CONSTRAINT turn_events_type_check
  CHECK (type IN ('queued', 'text', 'tool_calls', 'tool_result', 'reset', 'hop_limit', 'done', 'error'));

-- Down Migration
ALTER TABLE turn_events DROP CONSTRAINT turn_events_type_check;
ALTER TABLE turn_events ADD CONSTRAINT turn_events_type_check
  CHECK (type IN ('text', 'tool_calls', 'tool_result', 'reset', 'hop_limit', 'done', 'error'));
ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN ('user', 'hop', 'tool', 'final'));
ALTER TABLE turns DROP COLUMN steered_into;
ALTER TABLE turns DROP CONSTRAINT turns_status_check;
ALTER TABLE turns ADD CONSTRAINT turns_status_check
  CHECK (status IN ('running', 'completed', 'cancelled', 'failed'));
