import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseAtEdge } from '../platform/config';
import { TributaryError, toError } from '../platform/errors';
import type { SmartAlg, SmartAuth } from '../schemas/institution';

/**
 * SMART on FHIR Backend Services, client side (https://hl7.org/fhir/smart-app-launch/backend-services.html): a
 * signed JWT assertion traded for a bearer token with the client_credentials grant. Neither the private key nor a
 * token ever goes into an error message: errors name the institution, the step and the OAuth error code only.
 */

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** The spec caps the assertion's lifetime at five minutes. */
const ASSERTION_LIFETIME_S = 300;

const smartConfigurationSchema = z.object({
  token_endpoint: z.string().url(),
  token_endpoint_auth_methods_supported: z.array(z.string()).optional(),
});

const tokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i, 'must be bearer'),
  expires_in: z.number().positive(),
  scope: z.string().optional(),
});

export interface AccessToken {
  accessToken: string;
  expiresIn: number;
  scope?: string;
}

/** A token source for one institution; `invalidate` drops a token the server refused so the next call gets a new one. */
export interface SmartAccess {
  token(): Promise<string>;
  invalidate(token: string): void;
}

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

/** Check the key can make `alg` signatures: RS384 is RSASSA-PKCS1-v1_5 with an RSA key, ES384 needs P-384. */
function assertKeyFits(key: crypto.KeyObject, alg: SmartAlg, where: string): void {
  const fits =
    alg === 'RS384'
      ? key.asymmetricKeyType === 'rsa'
      : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'secp384r1';
  if (!fits)
    throw new TributaryError(
      `${where}: the private key is not ${alg === 'RS384' ? 'an RSA' : 'a P-384 EC'} key, as ${alg} needs`,
      { code: 'invalid', location: where, nonRetryable: true },
    );
}

/**
 * The institution's private key, from the file or environment variable the registry names. Read on every token
 * request (a few per hour) so a rotated key file is picked up without restarting the worker.
 */
export function loadPrivateKey(
  smart: SmartAuth,
  where: string,
  env: NodeJS.ProcessEnv = process.env,
): crypto.KeyObject {
  let pem: string | undefined;
  let from: string;
  if (smart.privateKeyFile !== undefined) {
    from = `file ${smart.privateKeyFile}`;
    try {
      pem = fs.readFileSync(path.resolve(smart.privateKeyFile), 'utf8');
    } catch (e) {
      throw new TributaryError(
        `${where}: cannot read the private key ${from} (${(toError(e) as NodeJS.ErrnoException).code ?? 'error'})`,
        { code: 'invalid', location: where, nonRetryable: true },
      );
    }
  } else {
    from = `environment variable ${smart.privateKeyEnv}`;
    pem = env[smart.privateKeyEnv ?? ''];
    if (!pem)
      throw new TributaryError(`${where}: the ${from} is not set`, {
        code: 'invalid',
        location: where,
        nonRetryable: true,
      });
  }
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    // OpenSSL's message names the decoder step, never key bytes; the code alone is enough to act on.
    throw new TributaryError(
      `${where}: the private key in the ${from} is not a PEM private key (${(toError(e) as NodeJS.ErrnoException).code ?? 'error'})`,
      { code: 'invalid', location: where, nonRetryable: true },
    );
  }
  assertKeyFits(key, smart.alg, where);
  return key;
}

/** The signed client assertion: iss = sub = client id, aud = the token endpoint, a fresh jti, exp five minutes on. */
export function createClientAssertion(opts: {
  clientId: string;
  tokenUrl: string;
  key: crypto.KeyObject;
  kid: string;
  alg: SmartAlg;
  now?: number;
}): string {
  assertKeyFits(opts.key, opts.alg, 'SMART client assertion');
  const header = { alg: opts.alg, kid: opts.kid, typ: 'JWT' };
  const claims = {
    iss: opts.clientId,
    sub: opts.clientId,
    aud: opts.tokenUrl,
    exp: Math.floor((opts.now ?? Date.now()) / 1000) + ASSERTION_LIFETIME_S,
    jti: crypto.randomUUID(),
  };
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  // JWS ES384 is the raw r||s pair (RFC 7518 3.4), not the DER that node:crypto makes by default.
  const signature = crypto.sign(
    'sha384',
    Buffer.from(input),
    opts.alg === 'ES384' ? { key: opts.key, dsaEncoding: 'ieee-p1363' } : opts.key,
  );
  return `${input}.${base64url(signature)}`;
}

/** HTTP failures of the authorization steps: 429 and 5xx retryable, everything else a configuration problem. */
function authHttpError(status: number, oauthError: string | undefined, where: string): TributaryError {
  const retryable = status === 429 || status === 408 || status >= 500;
  return new TributaryError(`${where}: HTTP ${status}${oauthError ? ` ${oauthError}` : ''}`, {
    code: retryable ? (status === 429 ? 'throttled' : 'transient') : 'security',
    location: where,
    nonRetryable: !retryable,
  });
}

async function send(doFetch: typeof fetch, url: string, init: RequestInit, where: string): Promise<Response> {
  try {
    return await doFetch(url, init);
  } catch (e) {
    throw new TributaryError(
      `${where}: request failed (${(toError(e).cause as { code?: string } | undefined)?.code ?? 'network'})`,
      { code: 'transient', location: where },
    );
  }
}

/** The token endpoint a FHIR server advertises in `.well-known/smart-configuration`. */
export async function discoverTokenUrl(
  fhirBase: string,
  opts: { fetch?: typeof fetch; where?: string } = {},
): Promise<string> {
  const where = opts.where ?? 'SMART discovery';
  const res = await send(
    opts.fetch ?? fetch,
    `${fhirBase.replace(/\/+$/, '')}/.well-known/smart-configuration`,
    { headers: { accept: 'application/json' } },
    where,
  );
  if (!res.ok) {
    await res.arrayBuffer().catch(() => undefined);
    throw authHttpError(res.status, undefined, where);
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    throw new TributaryError(`${where}: smart-configuration is not JSON`, {
      code: 'structure',
      location: where,
      nonRetryable: true,
    });
  }
  const config = parseAtEdge(smartConfigurationSchema, body, `${where} smart-configuration`);
  if (
    config.token_endpoint_auth_methods_supported &&
    !config.token_endpoint_auth_methods_supported.includes('private_key_jwt')
  ) {
    throw new TributaryError(`${where}: the server does not offer private_key_jwt client authentication`, {
      code: 'not-supported',
      location: where,
      nonRetryable: true,
    });
  }
  return config.token_endpoint;
}

/** POST the client_credentials grant with the assertion; the answer's `error` code (a fixed OAuth word) is all an error repeats. */
export async function fetchAccessToken(opts: {
  tokenUrl: string;
  clientAssertion: string;
  scope: string;
  fetch?: typeof fetch;
  where?: string;
}): Promise<AccessToken> {
  const where = opts.where ?? 'SMART token request';
  const form = new URLSearchParams({
    grant_type: 'client_credentials',
    scope: opts.scope,
    client_assertion_type: CLIENT_ASSERTION_TYPE,
    client_assertion: opts.clientAssertion,
  });
  const res = await send(
    opts.fetch ?? fetch,
    opts.tokenUrl,
    {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
    },
    where,
  );
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const code = (body as { error?: unknown } | undefined)?.error;
    throw authHttpError(
      res.status,
      typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? code : undefined,
      where,
    );
  }
  const parsed = tokenResponseSchema.safeParse(body);
  // zod's messages could quote the token on a malformed answer, so only the field names are reported.
  if (!parsed.success) {
    throw new TributaryError(
      `${where}: token response is invalid (${[...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(root)'))].join(', ')})`,
      { code: 'structure', location: where, nonRetryable: true },
    );
  }
  return {
    accessToken: parsed.data.access_token,
    expiresIn: parsed.data.expires_in,
    scope: parsed.data.scope,
  };
}

export interface SmartAuthOptions {
  fetch?: typeof fetch;
  env?: NodeJS.ProcessEnv;
}

/**
 * Token sources per institution, shared by every page of a worker: a token is reused until shortly before it
 * expires (10% of its lifetime, at most 30 s, ahead of time), concurrent pages wait for one token request, and a
 * token the FHIR server refused is dropped so the caller can retry once with a new one.
 */
export function createSmartAuth(options: SmartAuthOptions = {}) {
  const doFetch = options.fetch ?? fetch;
  const tokenUrls = new Map<string, Promise<string>>();
  const tokens = new Map<string, { token: Promise<AccessToken>; value?: string; usableUntil: number }>();

  function tokenUrlFor(smart: SmartAuth, fhirBase: string, where: string): Promise<string> {
    if (smart.tokenUrl) return Promise.resolve(smart.tokenUrl);
    let url = tokenUrls.get(fhirBase);
    if (!url) {
      url = discoverTokenUrl(fhirBase, { fetch: doFetch, where: `${where} discovery` });
      url.catch(() => tokenUrls.delete(fhirBase));
      tokenUrls.set(fhirBase, url);
    }
    return url;
  }

  return {
    /** The institution's token source, or undefined when its registry entry has no `smart` block. */
    accessFor(
      institutionId: string,
      smart: SmartAuth | undefined,
      fhirBase: string,
    ): SmartAccess | undefined {
      if (!smart) return undefined;
      const where = `${institutionId} SMART token`;
      const cacheKey = JSON.stringify([
        institutionId,
        fhirBase,
        smart.tokenUrl,
        smart.clientId,
        smart.kid,
        smart.alg,
        smart.scope,
      ]);
      return {
        async token() {
          const cached = tokens.get(cacheKey);
          if (cached && Date.now() < cached.usableUntil) return (await cached.token).accessToken;
          const requested = Date.now();
          const entry: { token: Promise<AccessToken>; value?: string; usableUntil: number } = {
            usableUntil: Number.POSITIVE_INFINITY,
            token: (async () => {
              const tokenUrl = await tokenUrlFor(smart, fhirBase, where);
              const key = loadPrivateKey(smart, where, options.env);
              const clientAssertion = createClientAssertion({
                clientId: smart.clientId,
                tokenUrl,
                key,
                kid: smart.kid,
                alg: smart.alg,
              });
              return fetchAccessToken({
                tokenUrl,
                clientAssertion,
                scope: smart.scope,
                fetch: doFetch,
                where,
              });
            })(),
          };
          tokens.set(cacheKey, entry);
          try {
            const t = await entry.token;
            const lifetimeMs = t.expiresIn * 1000;
            entry.value = t.accessToken;
            entry.usableUntil = requested + lifetimeMs - Math.min(30_000, lifetimeMs / 10);
            return t.accessToken;
          } catch (e) {
            if (tokens.get(cacheKey) === entry) tokens.delete(cacheKey);
            throw e;
          }
        },
        invalidate(token: string) {
          // Only the refused token is dropped: a concurrent page may already have fetched its successor.
          if (tokens.get(cacheKey)?.value === token) tokens.delete(cacheKey);
        },
      };
    },
  };
}

export type SmartAuthClient = ReturnType<typeof createSmartAuth>;
