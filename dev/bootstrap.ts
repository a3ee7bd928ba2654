// `npm run bootstrap` (run before `npm start` and `npm test`): makes sure the Temporal CLI and a Postgres server
// exist. Silent when everything is already in place; one line per thing it installs or creates. `--jaeger` also
// builds the Jaeger `npm start -- --traces` runs (otherwise built the first time that runs; never on the test path).
import { resolveJaeger } from './jaeger';
import { APP_DATABASE, createDatabase, ensureLocalPostgres, noteBootstrapStart } from './postgres';
import { resolveTemporalCli } from './temporal-cli';
import { ensureMcpServerTime } from './mcp-time-server';

async function main(): Promise<void> {
  const log = (line: string): void => console.log(`bootstrap: ${line}`);
  const [, postgres] = await Promise.all([
    resolveTemporalCli({ log }),
    ensureLocalPostgres({ log }),
    // Only the MCP tests need it (they say so and skip when it is missing): never a reason to stop here.
    ensureMcpServerTime(log).catch((err: unknown) =>
      log(`mcp-server-time not installed (the MCP time-server tests will skip): ${String(err)}`),
    ),
    process.argv.slice(2).includes('--jaeger') ? resolveJaeger({ log }) : undefined,
  ]);
  // `npm start` runs us as `prestart`: tell it whether the cluster is its to stop on Ctrl-C.
  await noteBootstrapStart(postgres.startedHere);
  if (!postgres.external && (await createDatabase(postgres.adminUrl, APP_DATABASE))) {
    log(`created database ${APP_DATABASE}`);
  }
}

main().catch((err: unknown) => {
  console.error(`bootstrap failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
