// `npm start`: the whole stack on embedded defaults. A Temporal dev server (unless one answers already or
// TEMPORAL_ADDRESS is set), the private Postgres cluster (unless DATABASE_URL is set), migrations, the scripted
// LLM server (unless OPENAI_API_KEY is set), the worker and the gateway. Ctrl-C stops all of it.
// `npm start -- --traces` also runs Jaeger (built once into .tools/) and has the worker and the gateway export to it.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { EncryptionKeys } from '../codec/keys';
import { migrate } from '../db';
import { DEV_TOKEN } from '../gateway/tenants';
import {
  APP_DATABASE,
  createDatabase,
  databaseUrlFor,
  ensureLocalPostgres,
  stopLocalPostgres,
  takeBootstrapStart,
} from './postgres';
import { jaegerConfig, resolveJaeger, type JaegerPorts } from './jaeger';
import { DATA_DIR, PROJECT_ROOT } from './paths';
import { waitForPort } from './ports';
import { Supervisor } from './supervisor';
import type { ChildExit, ChildSpec } from './supervisor';
import { resolveTemporalCli } from './temporal-cli';
import { DEV_SERVER_PORTS, devServerArgs, isTemporalReachable, waitForTemporal } from './temporal-server';

const optional = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

const Config = z.object({
  TEMPORAL_ADDRESS: optional,
  TEMPORAL_NAMESPACE: optional,
  DATABASE_URL: optional,
  OPENAI_API_KEY: optional,
  OPENAI_BASE_URL: optional,
  SCRIPTED_LLM_PORT: z.coerce.number().int().min(1).max(65535).default(8089),
  GATEWAY_PORT: z.coerce.number().int().min(1).max(65535).default(8080),
  /** Prometheus endpoints: the worker's, the Temporal SDK's (in the worker) and the gateway's. */
  TURNFLOW_METRICS_PORT: z.coerce.number().int().min(1).max(65535).default(9464),
  TURNFLOW_SDK_METRICS_PORT: z.coerce.number().int().min(1).max(65535).default(9465),
  GATEWAY_METRICS_PORT: z.coerce.number().int().min(1).max(65535).default(9466),
  /** With keys, payloads are encrypted and a codec server lets the embedded UI show them (docs/security.md). */
  TURNFLOW_ENCRYPTION_KEYS: z.preprocess((v) => (v === '' ? undefined : v), EncryptionKeys.optional()),
  CODEC_PORT: z.coerce.number().int().min(1).max(65535).default(8234),
  /** With `--traces`: Jaeger's UI, its OTLP/HTTP receiver and its query gRPC port. */
  JAEGER_UI_PORT: z.coerce.number().int().min(1).max(65535).default(16686),
  JAEGER_OTLP_PORT: z.coerce.number().int().min(1).max(65535).default(4318),
  JAEGER_GRPC_PORT: z.coerce.number().int().min(1).max(65535).default(16685),
  /** A jaeger-ui build (its `packages/jaeger-ui/build` folder): the Go-built Jaeger has none inside. */
  JAEGER_UI_ASSETS: optional,
});
type Config = z.infer<typeof Config>;

const ENTRY = {
  worker: path.join(PROJECT_ROOT, 'worker', 'main.ts'),
  gateway: path.join(PROJECT_ROOT, 'gateway', 'main.ts'),
  scriptedLlm: path.join(PROJECT_ROOT, 'scripted-llm', 'main.ts'),
  codec: path.join(PROJECT_ROOT, 'codec', 'main.ts'),
};

const supervisor = new Supervisor();
let stopPostgresOnExit = false;
let shuttingDown: Promise<void> | undefined;

function say(line: string): void {
  console.log(`[start] ${line}`);
}

/** Stops every child (app first, servers last) and the cluster we started, then exits with `code`. */
function shutdown(code: number): Promise<void> {
  shuttingDown ??= (async () => {
    try {
      await supervisor.stopAll();
      if (stopPostgresOnExit) await stopLocalPostgres();
    } catch (err: unknown) {
      console.error('[start] error while stopping:', err);
      code = code || 1;
    }
    process.exit(code);
  })();
  return shuttingDown;
}

/** A TypeScript entry point run by Node with tsx's loader (one process, so signals reach it directly). */
function tsEntry(name: string, file: string, env: NodeJS.ProcessEnv): ChildSpec {
  return { name, command: process.execPath, args: ['--import', 'tsx', file], env, cwd: PROJECT_ROOT };
}

function describeExit(exit: ChildExit): string {
  return exit.signal ? `was killed by ${exit.signal}` : `exited with code ${String(exit.code)}`;
}

async function startTemporal(
  config: Config,
  codecEndpoint: string | undefined,
): Promise<{ address: string; ui: string | undefined }> {
  if (config.TEMPORAL_ADDRESS) return { address: config.TEMPORAL_ADDRESS, ui: undefined };
  const address = `localhost:${DEV_SERVER_PORTS.grpc}`;
  const ui = `http://localhost:${DEV_SERVER_PORTS.ui}`;
  if (await isTemporalReachable(address)) {
    say(`reusing the Temporal server already answering at ${address}`);
    if (codecEndpoint) say(`its UI decodes payloads only if it was started with --ui-codec-endpoint ${codecEndpoint}`);
    return { address, ui };
  }
  await mkdir(DATA_DIR, { recursive: true });
  const cli = await resolveTemporalCli();
  const child = await supervisor.start({
    name: 'temporal',
    command: cli,
    args: devServerArgs(codecEndpoint ? { codecEndpoint } : {}),
    cwd: PROJECT_ROOT,
    quietWhenStopping: true,
  });
  await waitForTemporal(address, 60_000, () =>
    child.exitCode !== null || child.signalCode !== null ? 'the dev server exited' : undefined,
  );
  return { address, ui };
}

async function startPostgres(config: Config): Promise<string> {
  if (config.DATABASE_URL) return config.DATABASE_URL;
  const postgres = await ensureLocalPostgres();
  // Under `npm start` the `prestart` bootstrap starts the cluster just before us: it is this invocation's
  // cluster all the same. One that was running before the invocation is left running.
  const startedByOurBootstrap = process.env['npm_lifecycle_event'] === 'start' && (await takeBootstrapStart());
  stopPostgresOnExit = postgres.startedHere || startedByOurBootstrap;
  await createDatabase(postgres.adminUrl, APP_DATABASE);
  return databaseUrlFor(postgres.adminUrl, APP_DATABASE);
}

/** The LLM endpoint: the caller's, or the scripted server we start. */
async function startLlm(config: Config): Promise<{ baseUrl: string | undefined; apiKey: string; label: string }> {
  if (config.OPENAI_API_KEY) {
    return {
      baseUrl: config.OPENAI_BASE_URL,
      apiKey: config.OPENAI_API_KEY,
      label: config.OPENAI_BASE_URL ?? 'OpenAI',
    };
  }
  const port = config.SCRIPTED_LLM_PORT;
  const baseUrl = `http://127.0.0.1:${port}/v1`;
  await supervisor.start(tsEntry('llm', ENTRY.scriptedLlm, { SCRIPTED_LLM_PORT: String(port) }));
  await Promise.race([
    waitForPort(port, 'the scripted LLM server'),
    supervisor.firstUnexpectedExit.then((exit) => {
      throw new Error(`${exit.name} ${describeExit(exit)} while starting`);
    }),
  ]);
  return { baseUrl, apiKey: 'scripted', label: `${baseUrl} (scripted)` };
}

/** The codec server for the embedded UI (localhost, no token: the dev UI has none to pass); its endpoint. */
async function startCodec(port: number): Promise<string> {
  await supervisor.start(
    tsEntry('codec', ENTRY.codec, { CODEC_PORT: String(port), CODEC_HOST: '127.0.0.1', TURNFLOW_DEV: '1' }),
  );
  await Promise.race([
    waitForPort(port, 'the codec server'),
    supervisor.firstUnexpectedExit.then((exit) => {
      throw new Error(`${exit.name} ${describeExit(exit)} while starting`);
    }),
  ]);
  const endpoint = `http://localhost:${port}/codec`;
  say(`payloads are encrypted; codec server ${endpoint} (the Temporal UI decodes through it)`);
  return endpoint;
}

/** Jaeger (in memory) for `--traces`; returns the OTLP endpoint the worker and the gateway export to. */
async function startJaeger(ports: JaegerPorts, uiAssets: string | undefined): Promise<string> {
  const binary = await resolveJaeger({ log: say });
  await mkdir(DATA_DIR, { recursive: true });
  const configFile = path.join(DATA_DIR, 'jaeger.yaml');
  await writeFile(configFile, jaegerConfig(ports, uiAssets ? { uiAssets: path.resolve(uiAssets) } : {}));
  await supervisor.start({
    name: 'jaeger',
    command: binary,
    args: ['--config', configFile],
    cwd: PROJECT_ROOT,
    quietWhenStopping: true,
  });
  await Promise.race([
    Promise.all([
      waitForPort(ports.otlp, "Jaeger's OTLP receiver", 60_000),
      waitForPort(ports.ui, "Jaeger's UI", 60_000),
    ]),
    supervisor.firstUnexpectedExit.then((exit) => {
      throw new Error(`${exit.name} ${describeExit(exit)} while starting`);
    }),
  ]);
  return `http://127.0.0.1:${ports.otlp}`;
}

async function main(): Promise<void> {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // Ctrl-C reaches us twice under npm (from the terminal and forwarded by npm); report it once.
      if (!shuttingDown) say(`${signal}: stopping`);
      void shutdown(0);
    });
  }
  const config = Config.parse(process.env);
  const traces = process.argv.slice(2).includes('--traces');
  const ports = { ui: config.JAEGER_UI_PORT, otlp: config.JAEGER_OTLP_PORT, queryGrpc: config.JAEGER_GRPC_PORT };
  // First, so that building it (once) happens before anything else is started.
  const otlpEndpoint = traces ? await startJaeger(ports, config.JAEGER_UI_ASSETS) : undefined;
  const codecEndpoint = config.TURNFLOW_ENCRYPTION_KEYS ? await startCodec(config.CODEC_PORT) : undefined;
  const [temporal, databaseUrl] = await Promise.all([startTemporal(config, codecEndpoint), startPostgres(config)]);
  await migrate(databaseUrl);
  const llm = await startLlm(config);

  const appEnv: NodeJS.ProcessEnv = {
    TEMPORAL_ADDRESS: temporal.address,
    DATABASE_URL: databaseUrl,
    OPENAI_API_KEY: llm.apiKey,
    GATEWAY_PORT: String(config.GATEWAY_PORT),
    TURNFLOW_METRICS_PORT: String(config.TURNFLOW_METRICS_PORT),
    TURNFLOW_SDK_METRICS_PORT: String(config.TURNFLOW_SDK_METRICS_PORT),
    GATEWAY_METRICS_PORT: String(config.GATEWAY_METRICS_PORT),
    // The embedded stack: the gateway accepts the dev token (tenant `dev`) when no tokens are configured.
    TURNFLOW_DEV: '1',
    ...(config.TEMPORAL_NAMESPACE ? { TEMPORAL_NAMESPACE: config.TEMPORAL_NAMESPACE } : {}),
    ...(llm.baseUrl ? { OPENAI_BASE_URL: llm.baseUrl } : {}),
    ...(otlpEndpoint ? { OTEL_EXPORTER_OTLP_ENDPOINT: otlpEndpoint } : {}),
  };
  await supervisor.start(tsEntry('worker', ENTRY.worker, appEnv));
  await supervisor.start(tsEntry('gateway', ENTRY.gateway, appEnv));

  if (temporal.ui) say(`Temporal UI: ${temporal.ui}`);
  if (otlpEndpoint) {
    say(`Jaeger UI (traces of every turn): http://localhost:${ports.ui} · OTLP ${otlpEndpoint}`);
    if (!config.JAEGER_UI_ASSETS) {
      say(
        `  Jaeger built from its Go module has no UI inside: its API answers (http://localhost:${ports.ui}/api/traces?service=turnflow-gateway); ` +
          'set JAEGER_UI_ASSETS to a jaeger-ui build to browse (docs/operating.md#traces)',
      );
    }
  }
  // Without configured tokens the gateway accepts the dev token; the page takes it from the address.
  const token = process.env['TURNFLOW_API_TOKENS'] ? '' : `#token=${DEV_TOKEN}`;
  say(`chat page: http://localhost:${config.GATEWAY_PORT}/chat${token}`);
  say(
    `metrics (Prometheus text): worker http://127.0.0.1:${config.TURNFLOW_METRICS_PORT}/metrics · ` +
      `Temporal SDK http://127.0.0.1:${config.TURNFLOW_SDK_METRICS_PORT}/metrics · ` +
      `gateway http://127.0.0.1:${config.GATEWAY_METRICS_PORT}/metrics`,
  );
  say(
    `up: Temporal ${temporal.address} · Postgres ${databaseUrl} · LLM ${llm.label} · worker` +
      ` · gateway http://localhost:${config.GATEWAY_PORT} — Ctrl-C stops everything`,
  );

  const exit = await supervisor.firstUnexpectedExit;
  if (shuttingDown) return;
  console.error(`[start] ${exit.name} ${describeExit(exit)}; stopping everything`);
  await shutdown(1);
}

main().catch(async (err: unknown) => {
  console.error('[start] failed:', err instanceof Error ? err.message : err);
  await shutdown(1);
});
