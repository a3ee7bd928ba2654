import { readFile } from 'node:fs/promises';
import type { TLSConfig } from '@temporalio/client';
import { z } from 'zod';
import { TASK_QUEUE } from '../common';

/** An environment flag: `true|false|1|0|yes|no`. */
export const EnvBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * How a process reaches Temporal, from Temporal's own variable names. Shared by the worker and the gateway,
 * which extend it with their own variables.
 */
export const TemporalEnv = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Temporal Cloud API key; implies TLS. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: EnvBool.optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().min(1).optional(),
  /** Task queue turns run on. @default 'turnflow' */
  TURNFLOW_TASK_QUEUE: z.string().min(1).default(TASK_QUEUE),
});
export type TemporalEnv = z.infer<typeof TemporalEnv>;

/** A problem with the Temporal variables that no single field shows, or `undefined`. */
export function temporalEnvProblem(env: TemporalEnv): string | undefined {
  if (Boolean(env.TEMPORAL_TLS_CLIENT_CERT_PATH) !== Boolean(env.TEMPORAL_TLS_CLIENT_KEY_PATH)) {
    return 'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together';
  }
  return undefined;
}

/**
 * Options for `Connection.connect` (client) or `NativeConnection.connect` (worker): plain, TLS, mTLS with a
 * client certificate pair, or a Temporal Cloud API key.
 */
export async function temporalConnectionOptions(
  env: TemporalEnv,
): Promise<{ address: string; tls?: TLSConfig | boolean; apiKey?: string }> {
  const tls =
    env.TEMPORAL_TLS_CLIENT_CERT_PATH && env.TEMPORAL_TLS_CLIENT_KEY_PATH
      ? {
          clientCertPair: {
            crt: await readFile(env.TEMPORAL_TLS_CLIENT_CERT_PATH),
            key: await readFile(env.TEMPORAL_TLS_CLIENT_KEY_PATH),
          },
        }
      : env.TEMPORAL_TLS || env.TEMPORAL_API_KEY
        ? true
        : undefined;
  return {
    address: env.TEMPORAL_ADDRESS,
    ...(tls !== undefined ? { tls } : {}),
    ...(env.TEMPORAL_API_KEY ? { apiKey: env.TEMPORAL_API_KEY } : {}),
  };
}
