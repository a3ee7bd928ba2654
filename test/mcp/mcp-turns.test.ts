import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { CatalogCache, InvalidTurnRequestError, readCatalog, startTurn } from '../../client';
import { toolIdempotencyKey } from '../../common';
import { uniqueId } from '../support';
import { turnHarness, type TurnHarness } from '../turn/harness';
import {
  everythingHttp,
  everythingStdio,
  fixtureCalls,
  fixtureStdio,
  fingerprintOf,
  haveTimeServer,
  listTools,
  timeStdio,
  until,
} from './servers';

type Msg = { role: string; content?: unknown; tool_call_id?: string };

describe('MCP tools in turns', function () {
  this.timeout(120_000);
  let h: TurnHarness;
  let dir: string;

  beforeEach(async () => {
    h = await turnHarness();
    dir = await mkdtemp(path.join(os.tmpdir(), 'turnflow-mcp-'));
  });
  afterEach(async () => {
    await h.close();
    await rm(dir, { recursive: true, force: true });
  });

  const toolMessages = (request: number) =>
    (h.llm.requests[request]!.body.messages as Msg[]).filter((m) => m.role === 'tool');

  it('offers a stdio server-everything tool as <server>__<tool> and feeds its result to the model', async () => {
    h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_sum', name: 'everything__get-sum', arguments: { a: 2, b: 40 } }] }] },
      { steps: [{ text: 'It is 42.' }] },
    );
    const turn = await h.start({ message: 'what is 2+40?' });
    const result = await h.withWorker(() => turn.handle.result(), { mcpServers: { everything: everythingStdio() } });

    assert.equal(result.finishReason, 'stop');
    const offered = (
      h.llm.requests[0]!.body.tools as unknown as { function: { name: string; parameters: unknown } }[]
    ).find((t) => t.function.name === 'everything__get-sum');
    assert.ok(offered, 'the MCP tool is offered to the model');
    assert.equal((offered.function.parameters as { type: string }).type, 'object');
    const [tool] = toolMessages(1);
    assert.equal(tool?.tool_call_id, 'call_sum');
    assert.equal(tool?.content, 'The sum of 2 and 40 is 42.');
  });

  it('runs parallel calls to two servers (server-everything and mcp-server-time) in one hop', async function () {
    if (!(await haveTimeServer())) {
      this.skip(); // `npm run bootstrap` could not install mcp-server-time (no python3 with venv/pip): it said why.
    }
    h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'call_echo', name: 'everything__echo', arguments: { message: 'hi' } },
              {
                id: 'call_time',
                name: 'time__convert_time',
                arguments: { source_timezone: 'UTC', time: '12:00', target_timezone: 'Asia/Tokyo' },
              },
            ],
          },
        ],
      },
      { steps: [{ text: 'done' }] },
    );
    const turn = await h.start({ message: 'two servers' });
    await h.withWorker(() => turn.handle.result(), {
      mcpServers: { everything: everythingStdio(), time: timeStdio() },
    });
    const [echo, time] = toolMessages(1);
    assert.equal(echo?.tool_call_id, 'call_echo');
    assert.equal(echo?.content, 'Echo: hi');
    assert.equal(time?.tool_call_id, 'call_time');
    const converted = JSON.parse(String(time?.content)) as { target: { timezone: string; datetime: string } };
    assert.equal(converted.target.timezone, 'Asia/Tokyo');
    assert.match(converted.target.datetime, /T21:00:00\+09:00$/);
  });

  it('gives the model an isError result as the tool error, without retrying it', async function () {
    if (!(await haveTimeServer())) this.skip();
    h.llm.enqueue(
      {
        steps: [
          { toolCalls: [{ id: 'call_bad', name: 'time__get_current_time', arguments: { timezone: 'Mars/Olympus' } }] },
        ],
      },
      { steps: [{ text: 'sorry' }] },
    );
    const turn = await h.start({ message: 'time on mars' });
    await h.withWorker(() => turn.handle.result(), { mcpServers: { time: timeStdio() } });
    const [tool] = toolMessages(1);
    assert.match(String(tool?.content), /^Tool "time__get_current_time" failed: .*Invalid timezone/);
    const history = await turn.handle.fetchHistory();
    const started = (history.events ?? []).filter((e) => e.activityTaskStartedEventAttributes);
    const toolAttempts = started.map((e) => e.activityTaskStartedEventAttributes!.attempt);
    assert.deepEqual(toolAttempts, [1, 1, 1], 'llm, tool, llm: each once');
  });

  it('cancels a call past its server timeout on the server and tells the model', async () => {
    const log = path.join(dir, 'calls.jsonl');
    h.llm.enqueue(
      {
        steps: [{ toolCalls: [{ id: 'call_slow', name: 'fixture__slow_echo', arguments: { text: 'x', ms: 20_000 } }] }],
      },
      { steps: [{ text: 'too slow' }] },
    );
    const turn = await h.start({ message: 'slow' });
    await h.withWorker(() => turn.handle.result(), {
      mcpServers: { fixture: fixtureStdio(log, { timeoutMs: 1_000 }) },
    });
    const [tool] = toolMessages(1);
    assert.equal(tool?.content, 'Tool "fixture__slow_echo" timed out after 1000 ms.');
    // The server saw notifications/cancelled: its handler's signal aborted.
    const calls = await until('the cancel to reach the server', async () => {
      const c = await fixtureCalls(log);
      return c.some((x) => x.tool === 'slow_echo.cancelled') ? c : undefined;
    });
    assert.deepEqual(
      calls.map((c) => c.tool),
      ['slow_echo', 'slow_echo.cancelled'],
    );
  });

  it('restarts a stdio server killed mid-call and retries the call under the same idempotency key', async () => {
    const log = path.join(dir, 'calls.jsonl');
    h.llm.enqueue(
      {
        steps: [{ toolCalls: [{ id: 'call_k', name: 'fixture__slow_echo', arguments: { text: 'again', ms: 1_500 } }] }],
      },
      { steps: [{ text: 'ok' }] },
    );
    const turn = await h.start({ message: 'kill it' });
    await h.withWorker(
      async () => {
        const [first] = await until('the first call', async () => {
          const c = await fixtureCalls(log);
          return c.length > 0 ? c : undefined;
        });
        process.kill(first!.pid, 'SIGKILL');
        await turn.handle.result();
      },
      { mcpServers: { fixture: fixtureStdio(log) } },
    );
    const calls = (await fixtureCalls(log)).filter((c) => c.tool === 'slow_echo');
    assert.equal(calls.length, 2, 'one call, retried once');
    assert.equal(calls[0]!.key, calls[1]!.key, 'the same idempotency key');
    assert.equal(calls[0]!.key, toolIdempotencyKey({ turnId: turn.turnId, hop: 0, toolCallId: 'call_k' }));
    assert.notEqual(calls[0]!.pid, calls[1]!.pid, 'a new server process');
    const [tool] = toolMessages(1);
    assert.equal(tool?.content, 'echo: again');
  });

  it("gives up after the entry's maxAttempts on a server that dies in every call, under one key, and tells the model", async () => {
    const log = path.join(dir, 'calls.jsonl');
    h.llm.enqueue(
      { steps: [{ toolCalls: [{ id: 'call_c', name: 'fixture__crash', arguments: {} }] }] },
      { steps: [{ text: 'it keeps failing' }] },
    );
    const turn = await h.start({ message: 'crash it' });
    await h.withWorker(() => turn.handle.result(), {
      mcpServers: { fixture: fixtureStdio(log, { maxAttempts: 2 }) },
    });
    const calls = await fixtureCalls(log);
    assert.deepEqual(
      calls.map((c) => c.tool),
      ['crash', 'crash'],
      'two attempts',
    );
    assert.equal(calls[0]!.key, toolIdempotencyKey({ turnId: turn.turnId, hop: 0, toolCallId: 'call_c' }));
    assert.equal(calls[1]!.key, calls[0]!.key, 'the same idempotency key');
    assert.notEqual(calls[1]!.pid, calls[0]!.pid, 'the process started again');
    const [tool] = toolMessages(1);
    assert.match(
      String(tool?.content),
      /^The tool failed and was not retried further: the MCP server "fixture" could not be reached: /,
    );
  });

  it('heartbeats while a call runs on the server', async () => {
    const log = path.join(dir, 'calls.jsonl');
    h.llm.enqueue(
      {
        steps: [{ toolCalls: [{ id: 'call_hb', name: 'fixture__slow_echo', arguments: { text: 'hb', ms: 4_000 } }] }],
      },
      { steps: [{ text: 'done' }] },
    );
    const turn = await h.start({ message: 'take your time' });
    const beats = await h.withWorker(
      async () => {
        await until('the call to reach the server', async () =>
          (await fixtureCalls(log)).length > 0 ? true : undefined,
        );
        // Temporal records a pending activity's last heartbeat: it moves on while the server works.
        const seen = new Set<number>();
        while (seen.size < 2) {
          const { raw } = await turn.handle.describe();
          const pending = raw.pendingActivities?.find((a) => a.activityType?.name?.includes('executeTool'));
          if (!pending) break;
          const at = pending.lastHeartbeatTime?.seconds;
          if (at !== undefined && at !== null) seen.add(Number(at));
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
        await turn.handle.result();
        return seen.size;
      },
      { mcpServers: { fixture: fixtureStdio(log) } },
    );
    assert.ok(beats >= 2, `heartbeats seen at ${beats} distinct seconds during a 4 s call`);
    assert.equal(toolMessages(1)[0]?.content, 'echo: hb');
  });

  for (const change of ['change', 'remove'] as const) {
    it(`refuses a call whose tool ${change === 'change' ? 'changed its schema' : 'vanished'} after the hop that chose it, and tells the model`, async () => {
      const log = path.join(dir, 'calls.jsonl');
      const controlFile = path.join(dir, 'control');
      const logLines: string[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(line) });
      h.llm.enqueue(
        {
          steps: [
            { toolCalls: [{ id: 'call_l', name: 'fixture__lookup', arguments: { key: 'k1' } }] },
            { waitFor: 'chosen' },
          ],
        },
        { steps: [{ text: 'noted' }] },
      );
      const turn = await h.start({ message: 'look k1 up' });
      await h.withWorker(
        async () => {
          // The model has chosen the call (its hop's tools were read when the request was made); now the server
          // changes the tool, and the worker hears of it, before the call runs.
          await h.llm.gateReached('chosen');
          // The first listing (at the worker's start) is logged too: wait for the one after the change.
          const listings = () => logLines.filter((l) => l.includes('mcp tools listed')).length;
          const before = listings();
          await writeFile(controlFile, change);
          await until('the worker to re-read the tool list', () =>
            Promise.resolve(listings() > before ? true : undefined),
          );
          h.llm.release('chosen');
          await turn.handle.result();
        },
        {
          mcpServers: {
            fixture: fixtureStdio(log, { env: { MCP_FIXTURE_LOG: log, MCP_FIXTURE_CONTROL: controlFile } }),
          },
          logger,
        },
      );
      assert.deepEqual(
        (await fixtureCalls(log)).filter((c) => c.tool === 'lookup'),
        [],
        'the server never got the call',
      );
      const [tool] = toolMessages(1);
      assert.match(
        String(tool?.content),
        change === 'change'
          ? /"fixture__lookup" changed after it was offered/
          : /"fixture__lookup" is no longer offered/,
      );
      type Offered = { function: { name: string; parameters: { properties: Record<string, unknown> } } };
      const lookupIn = (request: number) =>
        (h.llm.requests[request]!.body.tools as unknown as Offered[]).find(
          (t) => t.function.name === 'fixture__lookup',
        );
      assert.deepEqual(
        Object.keys(lookupIn(0)!.function.parameters.properties),
        ['key'],
        'hop 0 offered the old schema',
      );
      if (change === 'change') {
        assert.deepEqual(Object.keys(lookupIn(1)!.function.parameters.properties).sort(), ['key', 'version']);
      } else {
        assert.equal(lookupIn(1), undefined, 'a vanished tool is not offered again');
      }
    });
  }

  it("publishes each MCP tool's fingerprint in the worker catalog, and again when its server changes or drops it", async () => {
    const log = path.join(dir, 'calls.jsonl');
    const controlFile = path.join(dir, 'control');
    const fixture = fixtureStdio(log, { env: { MCP_FIXTURE_LOG: log, MCP_FIXTURE_CONTROL: controlFile } });
    // The fingerprints as documented (sha256 of the listed name, description and input schema, first 16 hex
    // digits), of the tools as the fixture server lists them to a client of the test's own.
    const listed = await listTools(fixture);
    const expected = Object.fromEntries(listed.map((t) => [`fixture__${t.name}`, fingerprintOf(t)]));
    assert.deepEqual(Object.keys(expected).sort(), [
      'fixture__change_lookup',
      'fixture__crash',
      'fixture__lookup',
      'fixture__slow_echo',
    ]);
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const catalog = async () => (await readCatalog(h.env.pool, h.taskQueue))!;
    await h.withWorker(
      async () => {
        const atStart = await catalog();
        assert.deepEqual(atStart.toolFingerprints, expected, 'MCP tools only, none for the built-in tools');
        assert.ok(atStart.tools.includes('fixture__lookup') && atStart.tools.length > listed.length);

        await writeFile(controlFile, 'change');
        const changed = await until('the catalog to show the changed tool', async () => {
          const now = await catalog();
          return now.toolFingerprints?.['fixture__lookup'] !== expected['fixture__lookup'] ? now : undefined;
        });
        const relisted = lines
          .map((line) => JSON.parse(line) as { msg: string; tools?: Record<string, string> })
          .filter((line) => line.msg === 'mcp tools listed')
          .at(-1); // the first one is the list read at start
        assert.deepEqual(relisted?.tools, { lookup: changed.toolFingerprints?.['fixture__lookup'] }, 'as logged');
        assert.deepEqual(changed.toolFingerprints, { ...expected, fixture__lookup: relisted.tools['lookup'] });

        await writeFile(controlFile, 'remove');
        const dropped = await until('the catalog to drop the tool', async () => {
          const now = await catalog();
          return now.toolFingerprints && !('fixture__lookup' in now.toolFingerprints) ? now : undefined;
        });
        const { fixture__lookup: _gone, ...rest } = expected;
        assert.deepEqual(dropped.toolFingerprints, rest);
      },
      { mcpServers: { fixture }, logger },
    );
  });

  it('calls server-everything over Streamable HTTP', async () => {
    const server = await everythingHttp();
    try {
      h.llm.enqueue(
        { steps: [{ toolCalls: [{ id: 'call_h', name: 'remote__echo', arguments: { message: 'over http' } }] }] },
        { steps: [{ text: 'ok' }] },
      );
      const turn = await h.start({ message: 'http' });
      await h.withWorker(() => turn.handle.result(), { mcpServers: { remote: { url: server.url } } });
      assert.equal(toolMessages(1)[0]?.content, 'Echo: over http');
    } finally {
      await server.close();
    }
  });

  it("refuses a start asking for an MCP tool no worker serves, and accepts the worker's own", async () => {
    h.llm.enqueue({ steps: [{ text: 'fine' }] });
    await h.withWorker(
      async () => {
        const catalog = new CatalogCache(h.env.pool);
        await assert.rejects(
          startTurn(
            { temporal: h.client, pool: h.env.pool, catalog },
            { conversationId: uniqueId('conv'), requestId: uniqueId('req'), message: 'x', tools: ['everything__nope'] },
            { taskQueue: h.taskQueue },
          ),
          (err: unknown) => err instanceof InvalidTurnRequestError && /everything__nope/.test(err.message),
        );
        const turn = await startTurn(
          { temporal: h.client, pool: h.env.pool, catalog },
          { conversationId: uniqueId('conv'), requestId: uniqueId('req'), message: 'y', tools: ['everything__echo'] },
          { taskQueue: h.taskQueue },
        );
        await turn.handle.result();
        const offered = (h.llm.requests[0]!.body.tools as { function: { name: string } }[]).map((t) => t.function.name);
        assert.deepEqual(offered, ['everything__echo']);
      },
      { mcpServers: { everything: everythingStdio() } },
    );
  });

  it('keeps ${VAR} secrets out of the workflow history and the logs', async () => {
    const secret = `s3cret-${Date.now()}-value`;
    process.env['TURNFLOW_TEST_MCP_SECRET'] = secret;
    const lines: string[] = [];
    const logger = pino({ level: 'trace' }, { write: (line: string) => void lines.push(line) });
    const server = await everythingHttp();
    try {
      h.llm.enqueue(
        { steps: [{ toolCalls: [{ id: 'call_s', name: 'remote__echo', arguments: { message: 'hello' } }] }] },
        { steps: [{ text: 'ok' }] },
      );
      const turn = await h.start({ message: 'secret' });
      await h.withWorker(() => turn.handle.result(), {
        logger,
        mcpServers: {
          remote: { url: server.url, headers: { Authorization: 'Bearer ${TURNFLOW_TEST_MCP_SECRET}' } },
          local: everythingStdio({ env: { API_TOKEN: '${TURNFLOW_TEST_MCP_SECRET}' } }),
        },
      });
      assert.equal(toolMessages(1)[0]?.content, 'Echo: hello');
      const history = JSON.stringify(await turn.handle.fetchHistory());
      assert.ok(lines.length > 0, 'the worker logged');
      assert.ok(lines.some((l) => l.includes('mcp server started')));
      assert.ok(!history.includes(secret), 'no secret in the history');
      assert.ok(!lines.join('\n').includes(secret), 'no secret in the logs');
    } finally {
      delete process.env['TURNFLOW_TEST_MCP_SECRET'];
      await server.close();
    }
  });
});
