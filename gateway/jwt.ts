import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWSAlgorithm } from 'jose';
import { ExternalId } from '../common';

/** How a deployment's identity provider issues tenant tokens (`GATEWAY_JWT_*`). */
export interface JwtTenantOptions {
  /** Where the provider publishes its signing keys (a JWKS document). */
  jwksUrl: URL;
  /** The `iss` every token must carry. */
  issuer: string;
  /** An `aud` every token must carry (the gateway's audience at the provider). */
  audience: string;
  /** The claim naming the tenant; its value must be a valid tenant id. @default 'tenant_id' */
  tenantClaim?: string;
  /** Leeway for `exp` and `nbf` against clocks that differ a little, in seconds. @default 30 */
  clockToleranceSeconds?: number;
  /**
   * Least time between two fetches of the key set. A token whose `kid` is not in the cached set makes one fetch
   * (a key rotation) unless one happened this recently, so tokens with made-up `kid`s cannot flood the provider.
   * @default 30000
   */
  jwksCooldownMs?: number;
  /** How long a fetched key set is used before it is fetched again. @default 600000 */
  jwksMaxAgeMs?: number;
  /** How long a fetch of the key set may take. @default 5000 */
  jwksTimeoutMs?: number;
}

/** The default claim that names the tenant. */
export const DEFAULT_TENANT_CLAIM = 'tenant_id';

/**
 * Signature algorithms of public keys only. An HMAC token (`HS256`, whose "secret" an attacker could take from the
 * published public key) and an unsigned one (`alg: none`) are refused before any key is looked at.
 */
export const JWT_ALGORITHMS: readonly JWSAlgorithm[] = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
];

/** Longest token verified; a longer one is refused unread. */
export const MAX_JWT_LENGTH = 8_192;

/** Three base64url segments (the last empty for `alg: none`, which is then refused): the shape of a compact JWS. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Why a token was not accepted: a code for logs (never the token), and whether the caller or the provider failed. */
export type JwtOutcome = { ok: true; tenant: string } | { ok: false; reason: string; providerUnavailable: boolean };

/** Verification errors that are the token's fault; any other failure is the key set's (fetch, timeout, bad JSON). */
const TOKEN_FAULTS = new Set<string>([
  joseErrors.JWTExpired.code,
  joseErrors.JWTClaimValidationFailed.code,
  joseErrors.JOSEAlgNotAllowed.code,
  joseErrors.JOSENotSupported.code,
  joseErrors.JWSInvalid.code,
  joseErrors.JWTInvalid.code,
  joseErrors.JWKSNoMatchingKey.code,
  joseErrors.JWKSMultipleMatchingKeys.code,
  joseErrors.JWSSignatureVerificationFailed.code,
  joseErrors.JWKInvalid.code,
]);

/**
 * Tenants from an identity provider: a bearer token that is a JWT signed by one of the provider's published keys,
 * unexpired (`exp` required, `nbf` honoured, both with {@link JwtTenantOptions.clockToleranceSeconds} of leeway),
 * from the configured issuer for the configured audience, whose tenant claim is a valid tenant id. Keys are fetched
 * with `jose`'s remote key set: cached, and fetched again once when a token names a `kid` the cache lacks.
 */
export class JwtTenants {
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;
  private readonly tenantClaim: string;

  constructor(private readonly opts: JwtTenantOptions) {
    this.tenantClaim = opts.tenantClaim ?? DEFAULT_TENANT_CLAIM;
    this.keys = createRemoteJWKSet(opts.jwksUrl, {
      cooldownDuration: opts.jwksCooldownMs ?? 30_000,
      cacheMaxAge: opts.jwksMaxAgeMs ?? 600_000,
      timeoutDuration: opts.jwksTimeoutMs ?? 5_000,
    });
  }

  /** True when `token` has the shape of a JWT (the static tokens of `TURNFLOW_API_TOKENS` need not). */
  static looksLikeJwt(token: string): boolean {
    return token.length <= MAX_JWT_LENGTH && COMPACT_JWS.test(token);
  }

  /** Verifies `token` and reads its tenant. Never throws; never returns or logs the token. */
  async authenticate(token: string): Promise<JwtOutcome> {
    if (!JwtTenants.looksLikeJwt(token)) return { ok: false, reason: 'not_a_jwt', providerUnavailable: false };
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.keys, {
        issuer: this.opts.issuer,
        audience: this.opts.audience,
        algorithms: [...JWT_ALGORITHMS],
        clockTolerance: this.opts.clockToleranceSeconds ?? 30,
        requiredClaims: ['exp', 'iss', 'aud'],
      }));
    } catch (err: unknown) {
      const code = err instanceof joseErrors.JOSEError ? err.code : 'jwks_unreachable';
      return { ok: false, reason: code, providerUnavailable: !TOKEN_FAULTS.has(code) };
    }
    const tenant = ExternalId.safeParse(payload[this.tenantClaim]);
    if (!tenant.success) return { ok: false, reason: 'invalid_tenant_claim', providerUnavailable: false };
    return { ok: true, tenant: tenant.data };
  }
}
