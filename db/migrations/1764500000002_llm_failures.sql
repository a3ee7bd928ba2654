-- Up Migration

-- One row per LLM activity attempt that failed on the provider's side (429, 5xx, a dropped, cut, stalled or
-- malformed stream), so the provider-failure budget of a hop is counted durably across attempts and workers.
-- A worker that dies writes nothing here: worker loss is bounded by time (schedule-to-close), not by count.
CREATE TABLE llm_failures (
  turn_id      text NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
  hop          integer NOT NULL,
  attempt      integer NOT NULL,
  failure_type text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (turn_id, hop, attempt)
);

-- Down Migration
DROP TABLE llm_failures;
