import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import {
  builtinTools,
  createToolRegistry,
  defineTool,
  RetryableToolError,
  runToolCall,
  TOOL_FAILURE_TYPES,
  ToolCallMismatchError,
  toolIdempotencyKey,
  ToolOutcome,
  ToolTimeoutError,
  toToolFailure,
  type ToolCall,
  type ToolContext,
} from '../../activities/tools';

function contextFor(toolCallId: string, overrides: Partial<ToolContext> = {}): ToolContext {
  return {
    idempotencyKey: toolIdempotencyKey({ turnId: 'turn-42', hop: 2, toolCallId }),
    signal: new AbortController().signal,
    deadline: new Date(Date.now() + 60_000),
    turnId: 'turn-42',
    hop: 2,
    toolCallId,
    ...overrides,
  };
}

function call(name: string, args: string, id = 'call_1'): ToolCall {
  return { id, name, arguments: args };
}

/** Runs `toolCall` with a context built for its id, and checks the outcome has the declared shape. */
async function run(
  registry: ReturnType<typeof createToolRegistry>,
  toolCall: ToolCall,
  overrides: Partial<ToolContext> = {},
) {
  const outcome = await runToolCall(registry, toolCall, contextFor(toolCall.id, overrides));
  assert.ok(ToolOutcome.safeParse(outcome).success, JSON.stringify(outcome));
  return outcome;
}

/** Resolves once `signal` aborts, with its reason. */
function aborted(signal: AbortSignal): Promise<unknown> {
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}

describe('runToolCall', () => {
  const seen: ToolContext[] = [];
  const hangingSignals: AbortSignal[] = [];
  let returnValue: unknown = 'plain text';
  let thrown: unknown = new Error('boom');

  const registry = createToolRegistry([
    ...builtinTools(),
    defineTool({
      name: 'record_ctx',
      description: 'Records the context it got.',
      parameters: z.object({}),
      execute: (_args, ctx) => {
        seen.push(ctx);
        return Promise.resolve(returnValue);
      },
    }),
    defineTool({
      name: 'greet',
      description: 'Greets.',
      parameters: z.object({ name: z.string(), times: z.number().int().min(1).default(1) }),
      execute: ({ name, times }) => Promise.resolve(`hello ${name}`.repeat(times)),
    }),
    defineTool({
      name: 'store_json',
      description: 'Takes any JSON value.',
      parameters: z.object({ value: z.json() }),
      execute: ({ value }) => Promise.resolve(typeof value),
    }),
    defineTool({
      name: 'explode',
      description: 'Always throws.',
      parameters: z.object({}),
      // Rejects with whatever a test sets, non-Errors included, to check how each is reported.
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
      execute: () => Promise.reject(thrown),
    }),
    defineTool({
      name: 'explode_sync',
      description: 'Throws before returning a promise.',
      parameters: z.object({}),
      execute: () => {
        throw new TypeError('not a promise');
      },
    }),
    defineTool({
      name: 'hang',
      description: 'Never finishes on its own.',
      parameters: z.object({}),
      timeoutMs: 40,
      execute: async (_args, ctx) => {
        hangingSignals.push(ctx.signal);
        await aborted(ctx.signal);
        throw new Error('aborted, and this late failure must be ignored');
      },
    }),
  ]);

  beforeEach(() => {
    seen.length = 0;
    hangingSignals.length = 0;
    returnValue = 'plain text';
    thrown = new Error('boom');
  });

  describe('results', () => {
    it('passes a string result through as-is', async () => {
      assert.deepEqual(await run(registry, call('record_ctx', '{}')), { content: 'plain text', isError: false });
    });

    it('serialises any other result as JSON', async () => {
      returnValue = { a: [1, 'two'], b: null };
      assert.deepEqual(await run(registry, call('record_ctx', '{}')), {
        content: '{"a":[1,"two"],"b":null}',
        isError: false,
      });
      returnValue = 42;
      assert.equal((await run(registry, call('record_ctx', '{}'))).content, '42');
      returnValue = undefined;
      assert.equal((await run(registry, call('record_ctx', '{}'))).content, 'null');
    });

    it('reports a result JSON cannot hold as a tool error', async () => {
      returnValue = { big: 10n };
      const outcome = await run(registry, call('record_ctx', '{}'));
      assert.equal(outcome.errorType, 'tool_error');
      assert.match(
        outcome.content,
        /^Tool "record_ctx" returned a result that cannot be serialised as JSON: TypeError: /,
      );
    });

    it('runs calculate end to end', async () => {
      assert.deepEqual(await run(registry, call('calculate', '{"expression":"2^3^2"}')), {
        content: '{"expression":"2^3^2","result":512}',
        isError: false,
      });
    });

    it('applies schema defaults before calling the tool', async () => {
      assert.equal((await run(registry, call('greet', '{"name":"Ada"}'))).content, 'hello Ada');
    });
  });

  describe('the context a tool gets', () => {
    it('carries the caller identity and idempotency key, with its own signal and a deadline within the timeout', async () => {
      const callerDeadline = new Date(Date.now() + 60_000);
      const before = Date.now();
      await run(registry, call('record_ctx', '{}', 'call_ctx'), { deadline: callerDeadline });
      const [ctx] = seen;
      assert.ok(ctx);
      assert.equal(ctx.idempotencyKey, 'tool:turn-42:2:call_ctx');
      assert.equal(ctx.turnId, 'turn-42');
      assert.equal(ctx.hop, 2);
      assert.equal(ctx.toolCallId, 'call_ctx');
      assert.equal(ctx.signal.aborted, false);
      // The default timeout (30 s) is sooner than the caller's deadline (60 s).
      assert.ok(ctx.deadline.getTime() >= before + 30_000 && ctx.deadline.getTime() <= Date.now() + 30_000);
    });

    it("keeps the caller's deadline when it is sooner than the timeout", async () => {
      const callerDeadline = new Date(Date.now() + 5_000);
      await run(registry, call('record_ctx', '{}'), { deadline: callerDeadline });
      assert.equal(seen[0]?.deadline.getTime(), callerDeadline.getTime());
    });

    it('builds the same idempotency key on every retry and a different one per hop and call', () => {
      const key = toolIdempotencyKey({ turnId: 't', hop: 0, toolCallId: 'c' });
      assert.equal(key, toolIdempotencyKey({ turnId: 't', hop: 0, toolCallId: 'c' }));
      assert.notEqual(key, toolIdempotencyKey({ turnId: 't', hop: 1, toolCallId: 'c' }));
      assert.notEqual(key, toolIdempotencyKey({ turnId: 't', hop: 0, toolCallId: 'd' }));
    });
  });

  describe('arguments', () => {
    it('treats empty arguments as {}', async () => {
      assert.equal((await run(registry, call('record_ctx', ''))).isError, false);
      assert.equal((await run(registry, call('record_ctx', '  \n'))).isError, false);
      assert.equal(seen.length, 2);
    });

    it('unwraps arguments the model double-encoded as a JSON string', async () => {
      assert.equal((await run(registry, call('greet', JSON.stringify('{"name":"Bo"}')))).content, 'hello Bo');
    });

    it('reports invalid JSON with the parser error and an excerpt', async () => {
      const outcome = await run(registry, call('greet', '{"name": "Ada'));
      assert.equal(outcome.isError, true);
      assert.equal(outcome.errorType, 'invalid_json');
      assert.match(
        outcome.content,
        /^Arguments for tool "greet" are not valid JSON \(.+\)\. Received: "\{\\"name\\": \\"Ada" \(13 chars\)\./,
      );
      assert.match(outcome.content, /Send a JSON object matching the tool parameters\.$/);
    });

    it('cuts the excerpt of long invalid JSON to 200 characters', async () => {
      const outcome = await run(registry, call('greet', `{${'x'.repeat(1000)}`));
      assert.equal(outcome.errorType, 'invalid_json');
      assert.match(outcome.content, new RegExp(`Received: "\\{${'x'.repeat(199)}…" \\(1001 chars\\)`));
    });

    it('reports schema violations with z.prettifyError', async () => {
      const outcome = await run(registry, call('greet', '{"name": 7, "times": 0}'));
      assert.equal(outcome.errorType, 'invalid_arguments');
      assert.equal(
        outcome.content,
        'Invalid arguments for tool "greet":\n' +
          '✖ Invalid input: expected string, received number\n  → at name\n' +
          '✖ Too small: expected number to be >=1\n  → at times',
      );
    });

    it('reports JSON that is not an object as invalid arguments', async () => {
      const outcome = await run(registry, call('greet', '["Ada"]'));
      assert.equal(outcome.errorType, 'invalid_arguments');
      assert.match(outcome.content, /expected object, received array/);
    });

    it('answers arguments nested 10,000 levels deep with a readable error, not a stack overflow', async () => {
      const arrays = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
      const objects = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
      const calls = [
        call('store_json', `{"value":${arrays}}`),
        call('store_json', `{"value":${objects}}`),
        call('greet', `{"name":"Ada","extra":${arrays}}`),
        // Double-encoded: the string holds the deep object.
        call('store_json', JSON.stringify(`{"value":${arrays}}`)),
      ];
      for (const toolCall of calls) {
        const outcome = await run(registry, toolCall);
        assert.equal(outcome.errorType, 'invalid_arguments', toolCall.arguments.slice(0, 40));
        assert.match(
          outcome.content,
          new RegExp(
            `^Arguments for tool "${toolCall.name}" nest arrays and objects more than 64 levels deep; ` +
              'at most 64 are accepted\\. Send a flatter JSON object matching the tool parameters\\.$',
          ),
        );
      }
      // 64 levels still reach the tool.
      const ok = await run(registry, call('store_json', `{"value":${'['.repeat(63)}${']'.repeat(63)}}`));
      assert.deepEqual(ok, { content: 'object', isError: false });
    });

    it('does not run the tool when the arguments are invalid', async () => {
      await run(registry, call('record_ctx', '[]'));
      assert.equal(seen.length, 0);
    });
  });

  describe('failures the model reads', () => {
    it('names an unknown tool and lists the available ones', async () => {
      const outcome = await run(registry, call('get_weather', '{}'));
      assert.deepEqual(outcome, {
        content:
          'Unknown tool "get_weather". Available tools: get_current_time, calculate, record_ctx, greet, store_json, explode, explode_sync, hang.',
        isError: true,
        errorType: 'unknown_tool',
      });
    });

    it('says when no tools are available at all', async () => {
      const outcome = await run(registry.subset([]), call('calculate', '{}'));
      assert.equal(outcome.content, 'Unknown tool "calculate". No tools are available.');
    });

    it("reports a tool's error message without its stack", async () => {
      const outcome = await run(registry, call('explode', '{}'));
      assert.deepEqual(outcome, { content: 'Tool "explode" failed: boom', isError: true, errorType: 'tool_error' });
    });

    it('names the error class when it is not a plain Error, and survives a synchronous throw', async () => {
      const outcome = await run(registry, call('explode_sync', '{}'));
      assert.equal(outcome.content, 'Tool "explode_sync" failed: TypeError: not a promise');
      assert.equal(outcome.errorType, 'tool_error');
    });

    it('reports thrown non-errors and zod errors readably', async () => {
      thrown = 'plain string';
      assert.equal((await run(registry, call('explode', '{}'))).content, 'Tool "explode" failed: plain string');
      thrown = { code: 'E42' };
      assert.equal((await run(registry, call('explode', '{}'))).content, 'Tool "explode" failed: {"code":"E42"}');
      thrown = z.object({ id: z.string() }).safeParse({}).error;
      assert.equal(
        (await run(registry, call('explode', '{}'))).content,
        'Tool "explode" failed: ✖ Invalid input: expected string, received undefined\n  → at id',
      );
    });

    it('truncates a very long error message', async () => {
      thrown = new Error('y'.repeat(5_000));
      const outcome = await run(registry, call('explode', '{}'));
      assert.equal(outcome.content, `Tool "explode" failed: ${'y'.repeat(2_000)}… (truncated)`);
    });

    it("reports a calculator error with the expression's position", async () => {
      const outcome = await run(registry, call('calculate', '{"expression":"1/0"}'));
      assert.equal(outcome.errorType, 'tool_error');
      assert.equal(
        outcome.content,
        'Tool "calculate" failed: CalculationError: At position 1: division by zero\n  1/0\n   ^',
      );
    });

    it('times out a tool that runs past its timeout and aborts its signal', async () => {
      const started = Date.now();
      const outcome = await run(registry, call('hang', '{}'));
      assert.deepEqual(outcome, { content: 'Tool "hang" timed out after 40 ms.', isError: true, errorType: 'timeout' });
      assert.ok(Date.now() - started < 1_000);
      const [signal] = hangingSignals;
      assert.equal(signal?.aborted, true);
      assert.ok(signal.reason instanceof ToolTimeoutError);
      assert.equal(signal.reason.timeoutMs, 40);
    });

    it("shortens the timeout to the caller's deadline", async () => {
      const outcome = await run(registry, call('hang', '{}'), { deadline: new Date(Date.now() + 15) });
      assert.equal(outcome.errorType, 'timeout');
      const ms = Number(/^Tool "hang" timed out after (\d+) ms\.$/.exec(outcome.content)?.[1]);
      assert.ok(ms > 0 && ms <= 15, outcome.content);
    });

    it('does not start a tool whose deadline has passed', async () => {
      const outcome = await run(registry, call('record_ctx', '{}'), { deadline: new Date(Date.now() - 1) });
      assert.equal(outcome.errorType, 'timeout');
      assert.equal(outcome.content, 'Tool "record_ctx" was not started: its deadline had passed.');
      assert.equal(seen.length, 0);
    });

    it('reports cancellation mid-run and passes the reason on to the tool', async () => {
      const caller = new AbortController();
      const pending = run(registry, call('hang', '{}'), { signal: caller.signal });
      await new Promise((resolve) => setTimeout(resolve, 5));
      caller.abort(new Error('turn cancelled'));
      const outcome = await pending;
      assert.deepEqual(outcome, {
        content: 'Tool "hang" was cancelled before it finished.',
        isError: true,
        errorType: 'cancelled',
      });
      assert.equal((hangingSignals[0]?.reason as Error).message, 'turn cancelled');
    });

    it('does not start a tool when the call is already cancelled', async () => {
      const caller = new AbortController();
      caller.abort();
      const outcome = await run(registry, call('record_ctx', '{}'), { signal: caller.signal });
      assert.equal(outcome.errorType, 'cancelled');
      assert.equal(seen.length, 0);
    });
  });

  describe('failures that are thrown', () => {
    it('rethrows RetryableToolError so Temporal retries the activity', async () => {
      thrown = new RetryableToolError('upstream 503', { retryAfterMs: 2_000 });
      await assert.rejects(run(registry, call('explode', '{}')), (err: unknown) => err === thrown);
    });

    it('throws ToolCallMismatchError when the context belongs to another call', async () => {
      await assert.rejects(
        runToolCall(registry, call('record_ctx', '{}', 'call_a'), contextFor('call_b')),
        (err: unknown) =>
          err instanceof ToolCallMismatchError && err.callId === 'call_a' && err.contextToolCallId === 'call_b',
      );
      assert.equal(seen.length, 0);
    });
  });

  describe('toToolFailure', () => {
    it("maps RetryableToolError to a retryable failure with the requested delay, without the tool's text", () => {
      const cause = new RetryableToolError('upstream 503 for order A-1001', { retryAfterMs: 2_000 });
      const failure = toToolFailure(cause);
      assert.equal(failure.type, TOOL_FAILURE_TYPES.retryable);
      assert.equal(failure.nonRetryable, false);
      assert.equal(failure.nextRetryDelay, 2_000);
      // The failure reaches Temporal's history: neither its message nor a cause carries the tool's words.
      assert.equal(failure.message, 'the tool failed transiently and asked to be retried');
      assert.equal(failure.cause, undefined);
    });

    it('maps anything else to a non-retryable internal failure and passes ApplicationFailure through', () => {
      const failure = toToolFailure(new ToolCallMismatchError('a', 'b'));
      assert.equal(failure.type, TOOL_FAILURE_TYPES.internal);
      assert.equal(failure.nonRetryable, true);
      const own = ApplicationFailure.nonRetryable('x', 'custom');
      assert.equal(toToolFailure(own), own);
      assert.equal(toToolFailure('weird').message, 'the tool call failed (Error)');
    });
  });
});
