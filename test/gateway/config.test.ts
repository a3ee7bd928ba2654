import assert from 'node:assert/strict';
import { ConfigError, DEV_TENANT, DEV_TOKEN, hashToken, loadGatewayConfig, TenantDirectory } from '../../gateway';

const DB = { DATABASE_URL: 'postgres://u:p@localhost:5432/turnflow' };

describe('gateway: config and tokens', () => {
  it('maps bearer tokens to tenants through their SHA-256 hashes only', () => {
    const value = `acme:${hashToken('a-secret')},globex:${hashToken('g-secret').toUpperCase()},acme:${hashToken('a-2')}`;
    const config = loadGatewayConfig({ ...DB, TURNFLOW_API_TOKENS: value });
    assert.equal(config.tenants.authenticate('a-secret'), 'acme');
    assert.equal(config.tenants.authenticate('a-2'), 'acme');
    assert.equal(config.tenants.authenticate('g-secret'), 'globex');
    assert.equal(config.tenants.authenticate('a-secret '), undefined);
    assert.equal(config.tenants.authenticate(''), undefined);
    assert.equal(config.tenants.authenticate(DEV_TOKEN), undefined);
    assert.deepEqual(config.tenants.tenants, ['acme', 'globex']);
    assert.equal(config.devTokenFallback, false);
    assert.equal(hashToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('applies the documented defaults', () => {
    const config = loadGatewayConfig({ ...DB, TURNFLOW_API_TOKENS: `acme:${hashToken('t')}` });
    assert.equal(config.GATEWAY_PORT, 8080);
    assert.equal(config.GATEWAY_HOST, '127.0.0.1');
    assert.equal(config.GATEWAY_BODY_LIMIT_BYTES, 1_048_576);
    assert.equal(config.GATEWAY_MAX_RUNNING_TURNS, 25);
    assert.equal(config.GATEWAY_MAX_OPEN_STREAMS, 100);
    assert.equal(config.GATEWAY_RETRY_AFTER_SECONDS, 5);
    assert.equal(config.GATEWAY_WRITE_TIMEOUT_MS, 30_000);
    assert.equal(config.GATEWAY_KEEPALIVE_MS, 15_000);
    assert.equal(config.GATEWAY_START_TIMEOUT_MS, 10_000);
    const custom = loadGatewayConfig({
      ...DB,
      TURNFLOW_API_TOKENS: `acme:${hashToken('t')}`,
      GATEWAY_START_TIMEOUT_MS: '2500',
    });
    assert.equal(custom.GATEWAY_START_TIMEOUT_MS, 2_500);
    assert.throws(
      () => loadGatewayConfig({ ...DB, TURNFLOW_API_TOKENS: `acme:${hashToken('t')}`, GATEWAY_START_TIMEOUT_MS: '0' }),
      /GATEWAY_START_TIMEOUT_MS/,
    );
    assert.equal(config.TURNFLOW_TASK_QUEUE, 'turnflow');
    assert.equal(config.TURNFLOW_DIRECT_START, true, 'an idle conversation’s turn starts directly by default');
    const ordered = { ...DB, TURNFLOW_API_TOKENS: `acme:${hashToken('t')}`, TURNFLOW_DIRECT_START: 'false' };
    assert.equal(loadGatewayConfig(ordered).TURNFLOW_DIRECT_START, false);
    assert.throws(() => loadGatewayConfig({ ...ordered, TURNFLOW_DIRECT_START: 'yes' }), /TURNFLOW_DIRECT_START/);
  });

  it('reads TURNFLOW_CONVERSATION_IDLE as a duration (10 minutes by default) and refuses a malformed one', () => {
    const tokens = { ...DB, TURNFLOW_API_TOKENS: `acme:${hashToken('t')}` };
    assert.equal(loadGatewayConfig(tokens).TURNFLOW_CONVERSATION_IDLE, 600_000);
    assert.equal(
      loadGatewayConfig({ ...tokens, TURNFLOW_CONVERSATION_IDLE: '90s' }).TURNFLOW_CONVERSATION_IDLE,
      90_000,
    );
    assert.equal(
      loadGatewayConfig({ ...tokens, TURNFLOW_CONVERSATION_IDLE: '2h' }).TURNFLOW_CONVERSATION_IDLE,
      7_200_000,
    );
    assert.equal(
      loadGatewayConfig({ ...tokens, TURNFLOW_CONVERSATION_IDLE: '1500' }).TURNFLOW_CONVERSATION_IDLE,
      1_500,
    );
    for (const bad of ['10 minutes', '-5s', '500ms', '31d']) {
      assert.throws(
        () => loadGatewayConfig({ ...tokens, TURNFLOW_CONVERSATION_IDLE: bad }),
        /TURNFLOW_CONVERSATION_IDLE/,
      );
    }
  });

  it('accepts only the dev token on the embedded dev stack when no tokens are configured', () => {
    const config = loadGatewayConfig({ ...DB, TURNFLOW_DEV: '1' });
    assert.equal(config.devTokenFallback, true);
    assert.equal(config.tenants.authenticate(DEV_TOKEN), DEV_TENANT);
    assert.equal(config.tenants.authenticate('anything-else'), undefined);
    assert.equal(TenantDirectory.dev().authenticate(DEV_TOKEN), DEV_TENANT);
  });

  it('refuses to start without tokens outside the dev stack, or with malformed entries', () => {
    assert.throws(
      () => loadGatewayConfig({ ...DB }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /TURNFLOW_API_TOKENS is not set/);
        return true;
      },
    );
    for (const bad of [
      'acme',
      `acme:${'z'.repeat(64)}`,
      `bad tenant!:${hashToken('x')}`,
      `a:${hashToken('x')},b:${hashToken('x')}`,
    ]) {
      assert.throws(
        () => loadGatewayConfig({ ...DB, TURNFLOW_API_TOKENS: bad }),
        (err: unknown) => err instanceof ConfigError && /TURNFLOW_API_TOKENS/.test(err.message),
        bad,
      );
    }
    assert.throws(
      () => loadGatewayConfig({ TURNFLOW_DEV: '1', GATEWAY_PORT: 'eighty' }),
      (err: unknown) =>
        err instanceof ConfigError && /DATABASE_URL/.test(err.message) && /GATEWAY_PORT/.test(err.message),
    );
  });
});
