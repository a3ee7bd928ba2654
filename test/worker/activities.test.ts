import assert from 'node:assert/strict';
import pino from 'pino';
import type pg from 'pg';
import type OpenAI from 'openai';
import { createActivities, workerActivities } from '../../activities';
import { builtinTools, createToolRegistry } from '../../activities/tools';

describe('worker activities', () => {
  it('registers every activity under its turnflow. name only', () => {
    const deps = {
      // Nothing is called here: the factory only binds its resources.
      pool: {} as pg.Pool,
      openai: {} as OpenAI,
      tools: createToolRegistry(builtinTools()),
      models: { default: 'm', allowed: ['m'] },
      logger: pino({ level: 'silent' }),
    };
    const activities = workerActivities(deps);
    const all = createActivities(deps);
    assert.deepEqual(
      Object.keys(activities).sort(),
      Object.keys(all)
        .map((n) => `turnflow.${n}`)
        .sort(),
    );
    const byName = activities as unknown as Record<string, unknown>;
    for (const name of Object.keys(all)) assert.equal(typeof byName[`turnflow.${name}`], 'function', name);
  });
});
