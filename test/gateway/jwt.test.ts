import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import {
  base64url,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  SignJWT,
  UnsecuredJWT,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import pg from 'pg';
import pino from 'pino';
import type { TurnClient } from '../../client';
import { turnIdFor } from '../../common';
import { createGatewayApp, hashToken, JwtTenants, loadGatewayConfig, TenantDirectory } from '../../gateway';
import { uniqueId } from '../support';
import { gatewayHarness, readEvents } from './harness';

const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'turnflow-gateway';

interface Key {
  kid: string;
  alg: 'RS256' | 'ES256';
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  jwk: JWK;
}

async function makeKey(kid: string, alg: Key['alg']): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg);
  return { kid, alg, privateKey, publicKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

/** A local JWKS endpoint whose key list a test changes, counting the fetches it answers. */
interface JwksServer {
  url: URL;
  keys: Key[];
  fetches: number;
  /** `fail`: answer 500; `ok`: the keys. */
  mode: 'ok' | 'fail';
  close(): Promise<void>;
}

async function jwksServer(): Promise<JwksServer> {
  const state = { keys: [] as Key[], fetches: 0, mode: 'ok' as 'ok' | 'fail' };
  const server: Server = createServer((req, res) => {
    state.fetches += 1;
    if (state.mode === 'fail') {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  });
}

/** A token signed by `key`, valid for five minutes, for tenant `acme` unless `claims` say otherwise. */
function sign(key: Key, claims: JWTPayload = {}, opts: { kid?: string; omit?: string[] } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const payload: JWTPayload = { iss: ISSUER, aud: AUDIENCE, exp: now + 300, iat: now, tenant_id: 'acme', ...claims };
  for (const name of opts.omit ?? []) delete payload[name];
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: opts.kid ?? key.kid }).sign(key.privateKey);
}

describe('gateway: JWT tenants', function () {
  this.timeout(60_000);
  let jwks: JwksServer;
  let rsa: Key;
  let ec: Key;
  let unpublished: Key;

  before(async () => {
    jwks = await jwksServer();
    [rsa, ec, unpublished] = await Promise.all([
      makeKey('rsa-1', 'RS256'),
      makeKey('ec-1', 'ES256'),
      makeKey('rsa-2', 'RS256'),
    ]);
  });
  beforeEach(() => {
    jwks.keys = [rsa, ec];
    jwks.mode = 'ok';
  });
  after(async () => {
    await jwks.close();
  });

  /** A fresh verifier (its own key cache) against the local key set. */
  function verifier(opts: { tenantClaim?: string; jwksCooldownMs?: number } = {}): JwtTenants {
    return new JwtTenants({ jwksUrl: jwks.url, issuer: ISSUER, audience: AUDIENCE, jwksCooldownMs: 0, ...opts });
  }

  it('accepts tokens signed by a published RSA or EC key and reads the tenant from them', async () => {
    const v = verifier();
    assert.deepEqual(await v.authenticate(await sign(rsa)), { ok: true, tenant: 'acme' });
    assert.deepEqual(await v.authenticate(await sign(ec, { tenant_id: 'globex' })), { ok: true, tenant: 'globex' });
    const custom = verifier({ tenantClaim: 'https://example.test/org' });
    const token = await sign(rsa, { 'https://example.test/org': 'initech', tenant_id: 'acme' });
    assert.deepEqual(await custom.authenticate(token), { ok: true, tenant: 'initech' });
  });

  it('honours exp and nbf with a small clock skew, and requires exp', async () => {
    const v = verifier();
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await v.authenticate(await sign(rsa, { exp: now - 10 }))).ok, true, 'expired 10 s ago: within skew');
    assert.deepEqual(await v.authenticate(await sign(rsa, { exp: now - 120 })), {
      ok: false,
      reason: 'ERR_JWT_EXPIRED',
      providerUnavailable: false,
    });
    assert.equal((await v.authenticate(await sign(rsa, { nbf: now + 10 }))).ok, true, 'valid in 10 s: within skew');
    const refused = { ok: false, reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED', providerUnavailable: false };
    assert.deepEqual(await v.authenticate(await sign(rsa, { nbf: now + 120 })), refused, 'valid in 2 minutes');
    assert.deepEqual(await v.authenticate(await sign(rsa, {}, { omit: ['exp'] })), refused, 'no exp');
  });

  it('refuses a token of another issuer or audience, or without either', async () => {
    const v = verifier();
    for (const token of [
      await sign(rsa, { iss: 'https://evil.example.test/' }),
      await sign(rsa, { aud: 'someone-else' }),
      await sign(rsa, {}, { omit: ['iss'] }),
      await sign(rsa, {}, { omit: ['aud'] }),
    ]) {
      const outcome = await v.authenticate(token);
      assert.equal(outcome.ok, false);
      assert.equal(!outcome.ok && outcome.providerUnavailable, false);
    }
  });

  it('refuses alg none, an HMAC token keyed with the published public key, and a forged signature', async () => {
    const v = verifier();
    const now = Math.floor(Date.now() / 1000);
    const unsigned = new UnsecuredJWT({ tenant_id: 'acme' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime(now + 300)
      .encode();
    // The same with the kid of a published key, as an attacker would send it.
    const [, body] = unsigned.split('.');
    const unsignedWithKid = `${base64url.encode(JSON.stringify({ alg: 'none', kid: rsa.kid }))}.${body}.`;
    // The classic confusion: HS256 with the RSA public key (as PEM, and as its JWK modulus) for the secret.
    const payload = { iss: ISSUER, aud: AUDIENCE, exp: now + 300, tenant_id: 'acme' };
    const hmacPem = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .sign(new TextEncoder().encode(await exportSPKI(rsa.publicKey)));
    const hmacModulus = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
      .sign(base64url.decode(rsa.jwk.n!));
    // Signed by an unpublished key, but naming a published one.
    const forged = await sign(unpublished, {}, { kid: rsa.kid });
    const tampered = (await sign(rsa, { tenant_id: 'globex' })).split('.');
    const swapped = [tampered[0], (await sign(rsa)).split('.')[1], tampered[2]].join('.');
    const cases: [string, string, string][] = [
      ['unsigned', unsigned, 'ERR_JOSE_ALG_NOT_ALLOWED'],
      ['unsigned, naming a published kid', unsignedWithKid, 'ERR_JOSE_ALG_NOT_ALLOWED'],
      ['HS256 keyed with the PEM', hmacPem, 'ERR_JOSE_ALG_NOT_ALLOWED'],
      ['HS256 keyed with the modulus', hmacModulus, 'ERR_JOSE_ALG_NOT_ALLOWED'],
      ['signed by another key', forged, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'],
      ["another token's claims", swapped, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'],
    ];
    for (const [name, token, reason] of cases) {
      assert.deepEqual(await v.authenticate(token), { ok: false, reason, providerUnavailable: false }, name);
    }
  });

  it('fetches the key set once more for an unknown kid, then refuses the token', async () => {
    const v = verifier();
    assert.equal((await v.authenticate(await sign(rsa))).ok, true);
    const fetched = jwks.fetches;
    const outcome = await v.authenticate(await sign(unpublished));
    assert.deepEqual(outcome, { ok: false, reason: 'ERR_JWKS_NO_MATCHING_KEY', providerUnavailable: false });
    assert.equal(jwks.fetches, fetched + 1, 'exactly one refresh');
    // Within the cooldown an unknown kid costs no fetch at all.
    const patient = verifier({ jwksCooldownMs: 60_000 });
    assert.equal((await patient.authenticate(await sign(rsa))).ok, true);
    const before = jwks.fetches;
    for (let i = 0; i < 5; i++) assert.equal((await patient.authenticate(await sign(unpublished))).ok, false);
    assert.equal(jwks.fetches, before);
  });

  it('follows a key rotation: a new key is fetched with its first token, a withdrawn key is refused', async () => {
    const v = verifier();
    assert.equal((await v.authenticate(await sign(rsa))).ok, true);
    // The provider publishes the next key beside the current one, then signs with it.
    jwks.keys = [rsa, ec, unpublished];
    assert.deepEqual(await v.authenticate(await sign(unpublished, { tenant_id: 'globex' })), {
      ok: true,
      tenant: 'globex',
    });
    assert.equal((await v.authenticate(await sign(rsa))).ok, true, 'the old key still works while published');
    // Then withdraws the old one: a token that names it makes one refresh, which no longer holds it.
    jwks.keys = [ec, unpublished];
    const fetched = jwks.fetches;
    const stale = await sign(unpublished, {}, { kid: 'rsa-0' });
    assert.equal((await v.authenticate(stale)).ok, false);
    assert.equal(jwks.fetches, fetched + 1);
    assert.equal((await v.authenticate(await sign(rsa))).ok, false, 'the withdrawn key is refused');
    assert.equal((await v.authenticate(await sign(unpublished))).ok, true);
  });

  it('refuses a token that names no tenant, or a tenant id a static token could not have', async () => {
    const v = verifier();
    for (const tenant of [undefined, '', 'a/b', 'has space', 'x'.repeat(129), 42, ['acme'], { id: 'acme' }]) {
      const token =
        tenant === undefined ? await sign(rsa, {}, { omit: ['tenant_id'] }) : await sign(rsa, { tenant_id: tenant });
      assert.deepEqual(
        await v.authenticate(token),
        { ok: false, reason: 'invalid_tenant_claim', providerUnavailable: false },
        JSON.stringify(tenant),
      );
    }
  });

  it('through the gateway: static tokens and JWTs side by side, 401 for bad JWTs, 503 when the keys cannot be fetched, no token in the logs', async () => {
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logs.push(chunk.toString('utf8'));
        callback();
      },
    });
    // Requests go to a path no route serves: 404 means the token was accepted, and nothing reaches Postgres.
    const app = createGatewayApp({
      turns: undefined as unknown as TurnClient,
      pool: new pg.Pool({ max: 1 }),
      tenants: new TenantDirectory([{ tenant: 'acme', hash: hashToken('static-token') }]),
      jwt: verifier(),
      logger: pino({ level: 'debug' }, sink),
    });
    const call = (token: string) => app.request('/v1/nowhere', { headers: { authorization: `Bearer ${token}` } });
    const good = await sign(ec);
    const expired = await sign(rsa, { exp: Math.floor(Date.now() / 1000) - 600 });
    const stranger = await sign(unpublished);
    assert.equal((await call('static-token')).status, 404);
    assert.equal((await call(good)).status, 404);
    for (const token of [expired, stranger, 'not-a-jwt', `${good}x`]) {
      const res = await call(token);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/);
    }
    jwks.mode = 'fail';
    const down = await app.request('/v1/nowhere', { headers: { authorization: `Bearer ${await sign(unpublished)}` } });
    assert.equal(down.status, 503);
    assert.equal(down.headers.get('retry-after'), '5');
    const text = logs.join('');
    assert.match(text, /ERR_JWT_EXPIRED/, 'the reason is logged');
    for (const token of [good, expired, stranger]) {
      for (const part of token.split('.')) assert.ok(!text.includes(part), 'no part of a token is logged');
    }
  });

  it('reads JWT settings from the environment: all three or none, https unless on loopback', () => {
    const DB = { DATABASE_URL: 'postgres://u:p@localhost:5432/turnflow' };
    const jwtEnv = { GATEWAY_JWT_JWKS_URL: jwks.url.href, GATEWAY_JWT_ISSUER: ISSUER, GATEWAY_JWT_AUDIENCE: AUDIENCE };
    const config = loadGatewayConfig({ ...DB, ...jwtEnv });
    assert.equal(config.jwt?.jwksUrl.href, jwks.url.href);
    assert.equal(config.jwt?.tenantClaim, 'tenant_id');
    assert.deepEqual(config.tenants.tenants, [], 'JWT tenants alone need no static token');
    assert.equal(config.devTokenFallback, false);
    assert.equal(loadGatewayConfig({ ...DB, ...jwtEnv, GATEWAY_JWT_TENANT_CLAIM: 'org' }).jwt?.tenantClaim, 'org');
    assert.equal(loadGatewayConfig({ ...DB, TURNFLOW_DEV: '1' }).jwt, undefined);
    const blank = {
      GATEWAY_JWT_JWKS_URL: '',
      GATEWAY_JWT_ISSUER: ' ',
      GATEWAY_JWT_AUDIENCE: '',
      GATEWAY_JWT_TENANT_CLAIM: '',
    };
    assert.equal(loadGatewayConfig({ ...DB, TURNFLOW_DEV: '1', ...blank }).jwt, undefined, 'empty counts as unset');
    assert.equal(loadGatewayConfig({ ...DB, ...jwtEnv, GATEWAY_JWT_TENANT_CLAIM: '' }).jwt?.tenantClaim, 'tenant_id');
    assert.throws(() => loadGatewayConfig({ ...DB, GATEWAY_JWT_JWKS_URL: jwks.url.href }), /GATEWAY_JWT_ISSUER/);
    assert.throws(
      () => loadGatewayConfig({ ...DB, ...jwtEnv, GATEWAY_JWT_JWKS_URL: 'http://idp.example.test/jwks' }),
      /GATEWAY_JWT_JWKS_URL: must be https/,
    );
    assert.equal(
      loadGatewayConfig({ ...DB, ...jwtEnv, GATEWAY_JWT_JWKS_URL: 'https://idp.example.test/jwks' }).jwt?.jwksUrl.host,
      'idp.example.test',
    );
  });

  it("a JWT tenant's turn is its own: started and read under its tenant, a 404 to another tenant's JWT", async function () {
    this.timeout(180_000);
    const g = await gatewayHarness({ jwt: verifier() });
    try {
      g.h.llm.enqueue({ steps: [{ text: 'hello, initech' }] });
      const requestId = uniqueId('req');
      const token = await sign(rsa, { tenant_id: 'initech' });
      const res = await g.h.withWorker(async () => {
        const started = await g.postTurn({ requestId }, { token });
        assert.equal(started.status, 200);
        const events = await readEvents(started);
        assert.equal(events.at(-1)?.event, 'done');
        return started;
      });
      const turnId = turnIdFor('initech', g.h.conversationId, requestId);
      assert.equal(decodeURIComponent(res.headers.get('turn-id') ?? ''), turnId);
      const path = `/v1/conversations/${g.h.conversationId}/messages`;
      const own = await g.request(path, { token });
      assert.equal(own.status, 200);
      const body = (await own.json()) as { messages: { role: string; content: string }[] };
      assert.deepEqual(
        body.messages.map((m) => [m.role, m.content]),
        [
          ['user', 'hello'],
          ['assistant', 'hello, initech'],
        ],
      );
      const other = await sign(ec, { tenant_id: 'globex' });
      assert.equal((await g.request(path, { token: other })).status, 404);
      assert.equal((await g.request(`/v1/turns/${encodeURIComponent(turnId)}/events`, { token: other })).status, 404);
    } finally {
      await g.close();
    }
  });
});
