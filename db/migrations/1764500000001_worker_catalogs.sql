-- Up Migration

-- What the workers of each task queue serve, published by every worker when it starts (upsert), so a start
-- naming an unknown model or tool is refused before any workflow exists. Workers of one task queue share one
-- configuration (Temporal hands any turn to any of them); the last one to start wins.
CREATE TABLE worker_catalogs (
  task_queue    text PRIMARY KEY,
  default_model text NOT NULL,
  models        jsonb NOT NULL,
  tools         jsonb NOT NULL,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Down Migration
DROP TABLE worker_catalogs;
