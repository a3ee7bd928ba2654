import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ensureChromium, PROJECT_ROOT } from '../../dev';
import { finalMessage } from '../turn/harness';
import { gatewayHarness, TOKENS, type GatewayHarness } from '../gateway/harness';
import { approvalTools } from '../approvals/approval-tools';
import { everythingStdio } from '../mcp/servers';

/** Screenshots of the browser test (gitignored). */
const ARTIFACTS_DIR = path.join(PROJECT_ROOT, 'test', 'artifacts');

describe('chat page in a real browser (Debian Chromium, driven by playwright-core)', function () {
  this.timeout(180_000);
  let g: GatewayHarness;
  let browser: Browser;
  let page: Page;

  before(async () => {
    const executablePath = await ensureChromium((line) => console.log(`      ${line}`));
    // Root (CI) cannot use Chromium's sandbox; the page is our own, served from loopback.
    browser = await chromium.launch({ executablePath, headless: true, args: ['--no-sandbox'] });
  });
  after(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    g = await gatewayHarness();
    page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  });
  afterEach(async () => {
    await page.close();
    await g.close();
  });

  const assistantText = () =>
    page
      .locator('.message.assistant .text')
      .allTextContents()
      .then((t) => t.join(''));
  // Other test files of the same mocha process store turns of tenant acme in the same database: only this test's.
  let since = new Date();
  const storedAnswers = async () => {
    const { rows } = await g.pool.query<{ id: string }>(
      `SELECT id FROM turns WHERE tenant_id = 'acme' AND created_at >= $1 ORDER BY created_at`,
      [since],
    );
    return Promise.all(rows.map(async (r) => (await finalMessage(g.h.env, r.id))[0]?.content));
  };

  it('streams an answer with a tool call, finishes it after a reload mid-answer, and stops the next one', async () => {
    since = new Date();
    g.h.llm.enqueue(
      {
        steps: [
          { text: 'Let me calculate that. ' },
          { toolCalls: [{ id: 'b1', name: 'calculate', arguments: { expression: '12*(3+4)' } }] },
        ],
      },
      { steps: [{ text: 'It is' }, { waitFor: 'reload' }, { text: ' 84, said after the reload.' }], delayMs: 5 },
      { steps: [{ text: 'A long story that' }, { waitFor: 'never' }, { text: ' nobody hears.' }] },
    );
    await g.h.withWorker(async () => {
      await page.goto(`${g.server.url}/chat#token=${TOKENS.acme}`);
      await page.locator('#status').filter({ hasText: 'ready' }).waitFor();
      await page.fill('#input', 'what is 12*(3+4)?');
      await page.click('#send');

      // Streamed while it happens: the tool call with its result, then the text so far.
      const tool = page.locator('.message.assistant .tool-output-available');
      await tool.waitFor();
      assert.match(await tool.innerText(), /calculate/);
      assert.match(await tool.innerText(), /84/);
      await g.h.llm.gateReached('reload');
      await page.locator('.message.assistant .text', { hasText: 'It is' }).waitFor();
      assert.equal(await page.locator('#stop').isEnabled(), true, 'stop is offered while the answer streams');

      // A reload mid-answer: the page lists the history and resumes the running answer from its start.
      await page.reload();
      await page.locator('.message.user', { hasText: 'what is 12*(3+4)?' }).waitFor();
      await page.locator('.message.assistant .tool-output-available').waitFor();
      g.h.llm.release('reload');
      await page.locator('.message.assistant .text', { hasText: 'said after the reload.' }).waitFor();
      await page.locator('#status').filter({ hasText: 'ready' }).waitFor();
      const [first] = await storedAnswers();
      assert.equal(first, 'Let me calculate that. It is 84, said after the reload.');
      assert.equal(await assistantText(), first, 'the page shows exactly the stored answer');
      await mkdir(ARTIFACTS_DIR, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-resumed.png') });

      // Stop generating: the partial answer stays on the page and is what is stored.
      await page.fill('#input', 'tell me a long story');
      await page.click('#send');
      await g.h.llm.gateReached('never');
      await page.locator('.message.assistant .text', { hasText: 'A long story that' }).waitFor();
      await page.click('#stop');
      await page.locator('#status').filter({ hasText: 'ready' }).waitFor();
      const [, second] = await storedAnswers();
      assert.equal(second, 'A long story that');
      assert.equal(await page.locator('.message.assistant').last().innerText(), 'A long story that');
      await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-stopped.png') });
      g.h.llm.release('never');
    });
  });

  it("shows an MCP server's tool calls and results as it shows a built-in tool's, also after a reload", async () => {
    since = new Date();
    g.h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'call_calc', name: 'calculate', arguments: { expression: '2+40' } },
              { id: 'call_sum', name: 'everything__get-sum', arguments: { a: 2, b: 40 } },
              { id: 'call_bad', name: 'everything__get-sum', arguments: { a: 'two', b: 40 } },
            ],
          },
        ],
      },
      { steps: [{ text: 'Both say 42.' }] },
    );
    await g.h.withWorker(
      async () => {
        await page.goto(`${g.server.url}/chat#token=${TOKENS.acme}`);
        await page.locator('#status').filter({ hasText: 'ready' }).waitFor();
        await page.fill('#input', 'add 2 and 40 twice');
        await page.click('#send');
        await page.locator('.message.assistant .text', { hasText: 'Both say 42.' }).waitFor();
        await page.locator('#status').filter({ hasText: 'ready' }).waitFor();

        const shown = async (id: string) => {
          const box = page.locator(`[data-tool-call-id="${id}"]`);
          return {
            classes: await box.getAttribute('class'),
            name: await box.locator('.tool-name').innerText(),
            output:
              (await box.locator('.tool-output').count()) > 0 ? await box.locator('.tool-output').innerText() : '',
            error: (await box.locator('.tool-error').count()) > 0 ? await box.locator('.tool-error').innerText() : '',
          };
        };
        const expected = {
          call_calc: {
            classes: 'tool tool-output-available',
            name: 'tool calculate({"expression":"2+40"})',
            error: '',
          },
          call_sum: {
            classes: 'tool tool-output-available',
            name: 'tool everything__get-sum({"a":2,"b":40})',
            output: '→ "The sum of 2 and 40 is 42."',
            error: '',
          },
        };
        const check = async () => {
          const calc = await shown('call_calc');
          assert.deepEqual({ ...calc, output: undefined }, { ...expected.call_calc, output: undefined });
          assert.match(calc.output, /^→ .*42/);
          assert.deepEqual(await shown('call_sum'), expected.call_sum);
          const bad = await shown('call_bad');
          assert.equal(bad.classes, 'tool tool-output-error');
          assert.equal(bad.name, 'tool everything__get-sum({"a":"two","b":40})');
          assert.match(bad.error, /^✗ .*everything__get-sum/);
        };
        await check();
        await mkdir(ARTIFACTS_DIR, { recursive: true });
        await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-mcp-tools.png') });

        // After a reload the calls come from the stored conversation, shown the same way.
        await page.reload();
        await page.locator('.message.assistant .text', { hasText: 'Both say 42.' }).waitFor();
        await check();
      },
      { mcpServers: { everything: everythingStdio() } },
    );
  });

  it('shows Approve and Deny on calls waiting for approval, keeps them across a reload, and shows each outcome', async () => {
    since = new Date();
    const { runs, tools } = approvalTools();
    g.h.llm.enqueue(
      {
        steps: [
          {
            toolCalls: [
              { id: 'call_mail', name: 'send_email', arguments: '{"to":"a@b.c"}' },
              { id: 'call_big', name: 'refund', arguments: '{"orderId":"A-1","amount":250}' },
            ],
          },
        ],
      },
      { steps: [{ text: 'Mailed; the refund was denied.' }] },
    );
    await g.h.withWorker(
      async () => {
        await page.goto(`${g.server.url}/chat#token=${TOKENS.acme}`);
        await page.locator('#status').filter({ hasText: 'ready' }).waitFor();
        await page.fill('#input', 'mail a@b.c and refund A-1');
        await page.click('#send');
        const waiting = page.locator('.message.assistant .tool-approval-requested');
        await waiting.nth(1).waitFor();
        assert.equal(await waiting.count(), 2);
        assert.match(await waiting.nth(1).innerText(), /refund of 250 is above 100/);

        // A reload while both wait: the calls and their buttons are back.
        await page.reload();
        await page.locator('#status').filter({ hasText: 'ready' }).waitFor();
        await waiting.nth(1).waitFor();
        assert.equal(await page.locator('.tool-approval-requested button.approve').count(), 2);
        await mkdir(ARTIFACTS_DIR, { recursive: true });
        await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-approval-waiting.png') });
        assert.equal(runs.length, 0);

        await page.click('[data-tool-call-id="call_mail"] button.approve');
        await page.click('[data-tool-call-id="call_big"] button.deny');
        await page.locator('.message.assistant .text', { hasText: 'Mailed; the refund was denied.' }).waitFor();
        await page.locator('#status').filter({ hasText: 'ready' }).waitFor();
        assert.match(await page.locator('[data-tool-call-id="call_mail"]').innerText(), /✓ approved[\s\S]*sent/);
        assert.match(await page.locator('[data-tool-call-id="call_big"].tool-output-denied').innerText(), /✗ denied/);
        await page.screenshot({ path: path.join(ARTIFACTS_DIR, 'chat-approval-decided.png') });

        // The outcome stays after another reload.
        await page.reload();
        await page.locator('[data-tool-call-id="call_big"].tool-output-denied').waitFor();
        assert.equal(await page.locator('button.approve').count(), 0);
        const [answer] = await storedAnswers();
        assert.equal(answer, 'Mailed; the refund was denied.');
      },
      { tools },
    );
    assert.deepEqual(
      runs.map((r) => r.tool),
      ['send_email'],
    );
  });
});
