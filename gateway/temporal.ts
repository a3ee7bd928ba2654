import { readFile } from 'node:fs/promises';
import { Connection } from '@temporalio/client';
import type { GatewayConfig } from './config';

/** Connects to Temporal as configured: plain, TLS, mTLS (client cert pair) or Temporal Cloud API key. */
export async function connectTemporal(
  config: Pick<
    GatewayConfig,
    | 'TEMPORAL_ADDRESS'
    | 'TEMPORAL_API_KEY'
    | 'TEMPORAL_TLS'
    | 'TEMPORAL_TLS_CLIENT_CERT_PATH'
    | 'TEMPORAL_TLS_CLIENT_KEY_PATH'
  >,
): Promise<Connection> {
  const tls =
    config.TEMPORAL_TLS_CLIENT_CERT_PATH && config.TEMPORAL_TLS_CLIENT_KEY_PATH
      ? {
          clientCertPair: {
            crt: await readFile(config.TEMPORAL_TLS_CLIENT_CERT_PATH),
            key: await readFile(config.TEMPORAL_TLS_CLIENT_KEY_PATH),
          },
        }
      : config.TEMPORAL_TLS || config.TEMPORAL_API_KEY
        ? true
        : undefined;
  return Connection.connect({
    address: config.TEMPORAL_ADDRESS,
    ...(tls !== undefined ? { tls } : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  });
}
