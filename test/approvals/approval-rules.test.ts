import assert from 'node:assert/strict';
import { z } from 'zod';
import {
  approvalNeed,
  builtinTools,
  createToolRegistry,
  defineTool,
  MAX_APPROVAL_REASON_CHARS,
  ToolConfigError,
  type Tool,
} from '../../activities/tools';
import { StartTurnRequest } from '../../common';
import { catalogProblem } from '../../client/catalog';
import { ConfigError, loadWorkerConfig } from '../../worker/config';
import { checkApprovalTools } from '../../worker/create-worker';

const ctx = { turnId: 'turn/t/c/r', hop: 0, toolCallId: 'call_1' };
const call = (name: string, args: string) => ({ id: 'call_1', name, arguments: args });

const refund = defineTool({
  name: 'refund',
  description: 'Refunds an order.',
  parameters: z.object({ orderId: z.string(), amount: z.number() }),
  approval: ({ amount }) =>
    amount > 100 ? { approval: 'user', reason: `a refund of ${amount} is above 100` } : 'never',
  execute: () => Promise.resolve('refunded'),
});

describe('which tool calls need approval', () => {
  it("defaults to 'never' and honours 'user'", async () => {
    const plain = defineTool({
      name: 'plain',
      description: 'x',
      parameters: z.object({}),
      execute: () => Promise.resolve(1),
    });
    const strict = defineTool({ ...plain, name: 'strict', approval: 'user' });
    assert.deepEqual(await approvalNeed(plain, call('plain', '{}'), ctx, false), { required: false });
    assert.deepEqual(await approvalNeed(strict, call('strict', '{}'), ctx, false), { required: true, reason: null });
  });

  it('lets the function form decide per call from the validated arguments', async () => {
    assert.deepEqual(await approvalNeed(refund, call('refund', '{"orderId":"A-1","amount":40}'), ctx, false), {
      required: false,
    });
    assert.deepEqual(await approvalNeed(refund, call('refund', '{"orderId":"A-1","amount":250}'), ctx, false), {
      required: true,
      reason: 'a refund of 250 is above 100',
    });
  });

  it('asks nothing of arguments the tool would refuse anyway (the call runs nothing)', async () => {
    assert.deepEqual(await approvalNeed(refund, call('refund', '{"amount":"lots"}'), ctx, false), { required: false });
    assert.deepEqual(await approvalNeed(refund, call('refund', 'not json'), ctx, false), { required: false });
  });

  it('requires approval when the rule throws, and bounds the reason', async () => {
    const broken = defineTool({
      ...refund,
      name: 'broken',
      approval: () => {
        throw new Error('rule bug');
      },
    });
    assert.deepEqual(await approvalNeed(broken, call('broken', '{"orderId":"A","amount":1}'), ctx, false), {
      required: true,
      reason: null,
    });
    const wordy = defineTool({
      ...refund,
      name: 'wordy',
      approval: () => ({ approval: 'user', reason: 'x'.repeat(5000) }),
    });
    const need = await approvalNeed(wordy, call('wordy', '{"orderId":"A","amount":1}'), ctx, false);
    assert.ok(need.required && need.reason !== null && need.reason.length === MAX_APPROVAL_REASON_CHARS);
  });

  it('is forced by the worker or the request whatever the tool says', async () => {
    assert.deepEqual(await approvalNeed(refund, call('refund', '{"orderId":"A-1","amount":1}'), ctx, true), {
      required: true,
      reason: null,
    });
  });

  it('refuses a malformed approval setting when the registry is built', () => {
    const bad = { ...refund, name: 'bad', approval: 'sometimes' } as unknown as Tool;
    assert.throws(
      () => createToolRegistry([bad]),
      (err: unknown) => err instanceof ToolConfigError && /approval/.test(err.message),
    );
  });

  it('refuses TURNFLOW_APPROVAL_TOOLS naming a tool the worker does not offer', () => {
    const tools = createToolRegistry([...builtinTools(), refund]);
    checkApprovalTools(['refund', 'calculate'], tools);
    assert.throws(
      () => checkApprovalTools(['refund', 'refnud'], tools),
      (err: unknown) =>
        err instanceof ConfigError && /refnud/.test(err.message) && !/refund,/.test(err.message.split(':')[1] ?? ''),
    );
  });

  it('reads TURNFLOW_APPROVAL_TOOLS and TURNFLOW_APPROVAL_TIMEOUT (24 h by default)', () => {
    const base = { DATABASE_URL: 'postgres://u@localhost:5432/db', OPENAI_API_KEY: 'sk-test' };
    const defaults = loadWorkerConfig(base);
    assert.deepEqual(defaults.TURNFLOW_APPROVAL_TOOLS, []);
    assert.equal(defaults.TURNFLOW_APPROVAL_TIMEOUT, 86_400_000);
    const set = loadWorkerConfig({
      ...base,
      TURNFLOW_APPROVAL_TOOLS: 'refund, calculate',
      TURNFLOW_APPROVAL_TIMEOUT: '30m',
    });
    assert.deepEqual(set.TURNFLOW_APPROVAL_TOOLS, ['refund', 'calculate']);
    assert.equal(set.TURNFLOW_APPROVAL_TIMEOUT, 30 * 60_000);
    assert.equal(loadWorkerConfig({ ...base, TURNFLOW_APPROVAL_TIMEOUT: '1500' }).TURNFLOW_APPROVAL_TIMEOUT, 1500);
    assert.throws(() => loadWorkerConfig({ ...base, TURNFLOW_APPROVAL_TIMEOUT: 'soon' }), /TURNFLOW_APPROVAL_TIMEOUT/);
  });

  it('takes approvalTools in a request and refuses names no worker serves', () => {
    const parsed = StartTurnRequest.parse({
      conversationId: 'c',
      requestId: 'r',
      message: 'hi',
      approvalTools: ['refund'],
    });
    assert.deepEqual(parsed.approvalTools, ['refund']);
    const catalog = { taskQueue: 'q', defaultModel: 'm', models: ['m'], tools: ['refund'] };
    assert.equal(catalogProblem(catalog, { approvalTools: ['refund'] }), undefined);
    assert.equal(catalogProblem(catalog, { approvalTools: ['refnud'] }), 'unknown tool(s): "refnud"');
  });
});
