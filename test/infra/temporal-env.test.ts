import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { TemporalEnv, temporalConnectionOptions } from '../../config';

const options = (vars: Record<string, string>) => temporalConnectionOptions(TemporalEnv.parse(vars));

describe('Temporal connection settings (TEMPORAL_* through @temporalio/envconfig)', () => {
  it('connects in plain text to localhost:7233 when nothing is set', () => {
    assert.deepEqual(options({}), { address: 'localhost:7233' });
  });

  it('turns TLS on for an API key, and for TEMPORAL_TLS in every spelling of true', () => {
    const cloud = options({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'key-1' });
    assert.equal(cloud.address, 'ns.acct.tmprl.cloud:7233');
    assert.equal(cloud.apiKey, 'key-1');
    assert.ok(cloud.tls, 'an API key implies TLS');
    for (const yes of ['true', '1', 'yes']) assert.ok(options({ TEMPORAL_TLS: yes }).tls, yes);
    for (const no of ['false', '0', 'no']) assert.ok(!options({ TEMPORAL_TLS: no }).tls, no);
  });

  it('reads the client certificate pair from its paths for mTLS', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'turnflow-tls-'));
    try {
      writeFileSync(path.join(dir, 'c.pem'), 'CERT');
      writeFileSync(path.join(dir, 'k.pem'), 'KEY');
      const { tls } = options({
        TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'c.pem'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: path.join(dir, 'k.pem'),
        TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
      });
      assert.ok(tls && typeof tls === 'object');
      assert.equal(Buffer.from(tls.clientCertPair!.crt).toString(), 'CERT');
      assert.equal(Buffer.from(tls.clientCertPair!.key).toString(), 'KEY');
      assert.equal(tls.serverNameOverride, 'temporal.internal');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a TEMPORAL_TLS that is not a flag', () => {
    assert.throws(() => TemporalEnv.parse({ TEMPORAL_TLS: 'maybe' }), /TEMPORAL_TLS/);
  });
});
