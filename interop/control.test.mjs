// The control API (docs/control-api.md) as a test in another language
// uses it: Node's built-in test runner starts `ciba-op serve` with the
// control API and a test clock, registers clients and issues their
// certificates through the API, and drives openid-client 6 (an
// independent CIBA client) through approve, deny, expiry, slow_down and
// 503 Retry-After, with the API as the only handle on the device side.
//
// Run: node --test control.test.mjs (scripts/test.sh does). The binary is
// $CIBA_OP_BIN, or built from ../server with `go build` when unset.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';

const here = dirname(fileURLToPath(import.meta.url));
const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
const USER = 'user'; // created by ciba-op serve on a fresh state directory

let tmp; // removed after the tests
let op; // the running ciba-op serve
let issuer;
let api; // the control API's base URL
let token; // its bearer token, read from the state directory

// waitForLine resolves with the first match of re in the stream's lines,
// and rejects when the process exits first or after ms.
function waitForLine(stream, re, proc, ms) {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms:\n${buf}`)), ms);
    const onData = (chunk) => {
      buf += chunk;
      const m = buf.match(re);
      if (m) {
        clearTimeout(timer);
        stream.off('data', onData);
        resolve(m);
      }
    };
    stream.setEncoding('utf8');
    stream.on('data', onData);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ciba-op exited ${code} before ${re}:\n${buf}`));
    });
  });
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'cibalab-control-'));
  let bin = process.env.CIBA_OP_BIN;
  if (!bin) {
    bin = join(tmp, 'ciba-op');
    execFileSync('go', ['build', '-o', bin, './cmd/ciba-op'], { cwd: join(here, '..', 'server'), stdio: 'inherit' });
  }
  const stateDir = join(tmp, 'state');
  op = spawn(bin, [
    'serve', '--state-dir', stateDir, '--addr', '127.0.0.1:0', '--nats-addr', '127.0.0.1:0',
    '--control-addr', '127.0.0.1:0', '--test-clock', '--interval', '1s', '--log-level', 'warn',
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CIBA_OP_PASSWORD_ITERATIONS: '1000' } });
  const [ready, control] = await Promise.all([
    waitForLine(op.stdout, /ciba-op ready issuer=(\S+)/, op, 30000),
    waitForLine(op.stderr, /control API on (http:\/\/\S+);/, op, 30000),
  ]);
  op.stdout.resume();
  op.stderr.resume();
  issuer = ready[1];
  api = control[1];
  token = readFileSync(join(stateDir, 'control-token'), 'utf8').trim();
});

after(async () => {
  if (op && op.exitCode === null) {
    const exited = new Promise((r) => op.once('exit', r));
    op.kill('SIGTERM');
    await exited;
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// control calls the control API and returns {status, body}.
async function control(method, path, body) {
  const res = await fetch(api + path, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function mustControl(method, path, body, want = 200) {
  const res = await control(method, path, body);
  assert.equal(res.status, want, `${method} ${path}: ${JSON.stringify(res.body)}`);
  return res.body;
}

// rp registers a tls_client_auth poll client through the API, issues its
// certificate through the API, and configures openid-client to present it
// (RFC 8705 §2.1). tokenResponses records the status and Retry-After of
// every answer of the token endpoint.
async function rp(id) {
  await mustControl('POST', '/clients', { client_id: id, client_name: `openid-client ${id}`, tls_client_auth_subject_dn: `CN=${id}` }, 201);
  const cert = await mustControl('POST', `/clients/${id}/certificates`, { password: 'interop' }, 201);
  const agent = new https.Agent({ cert: cert.certificate_pem, key: cert.private_key_pem, ca: cert.server_ca_pem, keepAlive: false });
  const tokenResponses = [];
  const mtlsFetch = (url, options = {}) => new Promise((resolve, reject) => {
    const headers = { ...(options.headers ?? {}) };
    let body = options.body;
    if (body instanceof URLSearchParams) body = body.toString();
    if (typeof body === 'string') headers['content-length'] = Buffer.byteLength(body);
    const req = https.request(url, { method: options.method ?? 'GET', headers, agent, signal: options.signal }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
          else if (v !== undefined) h.set(k, String(v));
        }
        if (String(url).endsWith('/token')) tokenResponses.push({ status: res.statusCode, retryAfter: res.headers['retry-after'] });
        const noBody = [204, 205, 304].includes(res.statusCode);
        resolve(new Response(noBody ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
      });
    });
    req.on('error', reject);
    if (typeof body === 'string') req.write(body);
    req.end();
  });
  const config = await client.discovery(new URL(issuer), id, { use_mtls_endpoint_aliases: true }, client.TlsClientAuth(), {
    [client.customFetch]: mtlsFetch,
  });
  config[client.customFetch] = mtlsFetch;
  const thumbprint = createHash('sha256').update(new X509Certificate(cert.certificate_pem).raw).digest('base64url');
  assert.equal(cert['x5t#S256'], thumbprint);
  return { id, config, cert, thumbprint, tokenResponses };
}

// start begins CIBA (CIBA Core 1.0 §7.1) and checks that the API lists
// the request with what the user's device shows.
async function start(c, bindingMessage) {
  const ack = await client.initiateBackchannelAuthentication(c.config, { scope: 'openid profile', login_hint: USER, binding_message: bindingMessage });
  assert.equal(ack.interval, 1);
  const { requests } = await mustControl('GET', `/requests?client_id=${c.id}`);
  const listed = requests.find((r) => r.auth_req_id === ack.auth_req_id);
  assert.ok(listed, `the request is not pending: ${JSON.stringify(requests)}`);
  assert.equal(listed.binding_message, bindingMessage);
  assert.equal(listed.user, USER);
  assert.equal(listed.client_name, `openid-client ${c.id}`);
  assert.deepEqual(listed.scope, ['openid', 'profile']);
  return ack;
}

function decodeJWT(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}

// assertTokens checks the access token's certificate binding
// (RFC 8705 §3.1) and the ID token openid-client validated.
function assertTokens(c, ack, tokens) {
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(decodeJWT(tokens.access_token).cnf['x5t#S256'], c.thumbprint);
  const claims = tokens.claims();
  assert.equal(claims.sub, USER);
  assert.deepEqual([claims.aud].flat(), [c.id]);
  assert.equal(claims['urn:openid:params:jwt:claim:auth_req_id'], ack.auth_req_id);
}

async function events(authReqId) {
  return (await mustControl('GET', `/requests/${authReqId}/events`)).events;
}

describe('openid-client against ciba-op, driven by the control API', () => {
  it('gets tokens once the API approves the request', async () => {
    const c = await rp('node-approve');
    const ack = await start(c, 'Approve me');
    await mustControl('POST', `/requests/${ack.auth_req_id}/approve`);
    const tokens = await client.pollBackchannelAuthenticationGrant(c.config, ack);
    assertTokens(c, ack, tokens);
    const types = (await events(ack.auth_req_id)).map((e) => e.type);
    assert.deepEqual(types, ['authreq.created', 'authreq.approved', 'authreq.redeemed']);
    // A second decision is refused by the OP, as a device's would be.
    const again = await control('POST', `/requests/${ack.auth_req_id}/deny`);
    assert.equal(again.status, 409);
  });

  it('gets access_denied once the API denies the request', async () => {
    const c = await rp('node-deny');
    const ack = await start(c, 'Deny me');
    await mustControl('POST', `/requests/${ack.auth_req_id}/deny`);
    await assert.rejects(client.pollBackchannelAuthenticationGrant(c.config, ack), (e) => {
      assert.equal(e.error, 'access_denied');
      return true;
    });
  });

  it('gets tokens from a user policy that approves by binding message', async () => {
    const c = await rp('node-policy');
    await mustControl('PUT', `/users/${USER}/policy`, {
      action: 'ignore',
      rules: [{ binding_message: 'Policy yes', action: 'approve' }],
    });
    try {
      // No listing here: the policy may approve before anyone looks.
      const ack = await client.initiateBackchannelAuthentication(c.config, { scope: 'openid', login_hint: USER, binding_message: 'Policy yes' });
      const tokens = await client.pollBackchannelAuthenticationGrant(c.config, ack);
      assertTokens(c, ack, tokens);
      // The other binding messages are ignored: the request stays pending.
      const ignored = await start(c, 'Policy no');
      await new Promise((r) => setTimeout(r, 200));
      assert.equal((await mustControl('GET', `/requests/${ignored.auth_req_id}`)).status, 'pending');
      await mustControl('POST', `/requests/${ignored.auth_req_id}/deny`);
    } finally {
      await mustControl('DELETE', `/users/${USER}/policy`, undefined, 204);
    }
  });

  it('gets expired_token after the API advances the clock past expiry', async () => {
    const c = await rp('node-expiry');
    const ack = await start(c, 'Let me expire');
    const clock = await mustControl('POST', '/clock/advance', { seconds: ack.expires_in + 1 });
    assert.equal(clock.test_clock, true);
    await assert.rejects(client.pollBackchannelAuthenticationGrant(c.config, ack), (e) => {
      assert.equal(e.error, 'expired_token');
      return true;
    });
    assert.equal((await mustControl('GET', `/requests/${ack.auth_req_id}`)).status, 'expired');
  });

  it('slows down on slow_down, then gets tokens', async () => {
    const c = await rp('node-slowdown');
    const ack = await start(c, 'Slow down');
    const poll = () => client.genericGrantRequest(c.config, CIBA_GRANT, { auth_req_id: ack.auth_req_id });
    // Two polls at once: the second comes before the interval (CIBA Core 1.0 §11).
    await assert.rejects(poll(), (e) => e.error === 'authorization_pending');
    await assert.rejects(poll(), (e) => e.error === 'slow_down');
    assert.equal((await mustControl('GET', `/requests/${ack.auth_req_id}`)).interval, 6);
    // openid-client's own loop polls after 1 s, gets slow_down again (the
    // OP now wants 6 s), adds 5 s to its interval and waits.
    const polling = client.pollBackchannelAuthenticationGrant(c.config, ack);
    const deadline = Date.now() + 20000;
    while ((await events(ack.auth_req_id)).filter((e) => e.detail === 'slow_down').length < 2) {
      assert.ok(Date.now() < deadline, 'openid-client never polled');
      await new Promise((r) => setTimeout(r, 100));
    }
    await mustControl('POST', `/requests/${ack.auth_req_id}/approve`);
    await mustControl('POST', '/clock/advance', { seconds: 30 }); // the OP's interval passes
    assertTokens(c, ack, await polling);
    const statuses = c.tokenResponses.map((r) => r.status);
    assert.deepEqual(statuses, [400, 400, 400, 200], 'pending, slow_down, slow_down, tokens');
  });

  it('waits out 503 Retry-After, then gets tokens', async () => {
    const c = await rp('node-503');
    const ack = await start(c, 'Busy OP');
    await mustControl('POST', `/requests/${ack.auth_req_id}/approve`);
    const queued = await mustControl('POST', '/faults/token-unavailable', { count: 2, retry_after: 2 });
    assert.equal(queued.token_unavailable, 2);
    const tokens = await client.pollBackchannelAuthenticationGrant(c.config, ack);
    assertTokens(c, ack, tokens);
    assert.deepEqual(c.tokenResponses, [
      { status: 503, retryAfter: '2' },
      { status: 503, retryAfter: '2' },
      { status: 200, retryAfter: undefined },
    ]);
    assert.equal((await mustControl('GET', '/faults')).token_unavailable, 0);
  });

  it('refuses a caller without the token', async () => {
    const res = await fetch(`${api}/requests`);
    assert.equal(res.status, 401);
    assert.equal((await res.json()).error, 'unauthorized');
  });
});
