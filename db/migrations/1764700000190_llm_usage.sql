-- Up Migration

-- One row per LLM attempt (issue 19, design invariant 14): what the provider reported for it, written once, keyed
-- by (tenant, turn, hop, attempt). An attempt that streamed and was then retried keeps its row (the provider billed
-- it). `usage_reported` false is a response that carried no usage (recorded as such, never guessed); `outcome`
-- 'lost' is an attempt whose worker died before it could write: the next attempt of the hop records it, and a late
-- write of that attempt itself may still fill it in.
CREATE TABLE llm_usage (
  tenant_id           text NOT NULL,
  turn_id             text NOT NULL,
  hop                 integer NOT NULL,
  attempt             integer NOT NULL,
  conversation_id     text NOT NULL,
  model               text NOT NULL,
  outcome             text NOT NULL CHECK (outcome IN ('ok', 'failed', 'cancelled', 'lost')),
  -- Whether the provider began a response (HTTP 200, a stream); NULL for a lost attempt, where nobody knows.
  streamed            boolean,
  usage_reported      boolean NOT NULL,
  input_tokens        bigint NOT NULL DEFAULT 0 CHECK (input_tokens >= 0),
  output_tokens       bigint NOT NULL DEFAULT 0 CHECK (output_tokens >= 0),
  cached_input_tokens bigint NOT NULL DEFAULT 0 CHECK (cached_input_tokens >= 0),
  reasoning_tokens    bigint NOT NULL DEFAULT 0 CHECK (reasoning_tokens >= 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant_id, turn_id, hop, attempt),
  FOREIGN KEY (turn_id, tenant_id) REFERENCES turns (id, tenant_id)
);
CREATE INDEX llm_usage_tenant_time_idx ON llm_usage (tenant_id, created_at);
CREATE INDEX llm_usage_turn_idx ON llm_usage (turn_id);
CREATE INDEX turns_tenant_created_idx ON turns (tenant_id, created_at);
CREATE INDEX messages_tool_calls_by_time ON messages (tenant_id, created_at) WHERE kind = 'tool';

-- Down Migration
DROP INDEX messages_tool_calls_by_time;
DROP INDEX turns_tenant_created_idx;
DROP TABLE llm_usage;
