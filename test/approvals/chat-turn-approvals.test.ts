import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApprovalConflictError,
  ApprovalExpiredError,
  ApprovalNotFoundError,
  decideApproval,
  listPendingApprovals,
} from '../../client';
import { searchAttributeKeys } from '../../common';
import { cancelTurn, supersedeApprovals } from '../../workflows';
import { turnHarness, type TurnHarness } from '../turn/harness';
import { approvalTools, requested, turnEvents } from './approval-tools';

type Msg = { role: string; content?: unknown; tool_call_id?: string };

describe('tool approvals in a turn', function () {
  this.timeout(240_000);
  let h: TurnHarness;

  beforeEach(async () => {
    h = await turnHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  const messagesOf = (i: number) => h.llm.requests[i]!.body.messages as Msg[];
  const deps = () => ({ temporal: h.client, pool: h.env.pool });

  it('waits for a person, runs the approved call once with the arguments shown, and answers a repeat the same', async () => {
    const { runs, tools } = approvalTools();
    h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_big', name: 'refund', arguments: '{"orderId":"A-1","amount":250}' }] }] },
      { steps: [{ text: 'Refunded.' }] },
    );
    const turn = await h.start({ message: 'refund A-1', tenantId: 'acme' });
    const result = await h.withWorker(
      async () => {
        const [req] = await requested(h.env, turn.turnId, 1);
        assert.equal(req!.toolName, 'refund');
        assert.equal(req!.arguments, '{"orderId":"A-1","amount":250}');
        assert.equal(req!.reason, 'refund of 250 is above 100');
        assert.equal(runs.length, 0, 'nothing runs before the approval');
        // What an operator sees.
        await waitUntil(async () => {
          const d = await turn.handle.describe();
          return d.typedSearchAttributes.get(searchAttributeKeys.TurnStatus) === 'awaiting_approval';
        });
        const pending = await listPendingApprovals(h.env.pool, 'acme');
        assert.deepEqual(
          pending.approvals.map((a) => [a.approvalId, a.toolName, a.arguments]),
          [[req!.approvalId, 'refund', '{"orderId":"A-1","amount":250}']],
        );
        assert.equal((await listPendingApprovals(h.env.pool, 'other')).approvals.length, 0);

        const target = { tenantId: 'acme', turnId: turn.turnId, approvalId: req!.approvalId };
        await assert.rejects(
          decideApproval(deps(), { ...target, tenantId: 'other' }, { approved: true }),
          ApprovalNotFoundError,
        );
        await assert.rejects(
          decideApproval(deps(), { ...target, approvalId: 'apr_unknown' }, { approved: true }),
          ApprovalNotFoundError,
        );
        const first = await decideApproval(deps(), target, { approved: true, reason: 'ok by finance' });
        assert.deepEqual(first, {
          approvalId: req!.approvalId,
          turnId: turn.turnId,
          approved: true,
          decidedBy: 'user',
          reason: 'ok by finance',
        });
        assert.deepEqual(await decideApproval(deps(), target, { approved: true }), first);
        await assert.rejects(decideApproval(deps(), target, { approved: false }), (err: unknown) => {
          assert.ok(err instanceof ApprovalConflictError);
          assert.equal(err.decision.approved, true);
          return true;
        });
        return turn.handle.result();
      },
      { tools },
    );
    assert.equal(result.finishReason, 'stop');
    assert.deepEqual(
      runs.map((r) => [r.tool, r.args]),
      [['refund', { orderId: 'A-1', amount: 250 }]],
    );
    const tool = messagesOf(1).find((m) => m.role === 'tool');
    assert.deepEqual(JSON.parse(String(tool?.content)), { refunded: 250 });
    const types = (await turnEvents(h.env, turn.turnId)).map((e) => e.type).filter((t) => t !== 'text');
    assert.deepEqual(types, ['tool_calls', 'approval_requested', 'approval_decided', 'tool_result', 'done']);
    // After the turn ended, a repeat still answers the decision that stands, and a contradiction is still refused.
    const target = {
      tenantId: 'acme',
      turnId: turn.turnId,
      approvalId: (await requested(h.env, turn.turnId, 1))[0]!.approvalId,
    };
    assert.equal((await decideApproval(deps(), target, { approved: true })).approved, true);
    await assert.rejects(decideApproval(deps(), target, { approved: false }), ApprovalConflictError);
  });

  it('runs a call needing no approval at once and tells the model the reason of a denial', async () => {
    const { runs, tools } = approvalTools();
    h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'call_small', name: 'refund', arguments: '{"orderId":"A-2","amount":40}' },
              { id: 'call_big', name: 'refund', arguments: '{"orderId":"A-3","amount":900}' },
            ],
          },
        ],
      },
      { steps: [{ text: 'Done.' }] },
    );
    const turn = await h.start({ message: 'refunds' });
    await h.withWorker(
      async () => {
        const [req] = await requested(h.env, turn.turnId, 1);
        assert.equal(req!.toolCallId, 'call_big');
        await waitUntil(() => Promise.resolve(runs.length === 1));
        assert.deepEqual(runs[0]!.args, { orderId: 'A-2', amount: 40 }, 'the call needing no approval ran at once');
        await decideApproval(
          deps(),
          { turnId: turn.turnId, approvalId: req!.approvalId },
          { approved: false, reason: 'too much' },
        );
        return turn.handle.result();
      },
      { tools },
    );
    assert.equal(runs.length, 1, 'the denied call never ran');
    const toolMessages = messagesOf(1).filter((m) => m.role === 'tool');
    assert.equal(
      toolMessages.find((m) => m.tool_call_id === 'call_big')?.content,
      'The user denied this tool call, so it did not run. Reason: too much',
    );
    const decided = (await turnEvents(h.env, turn.turnId)).find((e) => e.type === 'approval_decided');
    assert.ok(decided?.type === 'approval_decided');
    assert.deepEqual([decided.approved, decided.decidedBy, decided.reason], [false, 'user', 'too much']);
  });

  it('denies a call nobody decided in time (timeout), and refuses a decision after', async () => {
    const { runs, tools } = approvalTools();
    h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_mail', name: 'send_email', arguments: '{"to":"a@b.c"}' }] }] },
      { steps: [{ text: 'It expired.' }] },
    );
    const turn = await h.start({ message: 'mail' });
    await h.withWorker(() => turn.handle.result(), { tools, approvalTimeoutMs: 2_000 });
    const events = await turnEvents(h.env, turn.turnId);
    const decided = events.find((e) => e.type === 'approval_decided');
    assert.ok(decided?.type === 'approval_decided');
    assert.deepEqual([decided.approved, decided.decidedBy], [false, 'timeout']);
    assert.equal(runs.length, 0);
    assert.match(String(messagesOf(1).find((m) => m.role === 'tool')?.content), /expired/);
    await assert.rejects(
      decideApproval(deps(), { turnId: turn.turnId, approvalId: decided.approvalId }, { approved: true }),
      ApprovalExpiredError,
    );
  });

  it('denies every pending call on a stop, and every call has a result', async () => {
    const { runs, tools } = approvalTools();
    h.llm.enqueue({
      steps: [
        {
          toolCalls: [
            { id: 'call_a', name: 'send_email', arguments: '{"to":"a@b.c"}' },
            { id: 'call_b', name: 'refund', arguments: '{"orderId":"A-4","amount":500}' },
          ],
        },
      ],
    });
    const turn = await h.start({ message: 'do both' });
    const result = await h.withWorker(
      async () => {
        await requested(h.env, turn.turnId, 2);
        await turn.handle.signal(cancelTurn, { reason: 'stop' });
        return turn.handle.result();
      },
      { tools },
    );
    assert.equal(result.status, 'cancelled');
    assert.equal(runs.length, 0);
    const decided = (await turnEvents(h.env, turn.turnId)).filter((e) => e.type === 'approval_decided');
    assert.deepEqual(
      decided.map((e) => e.type === 'approval_decided' && [e.toolCallId, e.approved, e.decidedBy]).sort(),
      [
        ['call_a', false, 'stop'],
        ['call_b', false, 'stop'],
      ],
    );
    const { rows } = await h.env.pool.query<{ tool_call_id: string }>(
      `SELECT tool_call_id FROM messages WHERE turn_id = $1 AND kind = 'tool' ORDER BY tool_call_id`,
      [turn.turnId],
    );
    assert.deepEqual(
      rows.map((r) => r.tool_call_id),
      ['call_a', 'call_b'],
    );
  });

  it('denies pending calls as superseded when the user moves on, and ends without another model call', async () => {
    const { tools } = approvalTools();
    h.llm.enqueue({ steps: [{ toolCalls: [{ id: 'call_a', name: 'send_email', arguments: '{"to":"a@b.c"}' }] }] });
    const turn = await h.start({ message: 'mail' });
    const result = await h.withWorker(
      async () => {
        await requested(h.env, turn.turnId, 1);
        await turn.handle.signal(supersedeApprovals);
        return turn.handle.result();
      },
      { tools },
    );
    assert.equal(result.finishReason, 'interrupted');
    assert.equal(h.llm.requests.length, 1, 'no model call after the denial');
    const decided = (await turnEvents(h.env, turn.turnId)).find((e) => e.type === 'approval_decided');
    assert.ok(decided?.type === 'approval_decided' && decided.decidedBy === 'superseded');
  });

  it('requires approval for tools named by the worker and by the request, whatever their definition', async () => {
    const { tools } = approvalTools();
    h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'call_calc', name: 'calculate', arguments: '{"expression":"1+1"}' },
              { id: 'call_time', name: 'get_current_time', arguments: '{"timezone":"UTC"}' },
              { id: 'call_small', name: 'refund', arguments: '{"orderId":"A-5","amount":1}' },
            ],
          },
        ],
      },
      { steps: [{ text: 'ok' }] },
    );
    const turn = await h.start({ message: 'go', approvalTools: ['get_current_time'] });
    await h.withWorker(
      async () => {
        const reqs = await requested(h.env, turn.turnId, 2);
        await sleep(500);
        const all = (await turnEvents(h.env, turn.turnId)).filter((e) => e.type === 'approval_requested');
        assert.deepEqual(all.map((e) => e.type === 'approval_requested' && e.toolName).sort(), [
          'calculate',
          'get_current_time',
        ]);
        for (const r of reqs)
          await decideApproval(deps(), { turnId: turn.turnId, approvalId: r.approvalId }, { approved: true });
        return turn.handle.result();
      },
      { tools, approvalTools: ['calculate'] },
    );
    const toolMessages = messagesOf(1).filter((m) => m.role === 'tool');
    assert.equal(toolMessages.length, 3);
    assert.equal(JSON.parse(String(toolMessages.find((m) => m.tool_call_id === 'call_calc')?.content)).result, 2);
  });

  it('refuses to run arguments that changed after the person saw them', async () => {
    const { runs, tools } = approvalTools();
    h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_big', name: 'refund', arguments: '{"orderId":"A-6","amount":200}' }] }] },
      { steps: [{ text: 'Refused.' }] },
    );
    const turn = await h.start({ message: 'refund' });
    await h.withWorker(
      async () => {
        const [req] = await requested(h.env, turn.turnId, 1);
        // Someone with database access swaps the arguments after the approval request was shown.
        await h.env.pool.query(
          `UPDATE messages SET tool_calls = jsonb_set(tool_calls, '{0,function,arguments}', to_jsonb($2::text))
           WHERE turn_id = $1 AND kind = 'hop'`,
          [turn.turnId, '{"orderId":"A-6","amount":20000}'],
        );
        await decideApproval(deps(), { turnId: turn.turnId, approvalId: req!.approvalId }, { approved: true });
        return turn.handle.result();
      },
      { tools },
    );
    assert.equal(runs.length, 0, 'the changed call never ran');
    assert.match(
      String(messagesOf(1).find((m) => m.role === 'tool')?.content),
      /arguments differ from the ones approved/,
    );
  });

  it('holds no activity slot while waiting: more waiting turns than slots all finish once decided', async () => {
    const { runs, tools } = approvalTools();
    const n = 3;
    for (let i = 0; i < n; i++) {
      h.llm.enqueue({ steps: [{ toolCalls: [{ id: 'call_mail', name: 'send_email', arguments: '{"to":"x@y.z"}' }] }] });
    }
    const turns: Awaited<ReturnType<TurnHarness['start']>>[] = [];
    for (let i = 0; i < n; i++) turns.push(await h.start({ message: `mail ${i}` }));
    await h.withWorker(
      async () => {
        const reqs = [];
        for (const t of turns) reqs.push((await requested(h.env, t.turnId, 1))[0]!);
        for (let i = 0; i < n; i++) h.llm.enqueue({ steps: [{ text: 'sent' }] });
        for (const [i, t] of turns.entries()) {
          await decideApproval(deps(), { turnId: t.turnId, approvalId: reqs[i]!.approvalId }, { approved: true });
        }
        return Promise.all(turns.map((t) => t.handle.result()));
      },
      { tools, maxConcurrentActivityTaskExecutions: 1 },
    );
    assert.equal(runs.length, n);
    assert.equal(new Set(runs.map((r) => r.key)).size, n);
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await sleep(100);
  }
}
