import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a chaos worker tells the supervisor (with its pid). */
export type ControlReport =
  | { kind: 'activity-start' | 'activity-end'; activity: string; turnId: string; hop: number; attempt: number }
  | { kind: 'tool-start' | 'tool-effect'; turnId: string; hop: number; toolCallId: string };

/**
 * Handles one report. The worker waits for the answer, so a handler that kills the worker before it returns lands
 * the kill exactly at the reported point (e.g. after a tool's side effect, before its result is stored).
 */
export type ControlHandler = (report: ControlReport & { pid: number }) => Promise<void> | void;

/** The supervisor's end of the channel: a loopback HTTP endpoint the workers POST their reports to. */
export async function startControlServer(handle: ControlHandler): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.on('error', () => undefined); // the worker may be dead by the time we answer
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          await handle(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ControlReport & { pid: number });
        } finally {
          res.end();
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/report`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
