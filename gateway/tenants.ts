import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ExternalId } from '../common';

/** The token the embedded dev stack (`TURNFLOW_DEV=1`) accepts when no tokens are configured. */
export const DEV_TOKEN = 'dev-token';
/** The tenant {@link DEV_TOKEN} belongs to. */
export const DEV_TENANT = 'dev';

/**
 * The SHA-256 of a bearer token as lowercase hex: what `TURNFLOW_API_TOKENS` stores instead of the token.
 *
 * @example
 * node -e "console.log('acme:' + require('node:crypto').createHash('sha256').update(process.argv[1]).digest('hex'))" 'my-secret-token'
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** One `tenant:sha256hex(token)` entry of `TURNFLOW_API_TOKENS`. */
export const TokenEntry = z
  .string()
  .trim()
  .transform((entry, ctx) => {
    const at = entry.lastIndexOf(':');
    const tenant = ExternalId.safeParse(entry.slice(0, at));
    const hash = entry.slice(at + 1).toLowerCase();
    if (at <= 0 || !tenant.success) {
      ctx.addIssue({ code: 'custom', message: 'each entry must be tenant:sha256hex with a valid tenant id' });
      return z.NEVER;
    }
    if (!/^[0-9a-f]{64}$/.test(hash)) {
      ctx.addIssue({ code: 'custom', message: `the hash of tenant "${tenant.data}" must be 64 hex characters` });
      return z.NEVER;
    }
    return { tenant: tenant.data, hash };
  });
export type TokenEntry = z.infer<typeof TokenEntry>;

/** `TURNFLOW_API_TOKENS`: comma-separated {@link TokenEntry}s, at least one, no hash listed twice. */
export const ApiTokens = z
  .string()
  .transform((value) => value.split(',').filter((s) => s.trim() !== ''))
  .pipe(z.array(TokenEntry).min(1, 'must list at least one tenant:sha256hex entry'))
  .refine((entries) => new Set(entries.map((e) => e.hash)).size === entries.length, {
    message: 'the same token hash is listed more than once',
  });

/**
 * Maps bearer tokens to tenants. Holds only SHA-256 hashes of the tokens; a presented token is hashed and
 * compared with every entry in constant time, so neither the tokens nor the position of a match leak.
 */
export class TenantDirectory {
  private readonly entries: readonly { tenant: string; hash: Buffer }[];

  constructor(entries: readonly TokenEntry[]) {
    this.entries = entries.map((e) => ({ tenant: e.tenant, hash: Buffer.from(e.hash, 'hex') }));
  }

  /** The directory of `TURNFLOW_API_TOKENS`. @throws ZodError when the value is malformed. */
  static parse(value: string): TenantDirectory {
    return new TenantDirectory(ApiTokens.parse(value));
  }

  /** The embedded dev stack's directory: {@link DEV_TOKEN} for tenant {@link DEV_TENANT}. */
  static dev(): TenantDirectory {
    return new TenantDirectory([{ tenant: DEV_TENANT, hash: hashToken(DEV_TOKEN) }]);
  }

  /** The tenant a bearer token belongs to, or `undefined` for an unknown token. */
  authenticate(token: string): string | undefined {
    const presented = Buffer.from(hashToken(token), 'hex');
    let tenant: string | undefined;
    for (const entry of this.entries) {
      // No early exit: every entry is compared, whatever matches.
      if (timingSafeEqual(presented, entry.hash) && tenant === undefined) tenant = entry.tenant;
    }
    return tenant;
  }

  /** The tenants that have at least one token (for start-up logs). */
  get tenants(): string[] {
    return [...new Set(this.entries.map((e) => e.tenant))];
  }
}
