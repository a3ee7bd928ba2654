-- Up Migration

-- The tenant is part of the identity of every conversation, turn and message (issue 8, design invariant 9).
-- Conversation ids are chosen by callers, so two tenants may pick the same one: a conversation is keyed by
-- (tenant_id, id). Turn ids embed the tenant (turn/<tenant>/<conversation>/<request>); turns stored before
-- this migration keep their old ids (turn/<conversation>/<request>) and get the tenant of their conversation.

ALTER TABLE turns ADD COLUMN tenant_id text;
UPDATE turns t SET tenant_id = c.tenant_id FROM conversations c WHERE c.id = t.conversation_id;
ALTER TABLE turns ALTER COLUMN tenant_id SET NOT NULL;

ALTER TABLE messages ADD COLUMN tenant_id text;
UPDATE messages m SET tenant_id = c.tenant_id FROM conversations c WHERE c.id = m.conversation_id;
ALTER TABLE messages ALTER COLUMN tenant_id SET NOT NULL;

ALTER TABLE messages DROP CONSTRAINT messages_conversation_id_fkey;
ALTER TABLE turns DROP CONSTRAINT turns_conversation_id_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_turn_id_fkey;
ALTER TABLE conversations DROP CONSTRAINT conversations_pkey;
ALTER TABLE conversations ADD PRIMARY KEY (tenant_id, id);

ALTER TABLE turns DROP CONSTRAINT turns_conversation_id_request_id_key;
ALTER TABLE turns ADD CONSTRAINT turns_request_key UNIQUE (tenant_id, conversation_id, request_id);
ALTER TABLE turns ADD CONSTRAINT turns_id_tenant_key UNIQUE (id, tenant_id);
ALTER TABLE turns ADD CONSTRAINT turns_conversation_fkey
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id);
-- A message belongs to a turn and a conversation of the same tenant.
ALTER TABLE messages ADD CONSTRAINT messages_conversation_fkey
  FOREIGN KEY (tenant_id, conversation_id) REFERENCES conversations (tenant_id, id);
ALTER TABLE messages ADD CONSTRAINT messages_turn_fkey
  FOREIGN KEY (turn_id, tenant_id) REFERENCES turns (id, tenant_id);

DROP INDEX turns_conversation_idx;
CREATE INDEX turns_conversation_idx ON turns (tenant_id, conversation_id, created_at);
DROP INDEX messages_conversation_idx;
CREATE INDEX messages_conversation_idx ON messages (tenant_id, conversation_id, id);

-- A turn is stored when it is started (so it exists for its owner from the moment the start answered); its
-- model is known once the workflow's first activity has resolved the default.
ALTER TABLE turns ALTER COLUMN model DROP NOT NULL;

-- Down Migration
ALTER TABLE turns ALTER COLUMN model SET NOT NULL;
DROP INDEX messages_conversation_idx;
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);
DROP INDEX turns_conversation_idx;
CREATE INDEX turns_conversation_idx ON turns (conversation_id, created_at);
ALTER TABLE messages DROP CONSTRAINT messages_turn_fkey;
ALTER TABLE messages DROP CONSTRAINT messages_conversation_fkey;
ALTER TABLE turns DROP CONSTRAINT turns_conversation_fkey;
ALTER TABLE turns DROP CONSTRAINT turns_id_tenant_key;
ALTER TABLE turns DROP CONSTRAINT turns_request_key;
ALTER TABLE turns ADD CONSTRAINT turns_conversation_id_request_id_key UNIQUE (conversation_id, request_id);
ALTER TABLE conversations DROP CONSTRAINT conversations_pkey;
ALTER TABLE conversations ADD PRIMARY KEY (id);
ALTER TABLE turns ADD CONSTRAINT turns_conversation_id_fkey FOREIGN KEY (conversation_id) REFERENCES conversations (id);
ALTER TABLE messages ADD CONSTRAINT messages_conversation_id_fkey
  FOREIGN KEY (conversation_id) REFERENCES conversations (id);
ALTER TABLE messages ADD CONSTRAINT messages_turn_id_fkey FOREIGN KEY (turn_id) REFERENCES turns (id);
ALTER TABLE messages DROP COLUMN tenant_id;
ALTER TABLE turns DROP COLUMN tenant_id;
