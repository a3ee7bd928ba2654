import { Connection } from '@temporalio/client';
import { temporalConnectionOptions, type TemporalEnv } from '../config';

/** Connects to Temporal as configured: plain, TLS, mTLS (client cert pair) or Temporal Cloud API key. */
export async function connectTemporal(config: TemporalEnv): Promise<Connection> {
  return Connection.connect(temporalConnectionOptions(config));
}
