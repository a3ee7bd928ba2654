import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineTool } from '../../activities/tools';
import { AnswerAssembler, hopLimitWarning, HOP_LIMIT_SEPARATOR, type TurnEvent } from '../../common';
import type { ScriptInput } from '../../scripted-llm';
import { uniqueId } from '../support';
import { finalMessage, storedEvents } from '../turn/harness';
import { testTools } from '../turn/test-tools';
import { gatewayHarness, readEvents, type GatewayHarness, type SseEvent } from './harness';

type Msg = {
  role: string;
  content?: unknown;
  tool_call_id?: string;
  tool_calls?: { id: string; function: { name: string; arguments: string } }[];
};

/** Tools whose output is hostile, beside the shared test tools. */
function hostileTools() {
  const nul = defineTool({
    name: 'nul_output',
    description: 'Returns text with a NUL and a lone surrogate.',
    parameters: z.object({}),
    execute: () => Promise.resolve('before\u0000after\uD800end'),
  });
  const circular = defineTool({
    name: 'circular_output',
    description: 'Returns a value that is not JSON.',
    parameters: z.object({}),
    execute: () => {
      const value: Record<string, unknown> = { a: 1 };
      value['self'] = value;
      return Promise.resolve(value);
    },
  });
  return [nul, circular];
}

describe('gateway: bad model and tool output', function () {
  this.timeout(120_000);
  let g: GatewayHarness;
  let tools: ReturnType<typeof testTools>;

  beforeEach(async () => {
    g = await gatewayHarness();
    tools = testTools();
  });
  afterEach(async () => {
    await g.close();
  });

  const messagesOf = (i: number) => g.h.llm.requests[i]!.body.messages as Msg[];

  /** Runs one turn through the gateway with the given model scripts; returns what the caller and the store saw. */
  async function turn(scripts: ScriptInput[], body: Record<string, unknown> = {}) {
    g.h.llm.enqueue(...scripts);
    const requestId = uniqueId('req');
    const { response, events } = await g.h.withWorker(
      async () => {
        const response = await g.postTurn({ requestId, message: 'go', ...body });
        return { response, events: await readEvents(response) };
      },
      { tools: [...tools.tools, ...hostileTools()] },
    );
    const turnId = decodeURIComponent(response.headers.get('turn-id') ?? '');
    const [final] = await finalMessage(g.h.env, turnId);
    const live = new AnswerAssembler();
    events.forEach((e) => e.turnEvent && live.apply(e.turnEvent));
    return { response, events, turnId, final, liveText: live.text };
  }

  function typesOf(events: SseEvent[]): string[] {
    return events.map((e) => String(e.event)).filter((t) => t !== 'text');
  }

  function toolResults(events: SseEvent[]): Extract<TurnEvent, { type: 'tool_result' }>[] {
    return events
      .map((e) => e.turnEvent)
      .filter((e): e is Extract<TurnEvent, { type: 'tool_result' }> => e?.type === 'tool_result');
  }

  describe('model output', () => {
    it('answers a call to a tool the turn did not offer with the unknown-tool result and runs nothing', async () => {
      const { response, events, final } = await turn(
        [
          { steps: [{ toolCalls: [{ id: 'call_1', name: 'charge_card', arguments: '{"amount":5}' }] }] },
          { steps: [{ text: 'Could not.' }] },
        ],
        { tools: ['echo'] },
      );
      assert.equal(response.status, 200);
      assert.equal(tools.effects.length, 0, 'the tool the turn did not offer never ran');
      const [result] = toolResults(events);
      assert.equal(result?.isError, true);
      assert.equal(result?.content, 'Unknown tool "charge_card". Available tools: echo.');
      assert.equal(messagesOf(1).find((m) => m.role === 'tool')?.content, result?.content);
      assert.equal(final?.content, 'Could not.');
    });

    it('answers every tool call with the unknown-tool result when the turn offered no tools', async () => {
      const { events } = await turn(
        [
          { steps: [{ toolCalls: [{ id: 'call_1', name: 'charge_card', arguments: '{"amount":5}' }] }] },
          { steps: [{ text: 'ok' }] },
        ],
        { tools: [] },
      );
      assert.equal(tools.effects.length, 0);
      assert.equal(toolResults(events)[0]?.content, 'Unknown tool "charge_card". No tools are available.');
      assert.equal(g.h.llm.requests[0]!.body.tools, undefined, 'no tools were offered');
    });

    it('gives two calls with the same id in one hop distinct ids, runs both and answers each', async () => {
      const { events, final } = await turn([
        {
          steps: [
            {
              toolCalls: [
                { id: 'dup', name: 'echo', arguments: '{"text":"first"}' },
                { id: 'dup', name: 'echo', arguments: '{"text":"second"}' },
              ],
            },
          ],
        },
        { steps: [{ text: 'both done' }] },
      ]);
      const second = messagesOf(1);
      assert.deepEqual(
        second.find((m) => m.role === 'assistant')?.tool_calls?.map((c) => c.id),
        ['dup', 'dup_2'],
      );
      assert.deepEqual(
        second.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content]),
        [
          ['dup', 'echo: first'],
          ['dup_2', 'echo: second'],
        ],
      );
      assert.deepEqual(
        toolResults(events).map((r) => [r.toolCallId, r.content]),
        [
          ['dup', 'echo: first'],
          ['dup_2', 'echo: second'],
        ],
      );
      assert.equal(final?.content, 'both done');
    });

    it('replaces a tool-call id too long for a key by a stable derived one and completes the turn', async () => {
      const longId = 'x'.repeat(3_000);
      const derived = `call_h0_x${createHash('sha256').update(longId).digest('hex').slice(0, 32)}`;
      const { response, events, final } = await turn([
        { steps: [{ toolCalls: [{ id: longId, name: 'echo', arguments: '{"text":"hi"}' }] }] },
        { steps: [{ text: 'fine' }] },
      ]);
      assert.equal(response.status, 200);
      assert.equal(events.at(-1)?.event, 'done');
      const second = messagesOf(1);
      assert.equal(second.find((m) => m.role === 'assistant')?.tool_calls?.[0]?.id, derived);
      assert.deepEqual(
        second.filter((m) => m.role === 'tool').map((m) => [m.tool_call_id, m.content]),
        [[derived, 'echo: hi']],
      );
      assert.equal(final?.content, 'fine');
    });

    it('cuts an overlong tool name, answers it as unknown and completes the turn', async () => {
      const name = `t${'o'.repeat(299)}`;
      const { events, final } = await turn([
        { steps: [{ toolCalls: [{ id: 'call_n', name, arguments: '{}' }] }] },
        { steps: [{ text: 'named badly' }] },
      ]);
      const [result] = toolResults(events);
      assert.equal(result?.name, name.slice(0, 64));
      assert.match(result?.content ?? '', new RegExp(`^Unknown tool "${name.slice(0, 64)}"\\.`));
      assert.equal(final?.content, 'named badly');
    });

    it('stores and streams model text with NUL and lone surrogates replaced, the caller seeing the stored text', async () => {
      const { response, events, final, liveText } = await turn([
        {
          steps: [
            { text: 'a\u0000b' },
            { delta: { content: ' lone \uDC00 high \uD800' } },
            { delta: { content: ' split \uD83D' } },
            { delta: { content: '\uDE00 pair' } },
          ],
        },
      ]);
      assert.equal(response.status, 200);
      assert.equal(events.at(-1)?.event, 'done');
      const expected = 'a\uFFFDb lone \uFFFD high \uFFFD split \uD83D\uDE00 pair';
      assert.equal(final?.content, expected);
      assert.equal(liveText, expected);
      assert.equal(g.h.llm.requests.length, 1, 'stored at the first attempt');
    });

    it('stores tool arguments and names with NUL characters replaced and completes the turn', async () => {
      const { events, final } = await turn([
        {
          steps: [
            {
              toolCalls: [
                { id: 'call_a', name: 'echo', arguments: '{"text":"x\u0000y"}' },
                { id: 'call_b', name: 'bad\u0000name', arguments: '{}' },
              ],
            },
          ],
        },
        { steps: [{ text: 'done' }] },
      ]);
      const calls = events.find((e) => e.event === 'tool_calls')?.data['calls'] as { arguments: string }[];
      assert.equal(calls[0]?.arguments, '{"text":"x\uFFFDy"}');
      assert.deepEqual(
        toolResults(events).map((r) => [r.name, r.content]),
        [
          ['echo', 'echo: x\uFFFDy'],
          [
            'bad\uFFFDname',
            'Unknown tool "bad\uFFFDname". Available tools: echo, boom, slow, charge_card, always_flaky, patient, nul_output, circular_output.',
          ],
        ],
      );
      assert.equal(final?.content, 'done');
    });

    it('answers invalid and huge tool arguments with a message the model can read', async () => {
      const huge = JSON.stringify({ text: 'z'.repeat(300_000) });
      const { events, final } = await turn([
        {
          steps: [
            {
              toolCalls: [
                { id: 'call_bad', name: 'echo', arguments: '{"text": ' },
                { id: 'call_huge', name: 'echo', arguments: huge, argChunks: 30 },
              ],
            },
          ],
        },
        { steps: [{ text: 'handled' }] },
      ]);
      const [bad, big] = toolResults(events);
      assert.equal(bad?.isError, true);
      assert.match(bad?.content ?? '', /^Arguments for tool "echo" are not valid JSON/);
      const echoed = `echo: ${'z'.repeat(300_000)}`;
      assert.equal(
        big?.content,
        `${echoed.slice(0, 100_000)}\n[… ${echoed.length - 100_000} more characters cut: the result was too long]`,
      );
      const stored = await g.pool.query<{ n: number }>(
        `SELECT length(tool_calls->1->'function'->>'arguments') AS n FROM messages WHERE kind = 'hop' AND hop = 0
         AND turn_id = $1`,
        [decodeURIComponent(events[0]!.data['turnId'] as string)],
      );
      assert.equal(stored.rows[0]?.n, huge.length, 'the huge arguments are stored whole');
      assert.equal(final?.content, 'handled');
    });

    it('does not announce tool calls that will not run at the hop limit', async () => {
      const { events, final } = await turn(
        [
          {
            steps: [
              { text: 'Let me check.' },
              { toolCalls: [{ id: 'call_1', name: 'echo', arguments: '{"text":"a"}' }] },
            ],
          },
        ],
        { maxHops: 0 },
      );
      assert.deepEqual(typesOf(events), ['hop_limit', 'done']);
      assert.equal(toolResults(events).length, 0);
      assert.equal(final?.content, `Let me check.${HOP_LIMIT_SEPARATOR}${hopLimitWarning(0)}`);
      assert.equal(g.h.llm.requests.length, 1);
    });
  });

  describe('tool output', () => {
    it('stores tool output with NUL and lone surrogates replaced, the model and the caller seeing the same', async () => {
      const { events, final } = await turn([
        { steps: [{ toolCalls: [{ id: 'call_n', name: 'nul_output', arguments: '{}' }] }] },
        { steps: [{ text: 'read it' }] },
      ]);
      const expected = 'before\uFFFDafter\uFFFDend';
      assert.deepEqual(
        toolResults(events).map((r) => [r.content, r.isError]),
        [[expected, false]],
      );
      assert.equal(messagesOf(1).find((m) => m.role === 'tool')?.content, expected);
      assert.equal(final?.content, 'read it');
    });

    it('answers output that is not JSON, a tool that throws and a tool that hangs, and completes the turn', async () => {
      const { events, final } = await turn([
        {
          steps: [
            {
              toolCalls: [
                { id: 'call_c', name: 'circular_output', arguments: '{}' },
                { id: 'call_t', name: 'boom', arguments: '{}' },
                { id: 'call_h', name: 'slow', arguments: '{}' },
              ],
            },
          ],
        },
        { steps: [{ text: 'all answered' }] },
      ]);
      const results = toolResults(events);
      assert.deepEqual(
        results.map((r) => [r.toolCallId, r.isError]),
        [
          ['call_c', true],
          ['call_t', true],
          ['call_h', true],
        ],
      );
      assert.match(results[0]!.content, /circular_output/);
      assert.match(results[1]!.content, /the boom tool exploded/);
      assert.match(results[2]!.content, /timed out after 300 ms/);
      assert.equal(final?.content, 'all answered');
      const stored = await storedEvents(g.h.env, String(events[0]!.data['turnId']));
      assert.equal(stored.filter((e) => e.type === 'tool_result').length, 3, 'each result stored once');
    });
  });
});
