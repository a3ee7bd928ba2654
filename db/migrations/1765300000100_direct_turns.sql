-- Up Migration

-- Issue 17: an idle conversation's turn starts directly (a plain, possibly eager, workflow start) instead of through
-- its conversation's workflow. Postgres decides which: `claim_ordered_turn` below. A turn started that way keeps its
-- workflow's start input here (ids, names and numbers only: the same `ChatTurnInput` the workflow gets, never user
-- text), so whoever finds its workflow missing (the conversation adopting it after its caller died before the start,
-- or a retry of the request) starts it with the same input. NULL for every turn started through its conversation.
ALTER TABLE turns ADD COLUMN direct_input jsonb;

-- The claim's busy check reads a conversation's unfinished turns: keep it to the few rows it is about.
CREATE INDEX turns_unfinished_by_conversation ON turns (tenant_id, conversation_id) WHERE status IN ('queued', 'running');

-- The ordered claim, decided in one call (one round trip, one transaction):
--   1. the conversation's row is created or touched, unless a deletion has begun (as before); the upsert locks the
--      row until the call commits, so two claims of one conversation run one after the other;
--   2. a request stored before is answered as stored (a retry: nothing is decided again);
--   3. otherwise the turn is stored `queued`, and it goes direct (its `direct_input` set) only when `p_direct_input` is
--      given and the conversation has no turn queued or running. Each statement of a plpgsql function reads a fresh
--      snapshot, so this check, made under the lock, sees every claim that committed before it: two racing claims of
--      an idle conversation never both go direct. A turn becomes queued or running only through a claim (under the
--      lock); turns only leave those states outside it, which can make a claim see a conversation busy a moment too
--      long (it then goes through the conversation), never idle too early.
--   `adopt` is the conversation's direct turn still queued or running (at most one: a direct start needs none
--   unfinished), which a request going through the conversation must wait behind.
CREATE FUNCTION claim_ordered_turn(p_tenant text, p_conversation text, p_request text, p_turn text, p_message text,
                                   p_direct_input jsonb)
  RETURNS TABLE (o_open boolean, o_id text, o_tenant_id text, o_status text, o_steered_into text, o_direct boolean,
                 o_adopt text)
  LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_open boolean;
  v_busy boolean;
  v_adopt text;
BEGIN
  INSERT INTO conversations (tenant_id, id) VALUES (p_tenant, p_conversation)
  ON CONFLICT (tenant_id, id) DO UPDATE SET last_activity_at = date_trunc('milliseconds', now())
    WHERE conversations.deleting_since IS NULL
  RETURNING true INTO v_open;
  IF v_open IS NULL THEN
    RETURN QUERY SELECT false, NULL::text, NULL::text, NULL::text, NULL::text, false, NULL::text;
    RETURN;
  END IF;
  SELECT t.id INTO v_adopt FROM turns t
  WHERE t.tenant_id = p_tenant AND t.conversation_id = p_conversation AND t.status IN ('queued', 'running')
    AND t.direct_input IS NOT NULL AND t.id <> p_turn
  LIMIT 1;
  RETURN QUERY SELECT true, t.id, t.tenant_id, t.status, t.steered_into, t.direct_input IS NOT NULL, v_adopt
    FROM turns t
    WHERE t.id = p_turn OR (t.tenant_id = p_tenant AND t.conversation_id = p_conversation AND t.request_id = p_request);
  IF FOUND THEN
    RETURN;
  END IF;
  v_busy := EXISTS (SELECT 1 FROM turns t WHERE t.tenant_id = p_tenant AND t.conversation_id = p_conversation
                    AND t.status IN ('queued', 'running'));
  INSERT INTO turns (id, tenant_id, conversation_id, request_id, status, message, direct_input)
  VALUES (p_turn, p_tenant, p_conversation, p_request, 'queued', p_message,
          CASE WHEN v_busy THEN NULL ELSE p_direct_input END);
  RETURN QUERY SELECT true, p_turn, p_tenant, 'queued'::text, NULL::text,
                      NOT v_busy AND p_direct_input IS NOT NULL, v_adopt;
END $$;

-- Down Migration
DROP FUNCTION claim_ordered_turn(text, text, text, text, text, jsonb);
DROP INDEX turns_unfinished_by_conversation;
ALTER TABLE turns DROP COLUMN direct_input;
