import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Client } from '@temporalio/client';
import { WorkflowNotFoundError, type Payload } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { startOrderedTurn } from '../../client';
import {
  AesGcmPayloadCodec,
  encryptionDataConverter,
  EncryptionKeys,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  startCodecServer,
  type CodecServer,
  type EncryptionKey,
} from '../../codec';
import { conversationWorkflowIdFor, type ChatTurnResult } from '../../common';
import { TemporalEnv } from '../../config';
import { uniqueId } from '../support';
import { turnHarness, workflowBundle, type TurnHarness } from '../turn/harness';

/**
 * Issue 21 item 2: with keys, every payload the worker and the client send to Temporal is AES-256-GCM encrypted under
 * the first key; histories written under an old key still replay and decode once a new key is put first; a codec
 * server decodes them for the Temporal UI.
 */
describe('encrypted payloads', function () {
  this.timeout(180_000);
  const keyA: EncryptionKey = { id: 'a-2026', key: randomBytes(32) };
  const keyB: EncryptionKey = { id: 'b-2027', key: randomBytes(32) };
  let h: TurnHarness;

  before(async () => {
    h = await turnHarness();
  });
  after(async () => {
    await h?.close();
  });

  const clientWith = (keys: EncryptionKey[] | undefined) =>
    new Client({
      connection: h.client.connection,
      namespace: h.client.options.namespace,
      dataConverter: encryptionDataConverter(keys),
    });

  it('encrypts every payload under the first key; after adding a new first key old histories replay and decode', async () => {
    h.llm.respond((request) => {
      const messages = request.body.messages as { role: string }[];
      if (messages.at(-1)?.role === 'tool') return { steps: [{ text: 'it is 42' }] };
      return { steps: [{ toolCalls: [{ name: 'calculate', arguments: { expression: '6*7' } }] }] };
    });
    const conversationId = uniqueId('enc');
    const withA = clientWith([keyA]);
    const first = await h.withWorker(
      async () => {
        const started = await startOrderedTurn(
          { temporal: withA, pool: h.env.pool },
          { conversationId, requestId: uniqueId('req'), message: 'what is 6*7?' },
          // Through the conversation's workflow, whose history is checked too (a direct start would not start it).
          { taskQueue: h.taskQueue, directStart: false },
        );
        const result = await turnResult(withA, started.turnId);
        assert.equal(result.status, 'completed');
        return started.turnId;
      },
      { dataConverter: encryptionDataConverter([keyA]) },
    );
    const conversationWorkflowId = conversationWorkflowIdFor('default', conversationId);

    // Every payload of both histories is encrypted under key A (search attributes stay plain: the server indexes them).
    const oldTurn = await withA.workflow.getHandle(first).fetchHistory();
    const oldConversation = await withA.workflow.getHandle(conversationWorkflowId).fetchHistory();
    for (const history of [oldTurn, oldConversation]) {
      const payloads = payloadsOf(history);
      assert.ok(payloads.length >= 5, `found ${payloads.length} payloads`);
      for (const { path, payload } of payloads) {
        assert.equal(text(payload.metadata?.['encoding']), ENCRYPTED_ENCODING, `${path} is encrypted`);
        assert.equal(text(payload.metadata?.[KEY_ID_METADATA]), keyA.id, path);
      }
    }
    // A client without the key cannot read them.
    await assert.rejects(clientWith(undefined).workflow.getHandle(first).result());

    // Rotation: B first, A kept. Old histories replay (and their payloads decode) with it; with B alone they do not.
    const bundle = await workflowBundle();
    const rotated = encryptionDataConverter([keyB, keyA]);
    await Worker.runReplayHistory({ workflowBundle: bundle, dataConverter: rotated }, oldTurn, first);
    await Worker.runReplayHistory(
      { workflowBundle: bundle, dataConverter: rotated },
      oldConversation,
      conversationWorkflowId,
    );
    await assert.rejects(
      Worker.runReplayHistory(
        { workflowBundle: bundle, dataConverter: encryptionDataConverter([keyB]) },
        oldTurn,
        first,
      ),
    );

    // The same conversation goes on under the rotated keys; its new turn's payloads are under key B.
    const withBA = clientWith([keyB, keyA]);
    const second = await h.withWorker(
      async () => {
        const started = await startOrderedTurn(
          { temporal: withBA, pool: h.env.pool },
          { conversationId, requestId: uniqueId('req'), message: 'and again?' },
          { taskQueue: h.taskQueue, directStart: false },
        );
        assert.equal((await turnResult(withBA, started.turnId)).status, 'completed');
        return started.turnId;
      },
      { dataConverter: rotated },
    );
    const newPayloads = payloadsOf(await withBA.workflow.getHandle(second).fetchHistory());
    assert.ok(newPayloads.length >= 5);
    for (const { path, payload } of newPayloads) assert.equal(text(payload.metadata?.[KEY_ID_METADATA]), keyB.id, path);
    assert.equal(((await withBA.workflow.getHandle(first).result()) as ChatTurnResult).status, 'completed');

    // The codec server with the rotated keys shows the old turn's payloads in the clear.
    const token = 'operator-token';
    const server = await startCodecServer({
      codec: new AesGcmPayloadCodec([keyB, keyA]),
      tokenHashes: [createHash('sha256').update(token).digest('hex')],
      corsOrigins: ['http://localhost:8233'],
    });
    try {
      const response = await fetch(`${server.endpoint}/decode`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ payloads: payloadsOf(oldTurn).map(({ payload }) => toJson(payload)) }),
      });
      assert.equal(response.status, 200);
      const decoded = ((await response.json()) as { payloads: JsonPayload[] }).payloads;
      assert.ok(decoded.every((p) => Buffer.from(p.metadata['encoding'] ?? '', 'base64').toString() === 'json/plain'));
      assert.ok(
        decoded.some((p) => Buffer.from(p.data, 'base64').toString().includes(first)),
        'the turn input, with its id, decodes',
      );
    } finally {
      await server.close();
    }
  });

  it('serves /codec/encode and /codec/decode to bearer holders, with CORS for the UI origin', async () => {
    const token = 'operator-token';
    let server: CodecServer | undefined;
    try {
      server = await startCodecServer({
        codec: new AesGcmPayloadCodec([keyA]),
        tokenHashes: [createHash('sha256').update(token).digest('hex')],
        corsOrigins: ['http://localhost:8233'],
      });
      const post = (route: string, body: unknown, headers: Record<string, string> = {}) =>
        fetch(`${server!.endpoint}/${route}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
          body: JSON.stringify(body),
        });
      const plain = { metadata: { encoding: b64('json/plain') }, data: b64('"secret words"') };

      const encoded = await post('encode', { payloads: [plain] }, { origin: 'http://localhost:8233' });
      assert.equal(encoded.status, 200);
      assert.equal(encoded.headers.get('access-control-allow-origin'), 'http://localhost:8233');
      const [sealed] = ((await encoded.json()) as { payloads: JsonPayload[] }).payloads;
      assert.equal(Buffer.from(sealed!.metadata['encoding']!, 'base64').toString(), ENCRYPTED_ENCODING);
      assert.ok(!Buffer.from(sealed!.data, 'base64').toString('latin1').includes('secret words'));
      const decoded = await post('decode', { payloads: [sealed] });
      assert.deepEqual(((await decoded.json()) as { payloads: JsonPayload[] }).payloads, [plain]);

      // A plain payload decodes as itself (histories from before encryption).
      assert.deepEqual(
        ((await (await post('decode', { payloads: [plain] })).json()) as { payloads: unknown[] }).payloads,
        [plain],
      );
      assert.equal((await post('decode', { payloads: [sealed] }, { authorization: 'Bearer wrong' })).status, 401);
      assert.equal((await post('decode', { payloads: [sealed] }, { authorization: '' })).status, 401);
      assert.equal((await post('decode', { nope: 1 })).status, 400);
      const tampered = {
        ...sealed!,
        data: Buffer.from(Buffer.from(sealed!.data, 'base64').map((b, i) => (i === 20 ? b ^ 1 : b))).toString('base64'),
      };
      assert.equal((await post('decode', { payloads: [tampered] })).status, 400);

      const preflight = await fetch(`${server.endpoint}/decode`, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://localhost:8233',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,x-namespace',
        },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'http://localhost:8233');
      assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /authorization/);
      const foreign = await post('decode', { payloads: [sealed] }, { origin: 'http://evil.example' });
      assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    } finally {
      await server?.close();
    }
  });

  it('reads TURNFLOW_ENCRYPTION_KEYS: the first key encrypts, bad entries are named without their key', () => {
    const a = randomBytes(32).toString('base64');
    const b = randomBytes(32).toString('base64');
    const keys = EncryptionKeys.parse(`new:${b}, old:${a}`);
    assert.deepEqual(
      keys.map((k) => k.id),
      ['new', 'old'],
    );
    assert.equal(new AesGcmPayloadCodec(keys).encryptingKeyId, 'new');
    for (const bad of ['', 'x', `a b:${a}`, `k:${randomBytes(16).toString('base64')}`, `k:${a},k:${b}`]) {
      const parsed = EncryptionKeys.safeParse(bad);
      assert.equal(parsed.success, false, bad);
      assert.ok(!JSON.stringify(parsed.error?.issues).includes(a), 'no key material in the message');
    }
    // Without keys, nothing changes: the default converter.
    assert.deepEqual(encryptionDataConverter(undefined), {});
    assert.equal(TemporalEnv.parse({ TURNFLOW_ENCRYPTION_KEYS: '' }).TURNFLOW_ENCRYPTION_KEYS, undefined);
    assert.equal(TemporalEnv.parse({}).TURNFLOW_ENCRYPTION_KEYS, undefined);
  });
});

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');
const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

function toJson(p: Payload): JsonPayload {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(p.metadata ?? {})) metadata[k] = Buffer.from(v).toString('base64');
  return { metadata, data: Buffer.from(p.data ?? new Uint8Array()).toString('base64') };
}

/**
 * Every payload in a history's events, wherever it sits (inputs, results, update and signal arguments, markers of
 * local activities, failures' details, summaries), with its path; search attributes and patch markers are left out
 * (never encoded).
 */
function payloadsOf(history: temporal.api.history.v1.IHistory): { path: string; payload: Payload }[] {
  const found: { path: string; payload: Payload }[] = [];
  const walk = (value: unknown, path: string): void => {
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return;
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, `${path}[${i}]`));
      return;
    }
    const record = value as Record<string, unknown>;
    const metadata = record['metadata'] as Record<string, unknown> | undefined;
    if (metadata && typeof metadata === 'object' && metadata['encoding'] instanceof Uint8Array) {
      found.push({ path, payload: record });
      return;
    }
    for (const [key, v] of Object.entries(record)) {
      // Search attributes are indexed by the server. The SDK's core writes a marker's own bookkeeping outside the data
      // converter: a patch's name (one of ours), a local activity's `data` (sequence number, attempt, activity type,
      // times); the local activity's `result` goes through the converter and is checked.
      if (key === 'searchAttributes' || key === 'patch-data') continue;
      if (key === 'data' && path.endsWith('markerRecordedEventAttributes.details')) {
        const plain = Buffer.from((v as { payloads?: Payload[] }).payloads?.[0]?.data ?? new Uint8Array()).toString();
        assert.doesNotMatch(plain, /"result"|content|message/, `${path}.data holds only core's bookkeeping: ${plain}`);
        continue;
      }
      walk(v, `${path}.${key}`);
    }
  };
  (history.events ?? []).forEach((e, i) => walk(e, `event ${i + 1} (${String(e.eventType)})`));
  return found;
}

/**
 * The turn's result. The conversation accepts a turn in the workflow task that asks Temporal to start it, and the
 * start is made after that task completes: a moment after the ordered start returns, the turn may not exist yet (a
 * fresh-clone CI run saw `workflow not found`).
 */
async function turnResult(client: Client, turnId: string): Promise<ChatTurnResult> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      return (await client.workflow.getHandle(turnId).result()) as ChatTurnResult;
    } catch (err: unknown) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
