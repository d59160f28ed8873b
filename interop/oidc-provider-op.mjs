// An independent OpenID Provider for the client interoperability tests:
// oidc-provider (v9) with CIBA (poll and ping) and mutual TLS
// (tls_client_auth, certificate-bound access tokens), behind Node's own
// https server, which asks for a client certificate and hands it to
// oidc-provider through features.mTLS.getCertificate.
//
// Everything comes from the environment, written by the Go test:
//   OP_TLS_CERT, OP_TLS_KEY   PEM server certificate and key
//   OP_CLIENT_CA              PEM CA that issues the client certificates
//   OP_JWKS                   private JWKS (JSON) signing ID tokens; keys are
//                             never generated here
//   OP_CLIENTS                JSON array of client metadata
//   OP_DECISION               "approve" or "deny": what the simulated user
//                             answers on the authentication device
//   OP_DECISION_DELAY_MS      how long the user takes (default 200)
//   OP_COOKIE_KEY             a random cookie signing key
// Options of the performance bench (docs/performance.md), all optional:
//   OP_DECISION_BY_HINT       JSON object login_hint -> "approve", "deny" or
//                             "none" (the user never answers), overriding
//                             OP_DECISION for those users
//   OP_DECISION_EVENTS        "1": print one JSON line on stdout, after the
//                             issuer line, as each decision is sent:
//                             {"type":"decision_sent","auth_req_id":"...",
//                             "unix_us":N} (N: the wall clock in microseconds)
//   OP_STORE                  "unbounded": keep every stored object until it
//                             expires, instead of the default memory adapter's
//                             1,000 most recent ones
// Notification endpoints are trusted through NODE_EXTRA_CA_CERTS.
//
// It listens on 127.0.0.1 with a free port and prints the issuer URL on one
// line on stdout once ready. It exits when stdin closes, so a test that dies
// leaves no process behind.

import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { X509Certificate } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

function env(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`oidc-provider-op: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const decision = env('OP_DECISION');
if (decision !== 'approve' && decision !== 'deny') {
  console.error('oidc-provider-op: OP_DECISION must be approve or deny');
  process.exit(2);
}
const delay = Number(process.env.OP_DECISION_DELAY_MS || '200');
const byHint = JSON.parse(process.env.OP_DECISION_BY_HINT || '{}');
for (const d of Object.values(byHint)) {
  if (d !== 'approve' && d !== 'deny' && d !== 'none') {
    console.error('oidc-provider-op: OP_DECISION_BY_HINT values must be approve, deny or none');
    process.exit(2);
  }
}
const decisionEvents = process.env.OP_DECISION_EVENTS === '1';
let adapter;
if (process.env.OP_STORE === 'unbounded') {
  // oidc-provider's own memory adapter over its own LRU map, sized so that
  // it never evicts; entries still expire.
  const { default: MemoryAdapter } = await import('oidc-provider/lib/adapters/memory_adapter.js');
  const { default: LRU } = await import('oidc-provider/lib/helpers/lru.js');
  const storage = new LRU({ maxSize: Number.MAX_SAFE_INTEGER });
  adapter = (model) => new MemoryAdapter(model, storage);
}

const server = createServer({
  cert: readFileSync(env('OP_TLS_CERT')),
  key: readFileSync(env('OP_TLS_KEY')),
  ca: readFileSync(env('OP_CLIENT_CA')),
  requestCert: true,
  rejectUnauthorized: false, // client authentication is decided per endpoint (RFC 8705 §6.1)
});

function peerCertificate(ctx) {
  const peer = ctx.socket.getPeerCertificate?.(false);
  if (!peer || !peer.raw) return undefined;
  return new X509Certificate(peer.raw);
}

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `https://127.0.0.1:${port}`;
  let provider;
  provider = new Provider(issuer, {
    jwks: JSON.parse(env('OP_JWKS')),
    ...(adapter ? { adapter } : {}),
    cookies: { keys: [env('OP_COOKIE_KEY')] },
    clients: JSON.parse(env('OP_CLIENTS')),
    clientAuthMethods: ['tls_client_auth'],
    // The client's notification endpoint listens on loopback, which the
    // provider's SSRF guard refuses; this test provider only ever calls
    // the endpoints the test registered, so it drops the guard.
    fetch: (url, options) => {
      const { dispatcher, ...rest } = options;
      return globalThis.fetch(url, rest);
    },
    findAccount: async (ctx, id) => ({
      accountId: id,
      claims: async () => ({ sub: id }),
    }),
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'PS256', 'RS256'],
    },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        getCertificate: (ctx) => peerCertificate(ctx),
        certificateAuthorized: (ctx) => ctx.socket.authorized === true,
        certificateSubjectMatches: (ctx, property, expected) => {
          const cert = peerCertificate(ctx);
          if (!cert || property !== 'tls_client_auth_subject_dn') return false;
          return cert.subject.split('\n').join(',') === expected;
        },
      },
      ciba: {
        enabled: true,
        deliveryModes: ['poll', 'ping'],
        processLoginHint: async (ctx, loginHint) => loginHint,
        verifyUserCode: async () => {},
        validateBindingMessage: async () => {},
        validateRequestContext: async () => {},
        triggerAuthenticationDevice: async (ctx, request, account, client) => {
          const answer = byHint[request.params.login_hint] ?? decision;
          if (answer === 'none') return;
          setTimeout(async () => {
            try {
              if (decisionEvents) {
                process.stdout.write(`${JSON.stringify({ type: 'decision_sent', auth_req_id: request.jti, unix_us: Math.round((performance.timeOrigin + performance.now()) * 1000) })}\n`);
              }
              if (answer === 'approve') {
                const grant = new provider.Grant({ clientId: client.clientId, accountId: account.accountId });
                grant.addOIDCScope(request.params.scope);
                await grant.save();
                await provider.backchannelResult(request, grant, { authTime: Math.floor(Date.now() / 1000) });
              } else {
                await provider.backchannelResult(request, new errors.AccessDenied('the user denied the request'));
              }
            } catch (err) {
              console.error(`oidc-provider-op: decision failed: ${err.message} ${err.cause?.code || ""} ${err.cause?.message || ""}`);
            }
          }, delay);
        },
      },
    },
  });
  provider.on('server_error', (ctx, err) => console.error(`oidc-provider-op: server_error: ${err.message}`));
  provider.on('backchannel.error', (ctx, err) => console.error(`oidc-provider-op: ping failed: ${err.message}`));
  server.on('request', provider.callback());
  process.stdout.write(`${issuer}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));
