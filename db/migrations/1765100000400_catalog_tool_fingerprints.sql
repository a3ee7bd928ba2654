-- Up Migration

-- Pinned tool schemas (issue 20), for operators: the published catalog of a task queue holds the fingerprint of
-- every tool that has one (an MCP server's), by name, as the worker offers it now. Published at start and again
-- whenever a server's tool list changes; a tool its server no longer lists has no entry.
ALTER TABLE worker_catalogs ADD COLUMN tool_fingerprints jsonb NOT NULL DEFAULT '{}';

-- Down Migration
ALTER TABLE worker_catalogs DROP COLUMN tool_fingerprints;
