-- Up Migration

-- Conversations listed and deleted (issue 21).
-- `last_activity_at`: when a message was last sent to the conversation (set by every claim), the order of
-- GET /v1/conversations. `deleting_since`: a deletion has begun; from then on the conversation is missing for every
-- read and a claim refuses it, until the deletion removes the row (then the same id starts a new conversation).
ALTER TABLE conversations ADD COLUMN last_activity_at timestamptz;
UPDATE conversations c SET last_activity_at = coalesce(
  (SELECT max(t.created_at) FROM turns t WHERE t.tenant_id = c.tenant_id AND t.conversation_id = c.id), c.created_at);
ALTER TABLE conversations ALTER COLUMN last_activity_at SET NOT NULL;
ALTER TABLE conversations ALTER COLUMN last_activity_at SET DEFAULT date_trunc('milliseconds', now());
ALTER TABLE conversations ADD COLUMN deleting_since timestamptz;
CREATE INDEX conversations_by_activity ON conversations (tenant_id, last_activity_at DESC, id DESC);

-- Usage figures outlive the conversation they were spent on (numbers only): a deleted turn keeps its llm_usage rows.
ALTER TABLE llm_usage DROP CONSTRAINT llm_usage_turn_id_tenant_id_fkey;

-- Down Migration
ALTER TABLE llm_usage ADD CONSTRAINT llm_usage_turn_id_tenant_id_fkey
  FOREIGN KEY (turn_id, tenant_id) REFERENCES turns (id, tenant_id) NOT VALID;
DROP INDEX conversations_by_activity;
ALTER TABLE conversations DROP COLUMN deleting_since;
ALTER TABLE conversations DROP COLUMN last_activity_at;
