// Differential test, Node half: generates tokens across many kinds of mutation,
// signs them with the TEST-ONLY key of authorizer/fixtures/keys, and records the
// verdict of AWS's own verifier (aws-jwt-verify's CognitoJwtVerifier) for each.
// The Rust half (authorizer/tests/differential.rs) decides the same tokens with
// this authorizer under the same configuration and clock, and compares.
//
// Usage: node cases.mjs OUT.json        (writes {now, config, cases: [...]})
//
// Deterministic: a seeded PRNG and a fixed clock (Date.now is replaced: it is
// the only clock aws-jwt-verify reads on the synchronous path).

import { readFileSync, writeFileSync } from "node:fs";
import { createSign, createHmac, createPrivateKey, createPublicKey, sign as cryptoSign, constants } from "node:crypto";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";
import * as jose from "jose";
import { CognitoJwtVerifier } from "aws-jwt-verify";

const here = dirname(fileURLToPath(import.meta.url));
const keys = join(here, "..", "..", "authorizer", "fixtures", "keys");

// ---- the shared configuration (the Rust half reads it from the output) ----
export const NOW = 1_700_000_000.5; // 2023-11-14T22:13:20.5Z, fractional on purpose
const T = Math.floor(NOW); // whole seconds, as Cognito writes iat/exp
const POOL = "us-east-1_TestPool1";
const ISSUER = `https://cognito-idp.us-east-1.amazonaws.com/${POOL}`;
const GLOBAL_ISSUER = `https://issuer-cognito-idp.us-east-1.amazonaws.com/${POOL}`;
const CLIENT = "testclient123";
const KID = "test-key-1";
const SCOPES = ["weather-api/get", "weather-api/admin"]; // "any of", both sides
const REPS = Number(process.env.DIFFERENTIAL_REPS ?? 11);

Date.now = () => NOW * 1000;

// ---- keys (TEST-ONLY) ----
const testKey = createPrivateKey(readFileSync(join(keys, "test-key.pem")));
const otherKey = createPrivateKey(readFileSync(join(keys, "other-key.pem")));
const jwks = JSON.parse(readFileSync(join(keys, "test-jwks.json"), "utf8"));
const publicPem = createPublicKey(testKey).export({ type: "spki", format: "pem" });

const accessVerifier = CognitoJwtVerifier.create({ userPoolId: POOL, tokenUse: "access", clientId: CLIENT, scope: SCOPES });
const idVerifier = CognitoJwtVerifier.create({ userPoolId: POOL, tokenUse: "id", clientId: CLIENT });
accessVerifier.cacheJwks(jwks);
idVerifier.cacheJwks(jwks);
// The same key published without "alg" (RFC 7517 makes it optional): what binds the
// token's alg to the key is then the verifier alone.
const jwksWithoutAlg = { keys: jwks.keys.map(({ alg, ...k }) => k) };
const noAlgVerifier = CognitoJwtVerifier.create({ userPoolId: POOL, tokenUse: "access", clientId: CLIENT, scope: SCOPES });
noAlgVerifier.cacheJwks(jwksWithoutAlg);

// ---- helpers ----
let seed = 0x5eed1234;
function rand() {
  // mulberry32
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const randInt = (n) => Math.floor(rand() * n);
const hex = (n) => Array.from({ length: n }, () => "0123456789abcdef"[randInt(16)]).join("");
const uuid = () => `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;

const b64u = (x) => jose.base64url.encode(typeof x === "string" ? Buffer.from(x, "utf8") : x);
const json = (o) => JSON.stringify(o);
const HASH = { RS256: "RSA-SHA256", RS384: "RSA-SHA384", RS512: "RSA-SHA512" };

function rsSign(input, alg = "RS256", key = testKey) {
  return b64u(createSign(HASH[alg]).update(input).sign(key));
}

/** A token from raw header/payload JSON text (or encoded segments), signed over the exact segments. */
function token({ header, payload, headerB64, payloadB64, alg = "RS256", key = testKey, sig }) {
  const h = headerB64 ?? b64u(typeof header === "string" ? header : json(header));
  const p = payloadB64 ?? b64u(typeof payload === "string" ? payload : json(payload));
  const input = `${h}.${p}`;
  const s = sig === undefined ? rsSign(input, alg, key) : typeof sig === "function" ? sig(input) : sig;
  return `${input}.${s}`;
}

const hdr = (extra = {}) => ({ kid: KID, alg: "RS256", ...extra });
function access(extra = {}) {
  return {
    sub: uuid(), token_use: "access", scope: "weather-api/get", auth_time: T - 60, iss: ISSUER,
    exp: T + 3600, iat: T - 60, version: 2, jti: uuid(), client_id: CLIENT, ...extra,
  };
}
function idClaims(extra = {}) {
  return {
    sub: uuid(), aud: CLIENT, token_use: "id", auth_time: T - 60, iss: ISSUER, exp: T + 3600, iat: T - 60,
    "cognito:username": "alice", "cognito:groups": ["admins", "readers"], email: "alice@example.com",
    jti: uuid(), ...extra,
  };
}
const without = (o, ...names) => { const c = { ...o }; for (const n of names) delete c[n]; return c; };
const valid = () => token({ header: hdr(), payload: access() });
/** Replaces `"name":<anything up to , or }>` in JSON text: for raw values JSON.stringify cannot write. */
const rawClaim = (obj, name, raw) => json({ ...obj, [name]: "@@" }).replace(`"${name}":"@@"`, `"${name}":${raw}`);

function flipSigByte(t) {
  const [h, p, s] = t.split(".");
  const bytes = Buffer.from(s, "base64url");
  bytes[randInt(bytes.length)] ^= 1 << randInt(8);
  return `${h}.${p}.${b64u(bytes)}`;
}
/** Re-encodes the last base64url character with different (ignored) trailing bits. */
function nonCanonicalLast(seg) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const spare = (seg.length * 6) % 8; // number of ignored low bits in the last char
  if (spare === 0) return null;
  const last = alphabet.indexOf(seg[seg.length - 1]);
  return seg.slice(0, -1) + alphabet[last | 1];
}
function nest(depth) { return "[".repeat(depth) + "]".repeat(depth); }

// ---- the mutations: each kind is a list of [name, () => {profile?, token, deliberate?}] ----
// `deliberate` names an entry of the documented list of deliberate differences
// (authorizer/tests/differential.rs, docs/RELIABILITY.md); every other case must agree.
const A = "access";
const ID = "id";
const kinds = {
  valid: [
    ["access-get", () => ({ token: valid() })],
    ["access-admin", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/admin" }) }) })],
    ["access-several-scopes", () => ({ token: token({ header: hdr(), payload: access({ scope: "openid weather-api/post weather-api/get" }) }) })],
    ["global-issuer-host", () => ({ token: token({ header: hdr(), payload: access({ iss: GLOBAL_ISSUER }) }) })],
    ["typ-jwt-header", () => ({ token: token({ header: hdr({ typ: "JWT" }), payload: access() }) })],
    ["extra-unknown-claims", () => ({ token: token({ header: hdr(), payload: access({ "custom:tenant": "t1", origin_jti: uuid(), nested: { a: [1, 2, { b: null }] } }) }) })],
    ["unicode-sub", () => ({ token: token({ header: hdr(), payload: access({ sub: "ünïcødé-☃-𝄞" }) }) })],
    ["escaped-token-use", () => ({ token: token({ header: hdr(), payload: json(access()).replace('"token_use":"access"', '"token_use":"\\u0061ccess"') }) })],
    ["whitespace-in-json", () => ({ token: token({ header: ' {\n "kid" : "test-key-1" ,\t"alg":"RS256" }\n', payload: json(access()).replace(/,/g, " ,\n ") }) })],
    ["id-token", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims() }) })],
    ["exp-far-future", () => ({ token: token({ header: hdr(), payload: access({ exp: 1e12 }) }) })],
    ["exp-exponent-form", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "exp", "1.7000036E9") }) })],
  ],
  signature: [
    ["flip-bit", () => ({ token: flipSigByte(valid()) })],
    ["flip-char", () => { const t = valid(); const i = t.lastIndexOf(".") + 1 + randInt(300); const c = t[i] === "A" ? "B" : "A"; return { token: t.slice(0, i) + c + t.slice(i + 1) }; }],
    ["truncated-byte", () => { const [h, p, s] = valid().split("."); return { token: `${h}.${p}.${b64u(Buffer.from(s, "base64url").subarray(1))}` }; }],
    ["truncated-chars", () => ({ token: valid().slice(0, -4) })],
    ["extended", () => ({ token: valid() + "AAAA" })],
    ["zeros", () => ({ token: token({ header: hdr(), payload: access(), sig: b64u(Buffer.alloc(256)) }) })],
    ["other-tokens-signature", () => { const [h, p] = valid().split("."); const s = valid().split(".")[2]; return { token: `${h}.${p}.${s}` }; }],
    ["other-key-same-kid", () => ({ token: token({ header: hdr(), payload: access(), key: otherKey }) })],
    ["tampered-payload", () => { const [h, , s] = valid().split("."); return { token: `${h}.${b64u(json(access({ scope: "weather-api/admin" })))}.${s}` }; }],
    ["non-canonical-last-char", () => { const [h, p, s] = valid().split("."); return { token: `${h}.${p}.${nonCanonicalLast(s)}`, deliberate: "non-canonical-base64" }; }],
    ["std-base64-alphabet", () => { const t = valid(); return { token: t.replace(/-/g, "+").replace(/_/g, "/") }; }],
  ],
  alg: [
    ["none-empty-sig", () => ({ token: token({ header: hdr({ alg: "none" }), payload: access(), sig: "" }) })],
    ["none-with-sig", () => ({ token: token({ header: hdr({ alg: "none" }), payload: access() }) })],
    ["hs256-public-pem", () => ({ token: token({ header: hdr({ alg: "HS256" }), payload: access(), sig: (i) => b64u(createHmac("sha256", publicPem).update(i).digest()) }) })],
    ["hs256-jwk-n", () => ({ token: token({ header: hdr({ alg: "HS256" }), payload: access(), sig: (i) => b64u(createHmac("sha256", Buffer.from(jwks.keys[0].n, "base64url")).update(i).digest()) }) })],
    ["rs384-really", () => ({ token: token({ header: hdr({ alg: "RS384" }), payload: access(), alg: "RS384" }) })],
    ["rs512-really", () => ({ token: token({ header: hdr({ alg: "RS512" }), payload: access(), alg: "RS512" }) })],
    ["ps256-really", () => ({ token: token({ header: hdr({ alg: "PS256" }), payload: access(), sig: (i) => b64u(cryptoSign("sha256", Buffer.from(i), { key: testKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 })) }) })],
    ["es256-label", () => ({ token: token({ header: hdr({ alg: "ES256" }), payload: access() }) })],
    ["lowercase-rs256", () => ({ token: token({ header: hdr({ alg: "rs256" }), payload: access() }) })],
    ["rs256-trailing-space", () => ({ token: token({ header: hdr({ alg: "RS256 " }), payload: access() }) })],
    ["missing", () => ({ token: token({ header: { kid: KID }, payload: access() }) })],
    ["number", () => ({ token: token({ header: hdr({ alg: 256 }), payload: access() }) })],
    ["null", () => ({ token: token({ header: hdr({ alg: null }), payload: access() }) })],
    ["array", () => ({ token: token({ header: hdr({ alg: ["RS256"] }), payload: access() }) })],
  ],
  kid: [
    ["missing", () => ({ token: token({ header: { alg: "RS256" }, payload: access() }) })],
    ["unknown", () => ({ token: token({ header: hdr({ kid: `kid-${hex(8)}` }), payload: access() }) })],
    ["other-key-not-in-jwks", () => ({ token: token({ header: hdr({ kid: "other-key-1" }), payload: access(), key: otherKey }) })],
    ["empty", () => ({ token: token({ header: hdr({ kid: "" }), payload: access() }) })],
    ["number", () => ({ token: token({ header: hdr({ kid: 1 }), payload: access() }) })],
    ["null", () => ({ token: token({ header: hdr({ kid: null }), payload: access() }) })],
    ["upper-case", () => ({ token: token({ header: hdr({ kid: "TEST-KEY-1" }), payload: access() }) })],
    ["padded", () => ({ token: token({ header: hdr({ kid: " test-key-1" }), payload: access() }) })],
    ["path-traversal", () => ({ token: token({ header: hdr({ kid: "../test-key-1" }), payload: access() }) })],
  ],
  exp: [
    ["hour-ago", () => ({ token: token({ header: hdr(), payload: access({ exp: T - 3600 }) }) })],
    ["second-ago", () => ({ token: token({ header: hdr(), payload: access({ exp: T - 1 }) }) })],
    ["half-second-ago", () => ({ token: token({ header: hdr(), payload: access({ exp: T }) }) })],
    ["equals-now", () => ({ token: token({ header: hdr(), payload: access({ exp: NOW }) }), deliberate: "exp-equals-now" })],
    ["millisecond-ahead", () => ({ token: token({ header: hdr(), payload: access({ exp: NOW + 0.001 }) }) })],
    ["half-second-ahead", () => ({ token: token({ header: hdr(), payload: access({ exp: T + 1 }) }) })],
    ["hour-ahead", () => ({ token: token({ header: hdr(), payload: access({ exp: T + 3600 }) }) })],
    ["missing", () => ({ token: token({ header: hdr(), payload: without(access(), "exp") }), deliberate: "exp-required" })],
    ["string", () => ({ token: token({ header: hdr(), payload: access({ exp: String(T + 3600) }) }) })],
    ["null", () => ({ token: token({ header: hdr(), payload: access({ exp: null }) }) })],
    ["bool", () => ({ token: token({ header: hdr(), payload: access({ exp: true }) }) })],
    ["overflow-1e400", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "exp", "1e400") }) })],
    ["zero", () => ({ token: token({ header: hdr(), payload: access({ exp: 0 }) }) })],
    ["negative", () => ({ token: token({ header: hdr(), payload: access({ exp: -1 }) }) })],
    ["array", () => ({ token: token({ header: hdr(), payload: access({ exp: [T + 3600] }) }) })],
    ["milliseconds", () => ({ token: token({ header: hdr(), payload: access({ exp: (T + 3600) * 1000 }) }) })],
  ],
  nbf: [
    ["ten-seconds-ahead", () => ({ token: token({ header: hdr(), payload: access({ nbf: T + 10 }) }) })],
    ["half-second-ahead", () => ({ token: token({ header: hdr(), payload: access({ nbf: T + 1 }) }) })],
    ["millisecond-ahead", () => ({ token: token({ header: hdr(), payload: access({ nbf: NOW + 0.001 }) }) })],
    ["equals-now", () => ({ token: token({ header: hdr(), payload: access({ nbf: NOW }) }) })],
    ["second-ago", () => ({ token: token({ header: hdr(), payload: access({ nbf: T - 1 }) }) })],
    ["string", () => ({ token: token({ header: hdr(), payload: access({ nbf: String(T) }) }) })],
    ["null", () => ({ token: token({ header: hdr(), payload: access({ nbf: null }) }) })],
    ["far-future", () => ({ token: token({ header: hdr(), payload: access({ nbf: 1e12 }) }) })],
  ],
  iat: [
    ["future", () => ({ token: token({ header: hdr(), payload: access({ iat: T + 3000 }) }) })],
    ["string", () => ({ token: token({ header: hdr(), payload: access({ iat: String(T) }) }) })],
    ["null", () => ({ token: token({ header: hdr(), payload: access({ iat: null }) }) })],
    ["missing", () => ({ token: token({ header: hdr(), payload: without(access(), "iat") }) })],
  ],
  iss: [
    ["trailing-slash", () => ({ token: token({ header: hdr(), payload: access({ iss: ISSUER + "/" }) }) })],
    ["http-scheme", () => ({ token: token({ header: hdr(), payload: access({ iss: ISSUER.replace("https:", "http:") }) }) })],
    ["other-pool", () => ({ token: token({ header: hdr(), payload: access({ iss: ISSUER.replace("TestPool1", "TestPool2") }) }) })],
    ["other-region", () => ({ token: token({ header: hdr(), payload: access({ iss: "https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_TestPool1" }) }) })],
    ["upper-case-host", () => ({ token: token({ header: hdr(), payload: access({ iss: ISSUER.replace("cognito-idp", "COGNITO-IDP") }) }) })],
    ["lower-case-pool", () => ({ token: token({ header: hdr(), payload: access({ iss: ISSUER.toLowerCase() }) }) })],
    ["attacker-host-containing-issuer-cognito-idp", () => ({ token: token({ header: hdr(), payload: access({ iss: "https://issuer-cognito-idp.evil.example/us-east-1_TestPool1" }) }) })],
    ["missing", () => ({ token: token({ header: hdr(), payload: without(access(), "iss") }) })],
    ["number", () => ({ token: token({ header: hdr(), payload: access({ iss: 1 }) }) })],
    ["null", () => ({ token: token({ header: hdr(), payload: access({ iss: null }) }) })],
    ["leading-space", () => ({ token: token({ header: hdr(), payload: access({ iss: " " + ISSUER }) }) })],
    ["array", () => ({ token: token({ header: hdr(), payload: access({ iss: [ISSUER] }) }) })],
    ["empty", () => ({ token: token({ header: hdr(), payload: access({ iss: "" }) }) })],
  ],
  token_use: [
    ["id-on-access", () => ({ token: token({ header: hdr(), payload: access({ token_use: "id" }) }) })],
    ["refresh", () => ({ token: token({ header: hdr(), payload: access({ token_use: "refresh" }) }) })],
    ["missing", () => ({ token: token({ header: hdr(), payload: without(access(), "token_use") }) })],
    ["capitalised", () => ({ token: token({ header: hdr(), payload: access({ token_use: "Access" }) }) })],
    ["empty", () => ({ token: token({ header: hdr(), payload: access({ token_use: "" }) }) })],
    ["number", () => ({ token: token({ header: hdr(), payload: access({ token_use: 1 }) }) })],
    ["array", () => ({ token: token({ header: hdr(), payload: access({ token_use: ["access"] }) }) })],
    ["trailing-space", () => ({ token: token({ header: hdr(), payload: access({ token_use: "access " }) }) })],
    ["access-on-id-route", () => ({ profile: ID, token: valid() })],
  ],
  client_id: [
    ["other", () => ({ token: token({ header: hdr(), payload: access({ client_id: "otherclient" }) }) })],
    ["missing", () => ({ token: token({ header: hdr(), payload: without(access(), "client_id") }) })],
    ["upper-case", () => ({ token: token({ header: hdr(), payload: access({ client_id: CLIENT.toUpperCase() }) }) })],
    ["number", () => ({ token: token({ header: hdr(), payload: access({ client_id: 123 }) }) })],
    ["array", () => ({ token: token({ header: hdr(), payload: access({ client_id: [CLIENT] }) }) })],
    ["null", () => ({ token: token({ header: hdr(), payload: access({ client_id: null }) }) })],
    ["empty", () => ({ token: token({ header: hdr(), payload: access({ client_id: "" }) }) })],
    ["aud-instead", () => ({ token: token({ header: hdr(), payload: without(access({ aud: CLIENT }), "client_id") }) })],
    ["leading-space", () => ({ token: token({ header: hdr(), payload: access({ client_id: " " + CLIENT }) }) })],
  ],
  scope: [
    ["missing", () => ({ token: token({ header: hdr(), payload: without(access(), "scope") }) })],
    ["empty", () => ({ token: token({ header: hdr(), payload: access({ scope: "" }) }) })],
    ["other-scope", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/post" }) }) })],
    ["tab-separated", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/post\tweather-api/get" }) }) })],
    ["double-space", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/post  weather-api/get" }) }) })],
    ["leading-trailing-space", () => ({ token: token({ header: hdr(), payload: access({ scope: " weather-api/get " }) }) })],
    ["case", () => ({ token: token({ header: hdr(), payload: access({ scope: "Weather-API/GET" }) }) })],
    ["prefix", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/ge weather-api" }) }) })],
    ["suffix", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/getx" }) }) })],
    ["comma-separated", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/get,weather-api/post" }) }) })],
    ["array", () => ({ token: token({ header: hdr(), payload: access({ scope: ["weather-api/get"] }) }) })],
    ["number", () => ({ token: token({ header: hdr(), payload: access({ scope: 1 }) }) })],
    ["null", () => ({ token: token({ header: hdr(), payload: access({ scope: null }) }) })],
    ["newline-separated", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/post\nweather-api/get" }) }) })],
    ["nbsp-separated", () => ({ token: token({ header: hdr(), payload: access({ scope: "weather-api/post\u00a0weather-api/get" }) }) })],
  ],
  claim_types: [
    ["sub-number", () => ({ token: token({ header: hdr(), payload: access({ sub: 42 }) }) })],
    ["sub-null", () => ({ token: token({ header: hdr(), payload: access({ sub: null }) }) })],
    ["jti-number", () => ({ token: token({ header: hdr(), payload: access({ jti: 42 }) }) })],
    ["version-string", () => ({ token: token({ header: hdr(), payload: access({ version: "2" }) }) })],
    ["username-number", () => ({ token: token({ header: hdr(), payload: access({ username: 42 }) }), deliberate: "typed-context-claims" })],
    ["auth-time-string", () => ({ token: token({ header: hdr(), payload: access({ auth_time: String(T) }) }), deliberate: "typed-context-claims" })],
    ["groups-string", () => ({ token: token({ header: hdr(), payload: access({ "cognito:groups": "admins" }) }), deliberate: "typed-context-claims" })],
    ["groups-numbers", () => ({ token: token({ header: hdr(), payload: access({ "cognito:groups": [1, 2] }) }), deliberate: "typed-context-claims" })],
    ["aud-number-on-access", () => ({ token: token({ header: hdr(), payload: access({ aud: 5 }) }), deliberate: "aud-ignored-on-access-tokens" })],
    ["aud-other-on-access", () => ({ token: token({ header: hdr(), payload: access({ aud: "someone-else" }) }) })],
  ],
  segments: [
    ["one", () => ({ token: valid().split(".")[0] })],
    ["two", () => ({ token: valid().split(".").slice(0, 2).join(".") })],
    ["four", () => ({ token: valid() + "." + valid().split(".")[2] })],
    ["five", () => ({ token: valid() + ".a.b" })],
    ["trailing-dot", () => ({ token: valid() + "." })],
    ["leading-dot", () => ({ token: "." + valid() })],
    ["empty-header", () => { const [, p, s] = valid().split("."); return { token: `.${p}.${s}` }; }],
    ["empty-payload", () => { const [h, , s] = valid().split("."); return { token: `${h}..${s}` }; }],
    ["empty-signature", () => { const [h, p] = valid().split("."); return { token: `${h}.${p}.` }; }],
    ["empty-string", () => ({ token: "" })],
    ["dots-only", () => ({ token: ".." })],
  ],
  padding: [
    ["header-padded", () => ({ token: token({ headerB64: b64u(json(hdr({ x: "ab" }))) + "=", payload: access() }), deliberate: "base64url-padding" })],
    ["payload-padded", () => { const p = b64u(json(access())); const pad = "=".repeat((4 - (p.length % 4)) % 4 || 2); return { token: token({ header: hdr(), payloadB64: p + pad }), deliberate: "base64url-padding" }; }],
    ["signature-padded", () => ({ token: valid() + "==", deliberate: "base64url-padding" })],
    ["header-non-canonical", () => { let h = b64u(json(hdr())); let x = nonCanonicalLast(h); if (!x) { h = b64u(json(hdr({ typ: "JWT" }))); x = nonCanonicalLast(h); } return { token: token({ headerB64: x ?? h, payload: access() }), deliberate: x ? "non-canonical-base64" : undefined }; }],
    ["payload-std-alphabet", () => { const p = b64u(json(access({ x: "\u00ff\u00fe>>>???" }))).replace(/-/g, "+").replace(/_/g, "/"); return { token: token({ header: hdr(), payloadB64: p }) }; }],
    ["inner-whitespace", () => { const [h, p, s] = valid().split("."); return { token: `${h}.${p.slice(0, 10)} ${p.slice(10)}.${s}` }; }],
  ],
  huge: [
    ["claim-4k", () => ({ token: token({ header: hdr(), payload: access({ blob: "x".repeat(4096) }) }) })],
    ["claim-11k", () => ({ token: token({ header: hdr(), payload: access({ blob: "y".repeat(11 * 1024) }) }) })],
    ["token-over-16k", () => ({ token: token({ header: hdr(), payload: access({ blob: "z".repeat(13 * 1024) }) }), deliberate: "token-size-limit" })],
    ["token-64k", () => ({ token: token({ header: hdr(), payload: access({ blob: "w".repeat(48 * 1024) }) }), deliberate: "token-size-limit" })],
    ["many-claims", () => { const extra = {}; for (let i = 0; i < 300; i++) extra[`c${i}`] = i; return { token: token({ header: hdr(), payload: access(extra) }) }; }],
    ["long-scope-list", () => ({ token: token({ header: hdr(), payload: access({ scope: Array.from({ length: 400 }, (_, i) => `s/${i}`).join(" ") + " weather-api/get" }) }) })],
    ["nesting-100", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "deep", nest(100)) }) })],
    ["nesting-200", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "deep", nest(200)) }) })],
    ["nesting-4000", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "deep", nest(4000)) }), deliberate: "deep-nesting-in-unknown-claims" })],
    ["nesting-objects-1500", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "deep", '{"a":'.repeat(1500) + "1" + "}".repeat(1500)) }) })],
    ["nesting-objects-2500", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "deep", '{"a":'.repeat(1800) + "1" + "}".repeat(1800)) }) })],
    ["huge-header", () => ({ token: token({ header: hdr({ pad: "h".repeat(8000) }), payload: access() }) })],
  ],
  json: [
    ["header-array", () => ({ token: token({ header: json([hdr()]), payload: access() }) })],
    ["payload-array", () => ({ token: token({ header: hdr(), payload: json([access()]) }) })],
    ["payload-null", () => ({ token: token({ header: hdr(), payload: "null" }) })],
    ["payload-string", () => ({ token: token({ header: hdr(), payload: json(json(access())) }) })],
    ["payload-not-json", () => ({ token: token({ header: hdr(), payload: "exp=1&iss=x" }) })],
    ["header-not-json", () => ({ token: token({ header: "RS256", payload: access() }) })],
    ["bom-prefix", () => ({ token: token({ header: hdr(), payload: "\ufeff" + json(access()) }) })],
    ["trailing-comma", () => ({ token: token({ header: hdr(), payload: json(access()).replace(/}$/, ",}") }) })],
    ["trailing-garbage", () => ({ token: token({ header: hdr(), payload: json(access()) + "x" }) })],
    ["nan-literal", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "x", "NaN") }) })],
    ["leading-zero", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "x", "0123") }) })],
    ["invalid-utf8", () => { const p = Buffer.concat([Buffer.from(json(access()).slice(0, -1) + ',"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]); return { token: token({ header: hdr(), payloadB64: b64u(p) }) }; }],
    ["invalid-utf8-in-sub", () => { const p = Buffer.concat([Buffer.from(json(without(access(), "sub")).slice(0, -1) + ',"sub":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]); return { token: token({ header: hdr(), payloadB64: b64u(p) }), deliberate: "strict-utf8" }; }],
    ["lone-surrogate-in-sub", () => ({ token: token({ header: hdr(), payload: rawClaim(without(access(), "sub"), "sub", '"\\udc00x"') }), deliberate: "strict-utf8" })],
    ["lone-surrogate-escape", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "x", '"\\ud800"') }) })],
    ["proto-key", () => ({ token: token({ header: hdr(), payload: rawClaim(access(), "__proto__", '{"client_id":"evil"}') }) })],
    ["control-char-in-string", () => ({ token: token({ header: hdr(), payload: json(access()).replace('"version"', '"x":"a\u0001b","version"') }) })],
  ],
  duplicate_keys: [
    ["duplicate-client-id", () => ({ token: token({ header: hdr(), payload: json(access()).replace('"client_id"', '"client_id":"evil","client_id"') }), deliberate: "duplicate-json-keys" })],
    ["duplicate-alg", () => ({ token: token({ header: '{"kid":"test-key-1","alg":"none","alg":"RS256"}', payload: access() }), deliberate: "duplicate-json-keys" })],
    ["duplicate-unknown-claim", () => ({ token: token({ header: hdr(), payload: json(access()).replace('"version"', '"custom":1,"custom":2,"version"') }) })],
    ["duplicate-exp-expired-first", () => ({ token: token({ header: hdr(), payload: json(access()).replace('"exp"', `"exp":${T - 10},"exp"`) }), deliberate: "duplicate-json-keys" })],
  ],
  header_params: [
    ["crit-exp", () => ({ token: token({ header: hdr({ crit: ["exp"], exp: 1 }), payload: access() }), deliberate: "crit-header" })],
    ["crit-empty", () => ({ token: token({ header: hdr({ crit: [] }), payload: access() }), deliberate: "crit-header" })],
    ["b64-false", () => ({ token: token({ header: hdr({ b64: false, crit: ["b64"] }), payload: access() }), deliberate: "crit-header" })],
    ["jku", () => ({ token: token({ header: hdr({ jku: "https://evil.example/jwks.json" }), payload: access() }) })],
    ["x5u", () => ({ token: token({ header: hdr({ x5u: "https://evil.example/cert.pem" }), payload: access() }) })],
    ["embedded-jwk-of-other-key", () => ({ token: token({ header: hdr({ jwk: { kty: "RSA", n: "AQAB", e: "AQAB" } }), payload: access(), key: otherKey }) })],
    ["typ-at-jwt", () => ({ token: token({ header: hdr({ typ: "at+jwt" }), payload: access() }) })],
    ["cty-jwt", () => ({ token: token({ header: hdr({ cty: "JWT" }), payload: access() }) })],
  ],
  bearer: [
    ["bearer-prefix", () => ({ token: "Bearer " + valid(), deliberate: "bearer-prefix" })],
    ["lower-case-bearer", () => ({ token: "bearer " + valid(), deliberate: "bearer-prefix" })],
    ["bearer-double-space", () => ({ token: "Bearer  " + valid(), deliberate: "bearer-prefix" })],
    ["leading-space", () => ({ token: " " + valid(), deliberate: "bearer-prefix" })],
    ["trailing-space", () => ({ token: valid() + " ", deliberate: "bearer-prefix" })],
    ["basic-scheme", () => ({ token: "Basic " + valid() })],
    ["bearer-only", () => ({ token: "Bearer" })],
    ["bearer-expired", () => ({ token: "Bearer " + token({ header: hdr(), payload: access({ exp: T - 10 }) }) })],
    ["trailing-newline", () => ({ token: valid() + "\n" })],
    ["tab-after-bearer", () => ({ token: "Bearer\t" + valid() })],
  ],
  jwk_without_alg: [
    ["rs256", () => ({ profile: "access-jwk-without-alg", token: valid() })],
    ["rs384-by-pool-key", () => ({ profile: "access-jwk-without-alg", token: token({ header: hdr({ alg: "RS384" }), payload: access(), alg: "RS384" }), deliberate: "rs256-only" })],
    ["rs512-by-pool-key", () => ({ profile: "access-jwk-without-alg", token: token({ header: hdr({ alg: "RS512" }), payload: access(), alg: "RS512" }), deliberate: "rs256-only" })],
    ["hs256-with-jwk-n", () => ({ profile: "access-jwk-without-alg", token: token({ header: hdr({ alg: "HS256" }), payload: access(), sig: (i) => b64u(createHmac("sha256", Buffer.from(jwks.keys[0].n, "base64url")).update(i).digest()) }) })],
    ["es256-label-on-rs256-signature", () => ({ profile: "access-jwk-without-alg", token: token({ header: hdr({ alg: "ES256" }), payload: access() }), deliberate: "rs256-only" })],
    ["none", () => ({ profile: "access-jwk-without-alg", token: token({ header: hdr({ alg: "none" }), payload: access() }) })],
  ],
  id_token: [
    ["valid", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims() }) })],
    ["aud-other", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims({ aud: "otherclient" }) }) })],
    ["aud-missing", () => ({ profile: ID, token: token({ header: hdr(), payload: without(idClaims(), "aud") }) })],
    ["aud-array-with-client", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims({ aud: [CLIENT] }) }) })],
    ["aud-array-other-first", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims({ aud: ["x", CLIENT] }) }) })],
    ["aud-number", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims({ aud: 1 }) }) })],
    ["client-id-instead-of-aud", () => ({ profile: ID, token: token({ header: hdr(), payload: without(idClaims({ client_id: CLIENT }), "aud") }) })],
    ["expired", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims({ exp: T - 1 }) }) })],
    ["bad-signature", () => ({ profile: ID, token: flipSigByte(token({ header: hdr(), payload: idClaims() })) })],
    ["groups-string", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims({ "cognito:groups": "admins" }) }), deliberate: "typed-context-claims" })],
    ["username-number", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims({ "cognito:username": 7 }) }), deliberate: "typed-context-claims" })],
    ["token-use-access-with-aud", () => ({ profile: ID, token: token({ header: hdr(), payload: idClaims({ token_use: "access" }) }) })],
  ],
};

// ---- decide every case with aws-jwt-verify ----
function awsVerdict(profile, tok) {
  const verifier = { [A]: accessVerifier, [ID]: idVerifier, "access-jwk-without-alg": noAlgVerifier }[profile];
  try {
    verifier.verifySync(tok);
    return { allow: true, error: null };
  } catch (e) {
    return { allow: false, error: `${e.constructor.name}: ${String(e.message).slice(0, 160)}` };
  }
}

const out = process.argv[2];
if (!out) {
  console.error("usage: node cases.mjs OUT.json");
  process.exit(2);
}
const cases = [];
for (let rep = 0; rep < REPS; rep++) {
  for (const [kind, variants] of Object.entries(kinds)) {
    for (const [name, make] of variants) {
      const c = make();
      const profile = c.profile ?? A;
      const aws = awsVerdict(profile, c.token);
      cases.push({ kind, name, profile, token: c.token, deliberate: c.deliberate ?? null, aws_allow: aws.allow, aws_error: aws.error });
    }
  }
}
writeFileSync(out, json({
  now: NOW,
  config: { user_pool_id: POOL, client_id: CLIENT, scopes: SCOPES, kid: KID },
  aws_jwt_verify: JSON.parse(readFileSync(join(here, "node_modules", "aws-jwt-verify", "package.json"), "utf8")).version,
  jwks_without_alg: jwksWithoutAlg,
  kinds: Object.keys(kinds).length,
  cases,
}));
console.error(`cases.mjs: ${cases.length} tokens, ${Object.keys(kinds).length} kinds, ${new Set(cases.map((c) => c.kind + "/" + c.name)).size} mutations, aws-jwt-verify allowed ${cases.filter((c) => c.aws_allow).length}`);
