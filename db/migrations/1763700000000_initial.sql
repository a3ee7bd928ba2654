-- Up Migration

-- A conversation belongs to exactly one tenant; every read is scoped by it.
CREATE TABLE conversations (
  id         text PRIMARY KEY,
  tenant_id  text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per user turn. The id is the Temporal workflow id, derived from (conversation_id, request_id),
-- so the pair can never produce a second turn.
CREATE TABLE turns (
  id               text PRIMARY KEY,
  conversation_id  text NOT NULL REFERENCES conversations (id),
  request_id       text NOT NULL,
  status           text NOT NULL DEFAULT 'running'
                   CHECK (status IN ('running', 'completed', 'cancelled', 'failed')),
  model            text NOT NULL,
  hops             integer NOT NULL DEFAULT 0,
  finish_reason    text,
  usage            jsonb,
  error            jsonb,
  -- Each stream-log writer (one activity attempt) claims the next segment; cursors are
  -- segment * 2^32 + n, so an event shown live by a dead attempt never shares a cursor with a later one.
  stream_segment   integer NOT NULL DEFAULT 0,
  created_at       timestamptz NOT NULL DEFAULT now(),
  completed_at     timestamptz,
  UNIQUE (conversation_id, request_id)
);
CREATE INDEX turns_conversation_idx ON turns (conversation_id, created_at);

-- The conversation transcript. Every write carries the Temporal identity that made it (idem_key), so an
-- activity retry inserts nothing twice (INSERT ... ON CONFLICT (idem_key) DO NOTHING).
--   kind 'user'  : the user's message of a turn
--   kind 'hop'   : what the model said in one hop (content and/or tool calls), fed back to the model
--   kind 'tool'  : one tool result, answering a tool call id
--   kind 'final' : the turn's compacted answer as the user saw it (all hops' text, hop-limit warning)
CREATE TABLE messages (
  id              bigserial PRIMARY KEY,
  conversation_id text NOT NULL REFERENCES conversations (id),
  turn_id         text NOT NULL REFERENCES turns (id),
  idem_key        text NOT NULL UNIQUE,
  kind            text NOT NULL CHECK (kind IN ('user', 'hop', 'tool', 'final')),
  hop             integer,
  -- For 'hop' rows: the LLM activity attempt that wrote it; a later attempt replaces an earlier one's row.
  attempt         integer,
  content         text,
  tool_calls      jsonb,
  tool_call_id    text,
  tool_name       text,
  is_error        boolean NOT NULL DEFAULT false,
  model           text,
  finish_reason   text,
  usage           jsonb,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);
CREATE UNIQUE INDEX messages_one_final_per_turn ON messages (turn_id) WHERE kind = 'final';

-- The turn's event stream as callers see it (text deltas, tool calls, results, resets, done, errors).
CREATE TABLE turn_events (
  turn_id    text NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
  cursor     bigint NOT NULL,
  prev       bigint NOT NULL,
  hop        integer NOT NULL,
  attempt    integer NOT NULL,
  type       text NOT NULL
             CHECK (type IN ('text', 'tool_calls', 'tool_result', 'reset', 'hop_limit', 'done', 'error')),
  data       jsonb NOT NULL,
  -- Logical identity of a non-text event (e.g. 'done', 'tool_result:1:call_a'); a retried writer that
  -- finds its event already stored writes and announces nothing.
  event_key  text,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (turn_id, cursor),
  UNIQUE (turn_id, event_key)
);

-- Down Migration
DROP TABLE turn_events;
DROP TABLE messages;
DROP TABLE turns;
DROP TABLE conversations;
