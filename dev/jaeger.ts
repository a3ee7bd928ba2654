import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { exec, execOrThrow, isExecutable, whichOnPath } from './exec';
import { TOOLS_DIR } from './paths';

/** The Jaeger version `npm start -- --traces` runs (its all-in-one `jaeger` binary, built from source). */
export const JAEGER_VERSION = '1.75.0';

/** Where the pinned Jaeger binary is installed (git-ignored). */
export const PINNED_JAEGER_PATH = path.join(TOOLS_DIR, 'jaeger', JAEGER_VERSION, 'jaeger');

/**
 * Jaeger's go.mod at this version has a `replace` directive, which `go install pkg@version` refuses; building it as
 * a dependency of a one-line module with the same directive gives the very versions its own build uses.
 */
const JAEGER_REPLACES = ['github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0'];

/** Thrown when no Jaeger binary is available and none could be built. */
export class JaegerInstallError extends Error {
  override readonly name = 'JaegerInstallError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Returns the path of a Jaeger binary: `JAEGER_PATH` if set (it must exist), else the pinned version under
 * `.tools/`, building it first with the Go toolchain if needed (several minutes, once). Quiet when it is there.
 *
 * @throws {@link JaegerInstallError} when `JAEGER_PATH` points nowhere or the build failed.
 */
export async function resolveJaeger(options: { log?: (line: string) => void } = {}): Promise<string> {
  const log = options.log ?? ((line: string) => console.log(line));
  const fromEnv = process.env['JAEGER_PATH'];
  if (fromEnv) {
    if (!(await isExecutable(fromEnv)))
      throw new JaegerInstallError(`JAEGER_PATH=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  if (await isExecutable(PINNED_JAEGER_PATH)) return PINNED_JAEGER_PATH;
  const go = await whichOnPath('go');
  if (!go) {
    throw new JaegerInstallError(
      `Jaeger ${JAEGER_VERSION} is not installed and building it needs Go (https://go.dev/dl/); ` +
        'or set JAEGER_PATH to a jaeger binary',
    );
  }
  log(`building Jaeger ${JAEGER_VERSION} with ${go} (once; takes several minutes)`);
  const work = await mkdtemp(path.join(os.tmpdir(), 'turnflow-jaeger-'));
  try {
    await writeFile(
      path.join(work, 'go.mod'),
      [
        'module turnflow.local/jaeger',
        '',
        'go 1.24',
        '',
        `require github.com/jaegertracing/jaeger v${JAEGER_VERSION}`,
        '',
        ...JAEGER_REPLACES.map((r) => `replace ${r}`),
        '',
      ].join('\n'),
    );
    // Keeps the requirement in the module (go.sum entries are resolved by -mod=mod).
    await writeFile(
      path.join(work, 'tools.go'),
      '//go:build tools\n\npackage tools\n\nimport _ "github.com/jaegertracing/jaeger/cmd/jaeger"\n',
    );
    await mkdir(path.dirname(PINNED_JAEGER_PATH), { recursive: true });
    // Built next to the target and renamed: concurrent bootstraps never see a partial binary.
    const staged = path.join(path.dirname(PINNED_JAEGER_PATH), `.jaeger-${randomUUID()}`);
    try {
      await execOrThrow(go, ['build', '-o', staged, 'github.com/jaegertracing/jaeger/cmd/jaeger'], {
        cwd: work,
        env: { GOFLAGS: '-mod=mod', CGO_ENABLED: '0' },
      });
      await chmod(staged, 0o755);
      const check = await exec(staged, ['--help']);
      if (check.code !== 0) throw new JaegerInstallError(`the built jaeger does not run: ${check.stderr.trim()}`);
      await rename(staged, PINNED_JAEGER_PATH);
    } finally {
      await rm(staged, { force: true });
    }
  } catch (err: unknown) {
    throw new JaegerInstallError(`building Jaeger ${JAEGER_VERSION} failed: ${String(err)}`, { cause: err });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  log(`installed Jaeger ${JAEGER_VERSION} at ${path.relative(process.cwd(), PINNED_JAEGER_PATH)}`);
  return PINNED_JAEGER_PATH;
}

/** Ports of a local Jaeger. */
export interface JaegerPorts {
  /** Its UI (and query API). @default 16686 */
  ui: number;
  /** OTLP/HTTP receiver: `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:<otlp>`. @default 4318 */
  otlp: number;
  /** Its query gRPC API (the UI needs it bound somewhere). @default 16685 */
  queryGrpc: number;
}

/**
 * A Jaeger configuration (OpenTelemetry collector YAML) for one developer's machine: in-memory storage, an OTLP/HTTP
 * receiver and the UI on loopback, and nothing else listening (the all-in-one default also opens gRPC, Zipkin,
 * Jaeger-protocol, sampling, health and metrics ports).
 */
export function jaegerConfig(ports: JaegerPorts, opts: { uiAssets?: string } = {}): string {
  // A binary built from the Go module has no UI inside (release builds embed the jaeger-ui build): it serves one
  // from a folder given here, or a placeholder page beside its query API.
  const ui = opts.uiAssets ? `\n    ui:\n      assets_path: ${JSON.stringify(opts.uiAssets)}` : '';
  return `service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: warn
extensions:
  jaeger_query:
    storage:
      traces: memory
    http:
      endpoint: 127.0.0.1:${ports.ui}
    grpc:
      endpoint: 127.0.0.1:${ports.queryGrpc}${ui}
  jaeger_storage:
    backends:
      memory:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${ports.otlp}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memory
`;
}
