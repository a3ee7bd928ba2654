// A service that starts turns and relays their event stream to its own callers, as newline-delimited JSON.
//   POST /chat  {"conversationId":"c1","requestId":"r1","message":"where is order A-1001?"}
// Environment: DATABASE_URL, TEMPORAL_ADDRESS, TASK_QUEUE, PORT.
import { createServer, type IncomingMessage } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { InvalidTurnRequestError, TurnClient } from 'turnflow/client';

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body = '';
  for await (const chunk of req) {
    body += String(chunk);
    if (body.length > 200_000) throw new InvalidTurnRequestError('the request body is too large');
  }
  return JSON.parse(body);
}

async function main(): Promise<void> {
  const databaseUrl = process.env['DATABASE_URL'] ?? 'postgres://localhost/turnflow';
  const connection = await Connection.connect({ address: process.env['TEMPORAL_ADDRESS'] ?? 'localhost:7233' });
  const pool = new pg.Pool({ connectionString: databaseUrl });
  // An idle connection that drops (a Postgres restart) is reported here; without a listener it kills the process.
  pool.on('error', (err) => console.warn(`database connection lost: ${err.message}`));
  const turns = new TurnClient({
    temporal: new Client({ connection }),
    pool,
    databaseUrl,
    taskQueue: process.env['TASK_QUEUE'] ?? 'turnflow',
  });

  const server = createServer((req, res) => {
    void (async () => {
      try {
        // Your own authentication decides the tenant; the request names the conversation and the request id.
        const body = (await readJson(req)) as Record<string, unknown>;
        const { turnId } = await turns.start({ ...body, tenantId: 'acme' } as Parameters<TurnClient['start']>[0]);
        res.writeHead(200, { 'Content-Type': 'application/x-ndjson' });
        const stop = new AbortController();
        res.on('close', () => stop.abort()); // the caller left: stop reading (the turn runs on)
        for await (const event of turns.events(turnId, { signal: stop.signal }))
          res.write(`${JSON.stringify(event)}\n`);
        res.end();
      } catch (err: unknown) {
        const status = err instanceof InvalidTurnRequestError || err instanceof SyntaxError ? 400 : 500;
        if (!res.headersSent) res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: status === 400 ? (err as Error).message : 'internal error' }));
      }
    })();
  });
  server.listen(Number(process.env['PORT'] ?? 3000), () => console.log('service ready'));
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  server.close();
  await turns.close();
  await pool.end();
  await connection.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
