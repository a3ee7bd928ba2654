-- Up Migration

-- The span of each traced LLM attempt (issue 19, traces), written when the attempt starts, so that the attempt
-- retrying it can link its own span to it even when the worker running it died before it could record anything.
-- Ids only (W3C trace and span ids in hex); written only while the worker exports traces.
CREATE TABLE llm_attempt_spans (
  turn_id    text NOT NULL,
  hop        integer NOT NULL,
  attempt    integer NOT NULL,
  trace_id   text NOT NULL CHECK (trace_id ~ '^[0-9a-f]{32}$'),
  span_id    text NOT NULL CHECK (span_id ~ '^[0-9a-f]{16}$'),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (turn_id, hop, attempt)
);

-- Down Migration
DROP TABLE llm_attempt_spans;
