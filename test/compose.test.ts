import assert from 'node:assert/strict';
import { GatewayEnv } from '../gateway/config';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TypedSearchAttributes } from '@temporalio/common';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { SEARCH_ATTRIBUTES } from '../common';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../dev';
import { buildSources } from '../dev/ensure-built';

const ROOT = path.resolve(__dirname, '..');
const APP_SERVICES = ['worker', 'gateway'];
const APP_VARIABLES = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'DATABASE_URL',
  'OPENAI_BASE_URL',
  'OPENAI_API_KEY',
  'OPENAI_MODEL',
  'GATEWAY_PORT',
];

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string> | string[];
  healthcheck?: { test: string[] };
}
interface Compose {
  services: Record<string, Service>;
}

function loadCompose(): unknown {
  // `merge: true` resolves the `<<: *app` merge keys the way Docker Compose does.
  return parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
}

function environmentOf(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) return env;
  return Object.fromEntries(env.map((entry) => [entry.split('=')[0]!, entry.slice(entry.indexOf('=') + 1)]));
}

describe('docker-compose.yml', function () {
  const compose = loadCompose() as Compose;

  it('is valid against the compose-spec schema', function () {
    const schema = JSON.parse(
      readFileSync(path.join(ROOT, 'node_modules/dclint/schemas/compose.schema.json'), 'utf8'),
    ) as Record<string, unknown>;
    delete schema['$schema'];
    const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
    const validate = ajv.compile(schema);
    assert.ok(validate(compose), ajv.errorsText(validate.errors, { separator: '\n' }));
  });

  it('defines the whole production stack', function () {
    for (const name of [
      'temporal',
      'temporal-db',
      'temporal-ui',
      'temporal-admin-tools',
      'app-db',
      'worker',
      'gateway',
    ]) {
      assert.ok(compose.services[name], `service ${name} is missing`);
    }
  });

  it('builds the app services from docker/Dockerfile and runs their compiled entry points', function () {
    const dockerfile = readFileSync(path.join(ROOT, 'docker/Dockerfile'), 'utf8');
    assert.match(dockerfile, /^RUN npm run build$/m, 'the image does not build dist/');
    const built = buildSources();
    for (const name of APP_SERVICES) {
      const service = compose.services[name]!;
      assert.equal(service.build?.dockerfile, 'docker/Dockerfile');
      assert.deepEqual(service.command, ['node', `dist/${name}/main.js`]);
      assert.ok(built.includes(name), `npm run build does not compile ${name}/`);
    }
  });

  it('gives every app service the variables the processes read', function () {
    for (const name of APP_SERVICES) {
      const env = environmentOf(compose.services[name]!);
      for (const variable of APP_VARIABLES) assert.ok(variable in env, `${name} does not set ${variable}`);
      assert.match(env['DATABASE_URL']!, /@app-db:5432\//);
      assert.equal(env['TEMPORAL_ADDRESS'], 'temporal:7233');
    }
  });

  it('lets the gateway be reached from outside its container and requires real tokens', function () {
    const env = environmentOf(compose.services['gateway']!);
    assert.equal(env['GATEWAY_HOST'], '0.0.0.0');
    assert.match(env['TURNFLOW_API_TOKENS'] ?? '', /^\$\{TURNFLOW_API_TOKENS:\?/);
    for (const variable of ['GATEWAY_HOST', 'TURNFLOW_API_TOKENS', 'GATEWAY_PORT']) {
      assert.ok(variable in GatewayEnv.shape, `the gateway does not read ${variable}`);
    }
  });

  it('health-checks every long-running service', function () {
    for (const [name, service] of Object.entries(compose.services)) {
      if (['temporal-admin-tools', 'migrate'].includes(name)) continue;
      assert.ok(service.healthcheck?.test.length, `service ${name} has no health check`);
    }
  });

  it("gives its Temporal server the dev server's dynamic config, but the task-queue partitions", function () {
    const temporal = compose.services['temporal'] as Service & { volumes?: string[] };
    const configPath = environmentOf(temporal)['DYNAMIC_CONFIG_FILE_PATH'];
    assert.ok(configPath, 'the temporal service sets no DYNAMIC_CONFIG_FILE_PATH');
    // The auto-setup image resolves the path from /etc/temporal.
    assert.ok(
      temporal.volumes?.includes(`./docker/temporal-dynamic-config.yaml:/etc/temporal/${configPath}:ro`),
      `docker/temporal-dynamic-config.yaml is not mounted at ${configPath}`,
    );
    const file = parse(readFileSync(path.join(ROOT, 'docker/temporal-dynamic-config.yaml'), 'utf8')) as Record<
      string,
      { value: unknown }[]
    >;
    const declared = Object.fromEntries(Object.entries(file).map(([key, values]) => [key, String(values[0]?.value)]));
    const dev = Object.fromEntries(
      DEV_SERVER_DYNAMIC_CONFIG.filter((entry) => !entry.startsWith('matching.numTaskqueue')).map((entry) =>
        entry.split('='),
      ),
    );
    assert.deepEqual(declared, dev);
  });

  it('registers exactly the search attributes the code uses, with their types', function () {
    const declared = environmentOf(compose.services['temporal-admin-tools']!)['SEARCH_ATTRIBUTES'] ?? '';
    const registered = Object.fromEntries(
      declared
        .split(/\s+/)
        .filter(Boolean)
        .map((pair) => pair.split('=')),
    );
    const expected = Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) => [name, TypedSearchAttributes.toMetadataType(type)]),
    );
    assert.deepEqual(registered, expected);
  });
});
