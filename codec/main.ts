// The codec server as its own process (`npm run codec-server`; `npm start` runs it when TURNFLOW_ENCRYPTION_KEYS is
// set): decrypts payloads for an operator's Temporal UI. Keep it where only operators reach it.
import pino from 'pino';
import { z } from 'zod';
import { ConfigError, EnvBool } from '../config';
import { AesGcmPayloadCodec } from './aes-gcm-codec';
import { EncryptionKeys } from './keys';
import { startCodecServer } from './server';

const List = z.string().transform((v) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** The codec server's environment. */
const CodecEnv = z.object({
  TURNFLOW_ENCRYPTION_KEYS: EncryptionKeys,
  /** @default 8234 */
  CODEC_PORT: z.coerce.number().int().min(0).max(65_535).default(8234),
  /** @default 127.0.0.1 */
  CODEC_HOST: z.string().min(1).default('127.0.0.1'),
  /** Comma-separated SHA-256 hex digests of the bearer tokens accepted (operators'; not the API's tenant tokens). */
  TURNFLOW_CODEC_TOKENS: List.pipe(
    z.array(z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be sha256 hex digests')),
  ).optional(),
  /** Origins whose pages may call it: the Temporal UI's. @default http://localhost:8233,http://127.0.0.1:8233 */
  TURNFLOW_CODEC_CORS_ORIGINS: List.default(['http://localhost:8233', 'http://127.0.0.1:8233']),
  /** Set by `npm start`: without tokens, the embedded stack's UI (which has none to pass) is served on localhost. */
  TURNFLOW_DEV: EnvBool.default(false),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

async function main(): Promise<void> {
  const parsed = CodecEnv.safeParse(process.env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n');
    throw new ConfigError(`the codec server cannot start; fix these environment variables:\n${problems}`);
  }
  const env = parsed.data;
  const logger = pino({ level: env.LOG_LEVEL });
  const tokenHashes = env.TURNFLOW_CODEC_TOKENS ?? [];
  if (tokenHashes.length === 0) {
    if (!env.TURNFLOW_DEV) {
      throw new ConfigError('the codec server cannot start: set TURNFLOW_CODEC_TOKENS (sha256 hex of each token)');
    }
    if (env.CODEC_HOST !== '127.0.0.1' && env.CODEC_HOST !== 'localhost') {
      throw new ConfigError('without TURNFLOW_CODEC_TOKENS the codec server listens on 127.0.0.1 only');
    }
    logger.warn('TURNFLOW_CODEC_TOKENS is not set: decoding for anyone on this machine (embedded dev stack only)');
  }
  const server = await startCodecServer({
    codec: new AesGcmPayloadCodec(env.TURNFLOW_ENCRYPTION_KEYS),
    tokenHashes,
    corsOrigins: env.TURNFLOW_CODEC_CORS_ORIGINS,
    port: env.CODEC_PORT,
    host: env.CODEC_HOST,
  });
  logger.info(
    {
      endpoint: server.endpoint,
      keys: env.TURNFLOW_ENCRYPTION_KEYS.map((k) => k.id),
      origins: env.TURNFLOW_CODEC_CORS_ORIGINS,
    },
    'turnflow codec server listening',
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  logger.info({ signal }, 'turnflow codec server stopping');
  await server.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
