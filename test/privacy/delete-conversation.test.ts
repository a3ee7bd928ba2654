import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { Client, WithStartWorkflowOperation, type WorkflowClientInterceptor } from '@temporalio/client';
import {
  claimOrderedTurn,
  claimQueuedTurn,
  startOrderedTurn,
  TurnConflictError,
  type OrderedStart,
} from '../../client';
import { ChatTurnInput, conversationWorkflowIdFor, turnIdFor } from '../../common';
import { builtinTools, defineTool } from '../../activities/tools';
import { conversationTurns, submitTurn, type conversation } from '../../workflows';
import type { ScriptInput } from '../../scripted-llm';
import { uniqueId } from '../support';
import { gatewayHarness, readEvents, TOKENS, type GatewayHarness } from '../gateway/harness';
import { requestsFor, waitForFinished } from '../turn/conversation-harness';

/**
 * Issue 21 item 3: a tenant's conversations are listed, and a conversation is deleted for good in any state (idle,
 * streaming, with queued turns, waiting for a tool, waiting for a person's approval): afterwards no table of the
 * database and no Temporal history holds any of its text, its reads answer 404, and its id starts a new, empty
 * conversation.
 */
describe('conversations listed and deleted', function () {
  this.timeout(240_000);
  let g: GatewayHarness;
  /** Every marker of this file starts with it, so one search finds any of them. */
  const prefix = `MKdel${randomBytes(5).toString('hex')}`;
  let n = 0;
  const marker = (kind: string) => `${prefix}${kind}${(n += 1)}`;

  before(async () => {
    g = await gatewayHarness();
  });
  after(async () => {
    await g?.close();
  });

  const start = (tenantId: string, conversationId: string, message: string, extra: Record<string, unknown> = {}) =>
    g.turns.start({ tenantId, conversationId, requestId: uniqueId('req'), message, ...extra });
  const json = async (res: Response) => (await res.json()) as Record<string, unknown>;

  it('lists the tenant’s conversations, most recent activity first, paged, titled by their first message', async () => {
    g.h.llm.respond(() => ({ steps: [{ text: 'fine' }] }));
    const long = `${'a'.repeat(70)} ${'b'.repeat(30)}`;
    const [c1, c2, c3] = [uniqueId('conv'), uniqueId('conv'), uniqueId('conv')];
    const foreign = uniqueId('conv');
    await g.h.withWorker(async () => {
      for (const [conv, message] of [
        [c1, 'first of one'],
        [c2, long],
        [c3, 'first of three'],
      ] as const) {
        await waitForFinished(g.h, (await start('acme', conv, message)).requestTurnId);
      }
      await waitForFinished(g.h, (await start('globex', foreign, 'not acme')).requestTurnId);
      // A second message moves c1 to the top.
      await waitForFinished(g.h, (await start('acme', c1, 'second of one')).requestTurnId);
    });

    const first = await json(await g.request('/v1/conversations?limit=2'));
    const second = await json(await g.request(`/v1/conversations?limit=2&after=${String(first.next)}`));
    const listed = [...(first.conversations as { id: string }[]), ...(second.conversations as { id: string }[])];
    assert.deepEqual(
      listed.slice(0, 3).map((c) => c.id),
      [c1, c3, c2],
    );
    const [one, three, two] = listed as unknown as {
      id: string;
      turnCount: number;
      title: string;
      createdAt: string;
      lastActivityAt: string;
    }[];
    assert.deepEqual([one!.turnCount, three!.turnCount, two!.turnCount], [2, 1, 1]);
    assert.deepEqual([one!.title, three!.title, two!.title], ['first of one', 'first of three', long.slice(0, 80)]);
    assert.ok(one!.lastActivityAt > one!.createdAt);
    assert.ok(!listed.some((c) => c.id === foreign), 'another tenant’s conversation is not listed');
    const globex = await json(await g.request('/v1/conversations', { token: TOKENS.globex }));
    assert.ok((globex.conversations as { id: string }[]).some((c) => c.id === foreign));
    assert.ok(!(globex.conversations as { id: string }[]).some((c) => c.id === c1));

    assert.equal((await g.request('/v1/conversations?after=bogus')).status, 400);
    assert.equal((await g.request('/v1/conversations?limit=0')).status, 400);
    const client = await g.turns.conversations('acme', { limit: 1 });
    assert.equal(client.conversations[0]?.id, c1);
  });

  it('deletes a conversation idle, streaming, with queued turns, waiting for a tool and waiting for an approval, leaving none of its text', async () => {
    let releaseTool: () => void = () => undefined;
    const toolHeld = new Promise<void>((resolve) => {
      releaseTool = resolve;
    });
    const toolResult = marker('toolresult');
    const tools = [
      ...builtinTools(),
      defineTool({
        name: 'slow_lookup',
        description: 'Looks something up, slowly.',
        parameters: z.object({ text: z.string() }),
        execute: async ({ text }) => {
          await toolHeld;
          return `${text} ${toolResult}`;
        },
      }),
      defineTool({
        name: 'refund',
        description: 'Refunds an order.',
        parameters: z.object({ note: z.string() }),
        approval: 'user',
        execute: ({ note }) => Promise.resolve(`refunded ${note}`),
      }),
    ];
    const scripts = new Map<string, ScriptInput>();
    g.h.llm.respond((request) => {
      const messages = request.body.messages as { role: string; content?: unknown }[];
      const lastUser = [...messages].reverse().find((m) => m.role === 'user');
      const text = typeof lastUser?.content === 'string' ? lastUser.content : '';
      if (messages.at(-1)?.role === 'tool') return { steps: [{ text: `${marker('answer')} after tools` }] };
      return scripts.get(text) ?? { steps: [{ text: `${marker('answer')} answer` }] };
    });

    const conv = { idle: '', running: '', queued: '', tool: '', approval: '' };
    for (const key of Object.keys(conv) as (keyof typeof conv)[]) conv[key] = uniqueId(`del-${key}`);
    const started: Omit<OrderedStart, 'handle'>[] = [];
    const send = async (key: keyof typeof conv, script?: ScriptInput, extra: Record<string, unknown> = {}) => {
      const message = marker(`user${key}`);
      if (script) scripts.set(message, script);
      const s = await start('acme', conv[key], message, extra);
      started.push(s);
      return s;
    };

    await g.h.withWorker(
      async () => {
        // Idle: a finished turn that used a tool.
        const idle = await send('idle', {
          steps: [{ toolCalls: [{ name: 'calculate', arguments: { expression: '6*7' } }] }],
        });
        await waitForFinished(g.h, idle.requestTurnId);

        // Streaming: held mid-answer, followed by a TurnClient reader and an SSE reader.
        const running = await send('running', {
          steps: [{ text: `${marker('partial')} ` }, { waitFor: 'del-run' }, { text: 'x' }],
        });
        await g.h.llm.gateReached('del-run');
        const reader = (async () => {
          const seen: string[] = [];
          for await (const event of g.turns.events(running.turnId)) seen.push(event.type);
          return seen;
        })();
        const sse = await g.request(`/v1/turns/${encodeURIComponent(running.turnId)}/events`);
        assert.equal(sse.status, 200);
        const sseRead = readEvents(sse);

        // Queued: a held turn and two waiting behind it.
        await send('queued', { steps: [{ text: `${marker('partial')} ` }, { waitFor: 'del-queue' }, { text: 'x' }] });
        await g.h.llm.gateReached('del-queue');
        const q1 = await send('queued');
        const q2 = await send('queued');
        assert.deepEqual([q1.state, q2.state], ['queued', 'queued']);

        // Waiting for a tool.
        const tool = await send('tool', {
          steps: [
            { text: `${marker('partial')} ` },
            { toolCalls: [{ name: 'slow_lookup', arguments: { text: marker('args') } }] },
          ],
        });
        await waitFor(
          async () =>
            (await g.pool.query(`SELECT 1 FROM messages WHERE turn_id = $1 AND kind = 'hop'`, [tool.turnId]))
              .rowCount === 1,
        );

        // Waiting for a person's approval.
        const approval = await send('approval', {
          steps: [{ toolCalls: [{ name: 'refund', arguments: { note: marker('args') } }] }],
        });
        await waitFor(
          async () =>
            (await g.pool.query(`SELECT 1 FROM tool_approvals WHERE turn_id = $1`, [approval.turnId])).rowCount === 1,
        );

        const turnIds = (
          await g.pool.query<{ id: string }>(
            `SELECT id FROM turns WHERE tenant_id = 'acme' AND conversation_id = ANY($1)`,
            [Object.values(conv)],
          )
        ).rows.map((r) => r.id);
        assert.equal(turnIds.length, 7);
        const usageBefore = await usageRows(turnIds);
        assert.ok(usageBefore > 0, 'the turns spent tokens');
        assert.ok(await holdsMarker(), 'the markers reached Postgres');

        // Another tenant's is missing: nothing happens to it.
        for (const id of Object.values(conv)) {
          assert.equal(
            (await g.request(`/v1/conversations/${id}`, { method: 'DELETE', token: TOKENS.globex })).status,
            404,
          );
        }
        assert.equal((await g.request(`/v1/conversations/${conv.idle}/messages`)).status, 200);

        const deleteStarted = Date.now();
        assert.equal((await g.request(`/v1/conversations/${conv.running}`, { method: 'DELETE' })).status, 204);
        // Its readers end (without a terminal event: there is no turn any more).
        const seen = await within(10_000, reader);
        assert.ok(
          seen.every((type) => type === 'text'),
          seen.join(),
        );
        const sseEvents = await within(10_000, sseRead);
        assert.ok(!sseEvents.some((e) => e.turnEvent?.type === 'done'), JSON.stringify(sseEvents));
        for (const id of [conv.queued, conv.tool, conv.approval, conv.idle]) {
          assert.equal((await g.request(`/v1/conversations/${id}`, { method: 'DELETE' })).status, 204, id);
        }
        console.log(`      (5 deletions took ${Date.now() - deleteStarted} ms)`);

        // Nothing of it anywhere in Postgres; its usage figures stay.
        assert.equal(await holdsMarker(), false, 'no table holds any of the conversations’ text');
        const left = await g.pool.query(
          `SELECT (SELECT count(*) FROM conversations WHERE tenant_id = 'acme' AND id = ANY($1))::int AS c,
                  (SELECT count(*) FROM turns WHERE id = ANY($2))::int AS t`,
          [Object.values(conv), turnIds],
        );
        assert.deepEqual(left.rows[0], { c: 0, t: 0 });
        // Usage is billing, kept through the deletion; a streaming turn that the deletion stops still records the
        // attempt it cut short (the provider billed it), so there can be more rows than before, never fewer.
        const usageAfter = await usageRows(turnIds);
        assert.ok(usageAfter >= usageBefore, `usage rows ${usageBefore} before the deletion, ${usageAfter} after`);

        // Nothing of it in Temporal: every workflow of it is gone.
        for (const workflowId of [
          ...turnIds,
          ...Object.values(conv).map((c) => conversationWorkflowIdFor('acme', c)),
        ]) {
          await assert.rejects(
            g.h.client.workflowService.describeWorkflowExecution({
              namespace: g.h.client.options.namespace,
              execution: { workflowId },
            }),
            (err: { code?: number }) => err.code === 5,
            workflowId,
          );
        }

        // Its reads answer 404, a second delete too.
        for (const id of Object.values(conv)) {
          assert.equal((await g.request(`/v1/conversations/${id}/messages`)).status, 404);
          assert.equal((await g.request(`/v1/conversations/${id}/turns`)).status, 404);
          assert.equal((await g.request(`/v1/conversations/${id}`, { method: 'DELETE' })).status, 404);
        }
        for (const turnId of turnIds) {
          assert.equal((await g.request(`/v1/turns/${encodeURIComponent(turnId)}/events`)).status, 404);
        }
        const listed = await g.turns.conversations('acme', { limit: 200 });
        assert.ok(!listed.conversations.some((c) => Object.values(conv).includes(c.id)));

        // The workers' held work ends (into a deleted turn: it stores nothing).
        g.h.llm.release('del-run');
        g.h.llm.release('del-queue');
        releaseTool();

        // The same id, and even the same request id, starts a new, empty conversation.
        scripts.set('a new start', { steps: [{ text: 'a new answer' }] });
        const again = await g.turns.start({
          tenantId: 'acme',
          conversationId: conv.idle,
          requestId: started[0]!.requestTurnId.split('/').at(-1)!,
          message: 'a new start',
        });
        assert.equal(again.attached, false);
        await waitForFinished(g.h, again.requestTurnId);
        const messages = await json(await g.request(`/v1/conversations/${conv.idle}/messages`));
        assert.deepEqual(
          (messages.messages as { role: string; content: string }[]).map((m) => m.role),
          ['user', 'assistant'],
        );
        assert.equal((messages.messages as { content: string }[])[0]!.content, 'a new start');
        // Give the held activities a moment to try writing into the deleted turns; still nothing.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        assert.equal(await holdsMarker(), false);
      },
      { tools, approvalTools: ['refund'] },
    );
  });

  it('refuses a start while a deletion is under way, and a start claimed before it runs nothing afterwards', async () => {
    g.h.llm.respond(() => ({ steps: [{ text: marker('answer') }] }));
    const conversationId = uniqueId('del-race');
    await g.h.withWorker(async () => {
      await waitForFinished(g.h, (await start('acme', conversationId, marker('user'))).requestTurnId);

      // A claim that lands before the deletion's mark: its start reaches Temporal only after the deletion.
      const requestId = uniqueId('req');
      const turnId = turnIdFor('acme', conversationId, requestId);
      const raced = marker('user');
      await claimQueuedTurn(g.pool, { tenantId: 'acme', conversationId, requestId, turnId, message: raced });

      // While the deletion is marked, a start is refused (409) and stores nothing.
      await g.pool.query(`UPDATE conversations SET deleting_since = now() WHERE tenant_id = 'acme' AND id = $1`, [
        conversationId,
      ]);
      await assert.rejects(start('acme', conversationId, marker('user')), (err: unknown) => {
        return err instanceof TurnConflictError && err.reason === 'deleting';
      });
      const refused = await g.postTurn({ message: marker('user') }, { conversationId });
      assert.equal(refused.status, 409);
      await refused.body?.cancel();
      assert.equal((await g.request(`/v1/conversations/${conversationId}/messages`)).status, 404);

      assert.equal(await g.turns.deleteConversation('acme', conversationId), 'deleted');
      assert.equal(await holdsMarker(), false);

      // The late start: a new run of the conversation starts the turn, which finds nothing stored and ends.
      await g.h.client.workflow.executeUpdateWithStart(submitTurn, {
        args: [
          { turn: ChatTurnInput.parse({ tenantId: 'acme', conversationId, requestId, turnId }), policy: 'enqueue' },
        ],
        updateId: requestId,
        startWorkflowOperation: new WithStartWorkflowOperation<typeof conversation>('conversation', {
          workflowId: conversationWorkflowIdFor('acme', conversationId),
          taskQueue: g.h.taskQueue,
          args: [{ tenantId: 'acme', conversationId }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });
      // Its turn is started by the new run: it finds nothing stored and fails without storing anything.
      let status: string | undefined;
      await waitFor(async () => {
        const described = await g.h.client.workflow
          .getHandle(turnId)
          .describe()
          .catch(() => undefined);
        status = described?.status.name;
        return status !== undefined && status !== 'RUNNING';
      });
      assert.equal(status, 'FAILED');
      const rows = await g.pool.query(`SELECT 1 FROM turns WHERE tenant_id = 'acme' AND conversation_id = $1`, [
        conversationId,
      ]);
      assert.equal(rows.rowCount, 0);
      assert.equal(await holdsMarker(), false);
      await g.turns.deleteConversation('acme', conversationId).catch(() => undefined);
      await g.h.client.workflow
        .getHandle(conversationWorkflowIdFor('acme', conversationId))
        .terminate()
        .catch(() => undefined);
    });
  });

  it('a conversation being deleted never starts the direct turn it adopts (one its caller was lost before starting)', async () => {
    g.h.llm.respond(() => ({ steps: [{ text: marker('answer') }] }));
    const conversationId = uniqueId('del-adopt');
    const claim = (message: string) => {
      const requestId = uniqueId('req');
      const turnId = turnIdFor('acme', conversationId, requestId);
      const ids = { tenantId: 'acme', conversationId, requestId, turnId };
      return claimOrderedTurn(g.pool, { ...ids, message }, ids).then((c) => ({ ...c, ids }));
    };
    await g.h.withWorker(async () => {
      // A direct turn whose caller died between its claim and its start, and a message claimed behind it.
      const lostMessage = marker('user');
      const lost = await claim(lostMessage);
      assert.equal(lost.direct, true, 'the first claim of an idle conversation goes direct');
      const next = await claim(marker('user'));
      assert.deepEqual([next.direct, next.adopt], [false, lost.turnId], 'the second claim follows the direct turn');

      // The deletion's first step. (The steps after it delete the conversation's workflows: a direct turn's then goes
      // missing under a conversation still waiting for it, as this one's is.)
      await g.pool.query(`UPDATE conversations SET deleting_since = now() WHERE tenant_id = 'acme' AND id = $1`, [
        conversationId,
      ]);
      // The second message's start reaches the conversation only now: it adopts the direct turn and waits for it.
      const workflowId = conversationWorkflowIdFor('acme', conversationId);
      const accepted = await g.h.client.workflow.executeUpdateWithStart(submitTurn, {
        args: [{ turn: ChatTurnInput.parse(next.ids), policy: 'enqueue', after: lost.turnId }],
        updateId: next.ids.requestId,
        startWorkflowOperation: new WithStartWorkflowOperation<typeof conversation>('conversation', {
          workflowId,
          taskQueue: g.h.taskQueue,
          args: [{ tenantId: 'acme', conversationId }],
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      });
      assert.deepEqual([accepted.state, accepted.runningTurnId], ['queued', lost.turnId]);
      // The conversation stops waiting for it once its wait has decided what to do with the missing workflow.
      await waitFor(async () => {
        const turns = await g.h.client.workflow.getHandle(workflowId).query(conversationTurns);
        return turns.running?.turnId !== lost.turnId;
      });
      await assert.rejects(
        g.h.client.workflowService.describeWorkflowExecution({
          namespace: g.h.client.options.namespace,
          execution: { workflowId: lost.turnId },
        }),
        (err: { code?: number }) => err.code === 5,
        'the conversation being deleted started the direct turn it adopted',
      );
      assert.equal(requestsFor(g.h, lostMessage).length, 0, 'the lost turn’s message reached the model');

      assert.equal(await g.turns.deleteConversation('acme', conversationId), 'deleted');
      assert.equal(await holdsMarker(), false);
      await g.h.client.workflow
        .getHandle(workflowId)
        .terminate()
        .catch(() => undefined);
    });
  });

  it('a direct start in flight when a deletion begins lands before it, and is deleted with the conversation', async () => {
    g.h.llm.respond(() => ({ steps: [{ text: marker('answer') }] }));
    const conversationId = uniqueId('del-inflight');
    // Holds a turn's start at Temporal's door: the claim is stored, the workflow not yet started.
    let atDoor: () => void = () => undefined;
    const reachedDoor = new Promise<void>((resolve) => {
      atDoor = resolve;
    });
    let open: () => void = () => undefined;
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    const door: WorkflowClientInterceptor = {
      async startWithDetails(input, next) {
        if (input.workflowType === 'chatTurn') {
          atDoor();
          await opened;
        }
        return next(input);
      },
    };
    const temporal = new Client({
      connection: g.h.client.connection,
      namespace: g.h.client.options.namespace,
      interceptors: { workflow: [door] },
    });
    await g.h.withWorker(async () => {
      const message = marker('user');
      const starting = startOrderedTurn(
        { temporal, pool: g.pool },
        { tenantId: 'acme', conversationId, requestId: uniqueId('req'), message },
        { taskQueue: g.h.taskQueue, startTimeoutMs: 60_000 },
      );
      const started = starting.then(
        (s) => ({ s, err: undefined }),
        (err: unknown) => ({ s: undefined, err }),
      );
      await reachedDoor;
      const deletion = g.turns.deleteConversation('acme', conversationId);
      let deletionEnded = false;
      void deletion.finally(() => {
        deletionEnded = true;
      });
      // Until the deletion has ended, or its mark waits on a lock (held by the start in flight).
      let markWaited = false;
      await waitFor(async () => {
        const { rowCount } = await g.pool.query(
          `SELECT 1 FROM pg_stat_activity
           WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ~ 'SET deleting_since'`,
        );
        markWaited = (rowCount ?? 0) > 0;
        return markWaited || deletionEnded;
      });
      open();
      const { s, err } = await started;
      assert.equal(await deletion, 'deleted');
      assert.ok(s, `the start held the conversation when the deletion began, so it went through: ${String(err)}`);
      await assert.rejects(
        g.h.client.workflowService.describeWorkflowExecution({
          namespace: g.h.client.options.namespace,
          execution: { workflowId: s.turnId },
        }),
        (e: { code?: number }) => e.code === 5,
        'the turn’s workflow outlived the deletion',
      );
      assert.ok(markWaited, 'the deletion’s mark waited for the start in flight');
      const { rowCount } = await g.pool.query(`SELECT 1 FROM turns WHERE id = $1`, [s.turnId]);
      assert.equal(rowCount, 0, 'the turn’s row outlived the deletion');
      assert.equal(await holdsMarker(message), false, 'the turn’s message outlived the deletion');
    });
  });

  it('races starts with a deletion: each start is refused, deleted with the conversation, or runs in the new one', async () => {
    g.h.llm.respond(() => ({ steps: [{ text: 'ok' }] }));
    const conversationId = uniqueId('del-burst');
    await g.h.withWorker(async () => {
      await waitForFinished(g.h, (await start('acme', conversationId, marker('user'))).requestTurnId);
      const messages = Array.from({ length: 10 }, () => marker('user'));
      const starts = messages.map((message, i) =>
        sleep(i * 30)
          .then(() => start('acme', conversationId, message))
          .then(
            (started) => ({ message, started, err: undefined }),
            (err: unknown) => ({ message, started: undefined, err }),
          ),
      );
      const deletion = sleep(90).then(() => g.turns.deleteConversation('acme', conversationId));
      const outcomes = await Promise.all(starts);
      assert.equal(await deletion, 'deleted');
      const seen = { refused: 0, deleted: 0, ran: 0 };
      for (const { message, started, err } of outcomes) {
        if (!started) {
          assert.ok(err instanceof TurnConflictError && err.reason === 'deleting', String(err));
          seen.refused += 1;
          continue;
        }
        // Never stuck: its turn is gone with the conversation, or it ends in the new one.
        let status: string | undefined;
        await waitFor(async () => {
          const { rows } = await g.pool.query<{ status: string }>(`SELECT status FROM turns WHERE id = $1`, [
            started.requestTurnId,
          ]);
          status = rows[0]?.status;
          return status === undefined || ['completed', 'failed', 'cancelled', 'steered'].includes(status);
        }, 60_000);
        if (status === undefined) {
          assert.equal(await holdsMarker(message), false, 'a deleted turn left its message behind');
          seen.deleted += 1;
        } else {
          assert.equal(status, 'completed');
          seen.ran += 1;
        }
      }
      console.log(`      (${JSON.stringify(seen)})`);
      // The conversation the deletion left behind takes turns as usual.
      const after = await start('acme', conversationId, 'after the burst');
      assert.equal((await waitForFinished(g.h, after.requestTurnId)).status, 'completed');
    });
  });

  /** Whether any row of any table of the database holds `needle` (default: any marker of this file). */
  async function holdsMarker(needle = prefix): Promise<boolean> {
    const { rows: tables } = await g.pool.query<{ name: string }>(
      `SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) AS name FROM information_schema.tables
       WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'`,
    );
    assert.ok(tables.length >= 10, `scanned ${tables.length} tables`);
    for (const { name } of tables) {
      const { rowCount } = await g.pool.query(`SELECT 1 FROM ${name} t WHERE strpos(t::text, $1) > 0 LIMIT 1`, [
        needle,
      ]);
      if (rowCount) return true;
    }
    return false;
  }

  async function usageRows(turnIds: string[]): Promise<number> {
    const { rows } = await g.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM llm_usage WHERE turn_id = ANY($1)`,
      [turnIds],
    );
    return rows[0]!.n;
  }
});

async function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function waitFor(ok: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error('condition never held');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
