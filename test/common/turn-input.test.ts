import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { ChatTurnInput, isExternalId, ExternalId, StartTurnRequest, turnIdFor, turnInputProblem } from '../../common';

/** A workflow input as the client builds it: the parsed request (every default filled in) plus its turn id. */
function clientInput(request: Record<string, unknown> = {}): Record<string, unknown> {
  const { message: _message, ...turn } = StartTurnRequest.parse({
    tenantId: 'acme',
    conversationId: 'c-1',
    requestId: 'r.1',
    message: 'hi',
    ...request,
  });
  return { ...turn, turnId: turnIdFor(turn.tenantId, turn.conversationId, turn.requestId) };
}

/** zod's verdict on a workflow input: accepted as it is (its parse changes nothing but dropping unknown fields). */
function zodAcceptsUnchanged(raw: unknown): boolean {
  const parsed = ChatTurnInput.safeParse(raw);
  if (!parsed.success || typeof raw !== 'object' || raw === null) return false;
  const known = Object.fromEntries(Object.entries(raw).filter(([key]) => key in ChatTurnInput.shape));
  return isDeepStrictEqual(parsed.data, known);
}

describe('common: the workflows’ plain check of a turn input', () => {
  const valid: [string, Record<string, unknown>][] = [
    ['defaults', clientInput()],
    ['every option', clientInput({ model: 'm', tools: ['a', 'b'], approvalTools: ['a'], maxHops: 50 })],
    ['a budget and no persistence', clientInput({ budget: { maxTokens: 1 }, persistence: { persistDeltas: false } })],
    ['bounds', clientInput({ maxHops: 0, persistence: { intervalMs: 60_000, minChars: 1_000_000 } })],
    ['interrupted', { ...clientInput(), interrupted: true }],
    ['an unknown field (ignored, as zod ignores it)', { ...clientInput(), extra: 1 }],
  ];
  for (const [name, input] of valid) {
    it(`accepts what the client sends, as zod does: ${name}`, () => {
      assert.equal(turnInputProblem(input), undefined);
      assert.equal(zodAcceptsUnchanged(input), true);
    });
  }

  const base = clientInput();
  const invalid: [string, unknown, RegExp][] = [
    ['null', null, /object/],
    ['an array', [base], /object/],
    ['a tenant with a slash', { ...base, tenantId: 'a/b' }, /tenantId/],
    ['an empty conversation id', { ...base, conversationId: '' }, /conversationId/],
    ['a request id of 129 characters', { ...base, requestId: 'r'.repeat(129) }, /requestId/],
    ['an empty turn id', { ...base, turnId: '' }, /turnId/],
    ['an empty model', { ...base, model: '' }, /model/],
    ['a model of 201 characters', { ...base, model: 'm'.repeat(201) }, /model/],
    ['an empty tool name', { ...base, tools: [''] }, /tools/],
    ['65 tools', { ...base, tools: Array.from({ length: 65 }, (_, i) => `t${i}`) }, /tools/],
    ['an approval tool name of 65 characters', { ...base, approvalTools: ['a'.repeat(65)] }, /approvalTools/],
    ['no maxHops (zod would fill in its default)', { ...base, maxHops: undefined }, /maxHops/],
    ['maxHops 51', { ...base, maxHops: 51 }, /maxHops/],
    ['maxHops 1.5', { ...base, maxHops: 1.5 }, /maxHops/],
    ['no persistence', { ...base, persistence: undefined }, /persistence/],
    [
      'persistDeltas as a string',
      { ...base, persistence: { ...(base.persistence as object), persistDeltas: 'yes' } },
      /persistence/,
    ],
    [
      'intervalMs 60001',
      { ...base, persistence: { ...(base.persistence as object), intervalMs: 60_001 } },
      /persistence/,
    ],
    ['minChars -1', { ...base, persistence: { ...(base.persistence as object), minChars: -1 } }, /persistence/],
    ['a budget of 0 tokens', { ...base, budget: { maxTokens: 0 } }, /budget/],
    ['a budget with another field', { ...base, budget: { maxTokens: 5, extra: 1 } }, /budget/],
    ['no logInitialResponse', { ...base, logInitialResponse: undefined }, /logInitialResponse/],
    ['interrupted as a string', { ...base, interrupted: 'yes' }, /interrupted/],
  ];
  for (const [name, input, problem] of invalid) {
    it(`refuses what zod would refuse or change: ${name}`, () => {
      assert.match(turnInputProblem(input) ?? '', problem);
      assert.equal(zodAcceptsUnchanged(input), false);
    });
  }

  it('checks ids exactly as the ExternalId schema does', () => {
    for (const id of ['a', 'A-z_0.9', 'x'.repeat(128), '', 'x'.repeat(129), 'a b', 'a/b', 'é', 5, undefined]) {
      assert.equal(isExternalId(id), ExternalId.safeParse(id).success, String(id));
    }
  });
});
