import assert from 'node:assert/strict';
import { TypedSearchAttributes } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES, searchAttributeKeys } from '../../common';
import { testEnv, uniqueId, uniqueTaskQueue } from '../support';
import type { echo } from './workflows';

describe('test environment', function () {
  it('registers the project search attributes on the dev server', async function () {
    const { temporal: env } = await testEnv();
    const response = await env.connection.operatorService.listSearchAttributes({
      namespace: env.namespace ?? 'default',
    });
    const custom = response.customAttributes ?? {};
    for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
      const indexed = custom[name];
      assert.ok(indexed !== undefined, `search attribute ${name} is not registered`);
      assert.equal(temporal.api.enums.v1.IndexedValueType[indexed], `INDEXED_VALUE_TYPE_${type}`);
    }
  });

  it('runs a bundled workflow on a Worker and records its search attributes', async function () {
    const { temporal: env } = await testEnv();
    const taskQueue = uniqueTaskQueue('harness');
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      workflowsPath: require.resolve('./workflows'),
    });
    const workflowId = uniqueId('echo');
    const result = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof echo>('echo', {
        taskQueue,
        workflowId,
        args: [{ text: 'hello' }],
      });
      const output = await handle.result();
      const description = await handle.describe();
      return { output, searchAttributes: description.typedSearchAttributes };
    });
    assert.deepEqual(result.output, { text: 'hello', workflowId });
    assert.ok(result.searchAttributes instanceof TypedSearchAttributes);
    assert.equal(result.searchAttributes.get(searchAttributeKeys.TurnStatus), 'completed');
  });

  it('gives each test run a migrated database', async function () {
    const { pool } = await testEnv();
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pgmigrations');
    assert.ok(rows[0]!.n >= 1);
  });
});
