import type { TLSConfig } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { z } from 'zod';
import { EncryptionKeys } from '../codec/keys';
import { TASK_QUEUE } from '../common';

/** An environment flag: `true|false|1|0|yes|no`. */
export const EnvBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

/**
 * The Temporal variables a process accepts, validated at start-up so a bad one stops it naming the variable
 * (`@temporalio/envconfig` reads them without validating). Shared by the worker and the gateway, which extend it.
 */
export const TemporalEnv = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Temporal Cloud API key; implies TLS unless `TEMPORAL_TLS` is false. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  TEMPORAL_TLS: EnvBool.optional(),
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().min(1).optional(),
  /** CA certificate of a server whose certificate the system roots do not sign. */
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: z.string().min(1).optional(),
  /** Server name to verify the server's certificate against, when it differs from the address's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** Task queue turns run on. @default 'turnflow' */
  TURNFLOW_TASK_QUEUE: z.string().min(1).default(TASK_QUEUE),
  /**
   * Payload encryption: `keyId:base64key,…` (32-byte AES-256 keys); the first encrypts, all decrypt. Unset: payloads
   * go to Temporal as they are.
   */
  TURNFLOW_ENCRYPTION_KEYS: z.preprocess((v) => (v === '' ? undefined : v), EncryptionKeys.optional()),
});
export type TemporalEnv = z.infer<typeof TemporalEnv>;

/** A problem with the Temporal variables that no single field shows, or `undefined`. */
export function temporalEnvProblem(env: TemporalEnv): string | undefined {
  if (Boolean(env.TEMPORAL_TLS_CLIENT_CERT_PATH) !== Boolean(env.TEMPORAL_TLS_CLIENT_KEY_PATH)) {
    return 'TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together';
  }
  return undefined;
}

/** What `Connection.connect` (client) and `NativeConnection.connect` (worker) both take. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
}

/**
 * Connection options from the validated variables, built by `@temporalio/envconfig` (Temporal's own reading of
 * `TEMPORAL_*`): plain, TLS, mTLS with a client certificate pair, a custom CA or server name, or a Temporal Cloud
 * API key. Only the variables are read, no `temporal.toml` profile: our defaults would shadow a profile's values.
 * @throws the file system's error when a certificate path cannot be read.
 */
export function temporalConnectionOptions(env: TemporalEnv): TemporalConnectionOptions {
  const vars: Record<string, string> = { TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS };
  if (env.TEMPORAL_API_KEY) vars['TEMPORAL_API_KEY'] = env.TEMPORAL_API_KEY;
  // envconfig knows only `true`/`1`; ours also takes `yes`/`no`, so hand it the parsed flag.
  if (env.TEMPORAL_TLS !== undefined) vars['TEMPORAL_TLS'] = String(env.TEMPORAL_TLS);
  if (env.TEMPORAL_TLS_CLIENT_CERT_PATH) vars['TEMPORAL_TLS_CLIENT_CERT_PATH'] = env.TEMPORAL_TLS_CLIENT_CERT_PATH;
  if (env.TEMPORAL_TLS_CLIENT_KEY_PATH) vars['TEMPORAL_TLS_CLIENT_KEY_PATH'] = env.TEMPORAL_TLS_CLIENT_KEY_PATH;
  if (env.TEMPORAL_TLS_SERVER_CA_CERT_PATH)
    vars['TEMPORAL_TLS_SERVER_CA_CERT_PATH'] = env.TEMPORAL_TLS_SERVER_CA_CERT_PATH;
  if (env.TEMPORAL_TLS_SERVER_NAME) vars['TEMPORAL_TLS_SERVER_NAME'] = env.TEMPORAL_TLS_SERVER_NAME;
  const { connectionOptions } = loadClientConnectConfig({ disableFile: true, overrideEnvVars: vars });
  const { tls, apiKey } = connectionOptions;
  return {
    address: env.TEMPORAL_ADDRESS,
    ...(tls !== undefined && tls !== null ? { tls } : {}),
    ...(apiKey !== undefined && typeof apiKey === 'string' ? { apiKey } : {}),
  };
}
