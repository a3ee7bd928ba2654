-- Up Migration

-- Pinned tool schemas (issue 20): a hop's assistant message keeps the fingerprint of every described tool (an MCP
-- server's) it was offered, by name. A call of that hop runs only while its tool's fingerprint is still the one the
-- model chose it by; a changed or vanished tool is refused and the model is told.
ALTER TABLE messages ADD COLUMN tool_fingerprints jsonb;

-- Down Migration
ALTER TABLE messages DROP COLUMN tool_fingerprints;
