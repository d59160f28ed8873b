// A consumption device built on openid-client (v6), an independent CIBA
// client, run by the Go interop tests (server/interop) against ciba-op.
//
// Usage: node openid-client-rp.mjs <config.json>
//
// config.json:
//   issuer, clientId            the OP and the client to act as
//   certFile, keyFile           the client certificate and key (PEM), for
//                               tls_client_auth (RFC 8705 §2.1)
//   caFile                      the CA that issued the OP's certificate (PEM)
//   mode                        "poll" or "ping" (CIBA Core 1.0 §5)
//   loginHint, scope, bindingMessage
//   idTokenAlg                  the client's id_token_signed_response_alg
//   authorizationDetails        optional: an authorization_details array
//                               (RFC 9396 §2), sent as JSON
//   notifyCertFile, notifyKeyFile
//                               ping mode: the TLS certificate of the
//                               client notification endpoint (CIBA §10.2)
//   timeoutMs                   overall deadline
//
// Output, on stdout, one JSON object per line:
//   {"event":"listening","endpoint":"https://127.0.0.1:N/cb"}  (ping mode;
//       then the script waits for one line on stdin before it starts)
//   {"event":"started","expires_in":N,"interval":N}
//   {"event":"pinged","bearer_ok":true,"body":{...},"content_type":"..."}
//   {"event":"result","ok":true,"token":{...},"id_token_claims":{...}}
//       (token.authorization_details: the granted details, RFC 9396 §7)
//   {"event":"result","ok":false,"error":"access_denied",...}
// Exit status 0 when a result was printed, 1 otherwise.

import { readFileSync } from 'node:fs';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import * as client from 'openid-client';

const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

function print(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const deadline = setTimeout(() => {
  print({ event: 'result', ok: false, error: 'script_timeout', error_description: `no result within ${cfg.timeoutMs} ms` });
  process.exit(1);
}, cfg.timeoutMs ?? 15000);

// mtlsFetch is a fetch for openid-client's customFetch hook: every request
// to the OP goes over mutual TLS with the client certificate, trusting only
// the OP's CA, and redirects are never followed. The agent is made once the
// credentials exist (in ping mode they are issued after the endpoint is up).
let agent;

function mtlsFetch(url, options = {}) {
  return new Promise((resolve, reject) => {
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
        const noBody = [204, 205, 304].includes(res.statusCode) || (options.method ?? 'GET') === 'HEAD';
        resolve(new Response(noBody ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
      });
    });
    req.on('error', reject);
    if (typeof body === 'string') req.write(body);
    req.end();
  });
}

// startPingEndpoint serves the client notification endpoint (CIBA §10.2):
// it accepts a POST with the expected Bearer token (401 otherwise) and
// answers 204, never a redirect.
function startPingEndpoint(token) {
  let resolvePing;
  const pinged = new Promise((r) => { resolvePing = r; });
  const server = https.createServer({ cert: readFileSync(cfg.notifyCertFile), key: readFileSync(cfg.notifyKeyFile) }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const bearerOk = req.headers.authorization === `Bearer ${token}`;
      if (req.method !== 'POST' || req.url !== '/cb' || !bearerOk) {
        res.writeHead(401).end();
        return;
      }
      let body;
      try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { body = null; }
      res.writeHead(204).end();
      resolvePing({ bearer_ok: bearerOk, body, content_type: req.headers['content-type'] });
    });
  });
  return new Promise((resolve, reject) => {
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve({ server, pinged, port: server.address().port }));
  });
}

function readLine() {
  return new Promise((resolve) => {
    const rl = createInterface({ input: process.stdin });
    rl.once('line', (line) => { rl.close(); resolve(line); });
  });
}

function decodeJWT(jwt) {
  const [, payload] = jwt.split('.');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

async function main() {
  let ping;
  const notificationToken = randomBytes(32).toString('base64url');
  if (cfg.mode === 'ping') {
    ping = await startPingEndpoint(notificationToken);
    print({ event: 'listening', endpoint: `https://127.0.0.1:${ping.port}/cb` });
    await readLine(); // the test registers the endpoint, then says go
  }

  agent = new https.Agent({
    cert: readFileSync(cfg.certFile),
    key: readFileSync(cfg.keyFile),
    ca: readFileSync(cfg.caFile),
    keepAlive: false,
  });
  const metadata = { use_mtls_endpoint_aliases: true };
  if (cfg.idTokenAlg) metadata.id_token_signed_response_alg = cfg.idTokenAlg;
  const config = await client.discovery(new URL(cfg.issuer), cfg.clientId, metadata, client.TlsClientAuth(), {
    [client.customFetch]: mtlsFetch,
  });
  config[client.customFetch] = mtlsFetch;

  const params = { scope: cfg.scope ?? 'openid', login_hint: cfg.loginHint };
  if (cfg.bindingMessage) params.binding_message = cfg.bindingMessage;
  if (cfg.authorizationDetails) params.authorization_details = JSON.stringify(cfg.authorizationDetails);
  if (cfg.mode === 'ping') params.client_notification_token = notificationToken;
  const ack = await client.initiateBackchannelAuthentication(config, params);
  print({ event: 'started', expires_in: ack.expires_in, interval: ack.interval });

  let tokens;
  try {
    if (cfg.mode === 'ping') {
      const p = await ping.pinged;
      print({ event: 'pinged', ...p });
      ping.server.close();
      // After a ping the token endpoint is called at once (CIBA §10.2).
      tokens = await client.genericGrantRequest(config, CIBA_GRANT, { auth_req_id: ack.auth_req_id });
    } else {
      tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
    }
  } catch (e) {
    ping?.server.close();
    print({ event: 'result', ok: false, error: e.error ?? e.code ?? 'exception', error_description: e.error_description ?? e.message, status: e.status });
    return;
  }
  print({
    event: 'result',
    ok: true,
    token: {
      access_token: tokens.access_token,
      token_type: tokens.token_type,
      scope: tokens.scope,
      expires_in: tokens.expires_in,
      has_refresh_token: Boolean(tokens.refresh_token),
      authorization_details: tokens.authorization_details,
    },
    access_token_claims: decodeJWT(tokens.access_token),
    id_token_claims: tokens.claims(),
  });
}

main().then(
  () => { clearTimeout(deadline); process.exit(0); },
  (e) => {
    print({ event: 'result', ok: false, error: 'exception', error_description: String(e?.stack ?? e) });
    process.exit(1);
  },
);
