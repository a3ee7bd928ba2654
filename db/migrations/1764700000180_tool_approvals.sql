-- Up Migration

-- A tool call that needs a person's approval (issue 18). The row holds the exact arguments the person is shown and
-- their hash: the tool activity runs a call only if its arguments still hash to what was approved. The turn's
-- workflow holds only ids, the hash and the decision; the arguments and every reason stay here.
CREATE TABLE tool_approvals (
  id              text PRIMARY KEY,
  tenant_id       text NOT NULL,
  conversation_id text NOT NULL,
  turn_id         text NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
  hop             integer NOT NULL,
  tool_call_id    text NOT NULL,
  tool_name       text NOT NULL,
  arguments       text NOT NULL,
  arguments_hash  text NOT NULL,
  -- Why the tool asks (its approval function's words), shown to the person.
  reason          text,
  expires_at      timestamptz NOT NULL,
  -- Milliseconds, so a page cursor (ISO 8601) names a row exactly.
  created_at      timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
  approved        boolean,
  decided_by      text CHECK (decided_by IN ('user', 'timeout', 'stop', 'superseded')),
  -- The person's reason, when the decision was theirs.
  decision_reason text,
  decided_at      timestamptz,
  UNIQUE (turn_id, hop, tool_call_id),
  CHECK ((decided_at IS NULL) = (approved IS NULL) AND (decided_at IS NULL) = (decided_by IS NULL))
);
CREATE INDEX tool_approvals_pending_idx ON tool_approvals (tenant_id, created_at DESC, id DESC)
  WHERE decided_at IS NULL;

-- A person's reason, stored before their decision reaches the turn (the turn, not Postgres, decides which decision
-- stands; the update it receives carries no text). One per approval and decision; the first one given is kept.
CREATE TABLE tool_approval_reasons (
  approval_id text NOT NULL REFERENCES tool_approvals (id) ON DELETE CASCADE,
  approved    boolean NOT NULL,
  reason      text NOT NULL,
  PRIMARY KEY (approval_id, approved)
);

ALTER TABLE turn_events DROP CONSTRAINT turn_events_type_check;
ALTER TABLE turn_events ADD CONSTRAINT turn_events_type_check
  CHECK (type IN ('queued', 'text', 'tool_calls', 'tool_result', 'reset', 'hop_limit', 'done', 'error',
                  'approval_requested', 'approval_decided'));

-- Down Migration
ALTER TABLE turn_events DROP CONSTRAINT turn_events_type_check;
ALTER TABLE turn_events ADD CONSTRAINT turn_events_type_check
  CHECK (type IN ('queued', 'text', 'tool_calls', 'tool_result', 'reset', 'hop_limit', 'done', 'error'));
DROP TABLE tool_approval_reasons;
DROP TABLE tool_approvals;
