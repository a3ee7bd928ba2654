import net from 'node:net';
import { freePort } from '../../dev';

/** A TCP forwarder a test can cut, to make one process lose a dependency that others still reach. */
export interface TcpProxy {
  /** `127.0.0.1:<port>` to connect to instead of the target. */
  readonly address: string;
  /** Destroys every open connection and refuses new ones until {@link TcpProxy.restore}. */
  cut(): Promise<void>;
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** Forwards 127.0.0.1:<free port> to `target` (`host:port`). */
export async function tcpProxy(target: string): Promise<TcpProxy> {
  const [host = '127.0.0.1', portText = ''] = target.split(/:(?=\d+$)/);
  const targetPort = Number(portText);
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((inbound) => {
        const outbound = net.connect({ host, port: targetPort });
        for (const socket of [inbound, outbound]) {
          sockets.add(socket);
          socket.on('error', () => undefined);
          socket.on('close', () => {
            sockets.delete(socket);
            inbound.destroy();
            outbound.destroy();
          });
        }
        inbound.pipe(outbound).pipe(inbound);
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
      server = s;
    });
  const unlisten = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return { address: `127.0.0.1:${port}`, cut: unlisten, restore: listen, close: unlisten };
}
