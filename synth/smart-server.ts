/**
 * SMART on FHIR Backend Services, server side, for the synthetic hospitals (synth/FORMATS.md, "HTTP"): discovery at
 * `/<inst>/fhir/.well-known/smart-configuration`, a client_credentials token endpoint at `/<inst>/auth/token` that
 * authenticates clients by a private_key_jwt assertion checked the way the spec lists
 * (https://hl7.org/fhir/smart-app-launch/backend-services.html#signature-verification), and bearer-token checks on
 * every `/<inst>/fhir/...` request except the capability statement and discovery. Signatures are verified with
 * node:crypto against the JWKS each client registered; a JWKS may hold several keys (by kid) during a rotation.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createOperationOutcome, TributaryError } from '../platform/errors';
import type { Institution } from '../schemas/institution';

export const CLIENT_ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const SIGNING_ALGS = ['RS384', 'ES384'] as const;
/** The spec's cap on how far ahead an assertion's exp may be. */
const MAX_ASSERTION_LIFETIME_S = 300;

export interface SmartClientRegistration {
  /** The institution whose FHIR API the client may call. */
  institution: string;
  clientId: string;
  /** The client's public keys as JWKs with a `kid` (an `alg`, when given, must match the assertion's). */
  jwks: { keys: (crypto.JsonWebKey & { kid?: string; alg?: string })[] };
  /** Scopes the client may be granted, space-separated: `system/<Type|*>.<read|write|*|cruds letters>`. */
  scope: string;
}

export interface SmartServerOptions {
  clients: SmartClientRegistration[];
  /** Access token lifetime in seconds (default 300). */
  tokenLifetimeSeconds?: number;
}

/** What happened at the token endpoint or a protected URL, for tests and the serve log. Never a token or key. */
export interface SmartEvent {
  institution: string;
  event: 'token-issued' | 'token-refused' | 'unauthorized' | 'forbidden';
  clientId?: string;
  /** The OAuth or RFC 6750 error code. */
  error?: string;
  description?: string;
}

export interface SmartGrant {
  institution: string;
  clientId: string;
  scopes: Scope[];
  expiresAt: number;
}

export interface SmartAuthServer {
  events: SmartEvent[];
  /** The grant of an authorized request (set by the onRequest hook). */
  grantOf(req: FastifyRequest): SmartGrant | undefined;
  /** Forget every issued token, as a restarted authorization server would. */
  revokeTokens(): void;
  /** The `rest.security` block of the institution's CapabilityStatement. */
  capabilitySecurity(base: string, institution: string): Record<string, unknown>;
}

interface Scope {
  type: string;
  perms: string;
}

/** `system/Observation.read` → {type: 'Observation', perms: 'rs'}; v1 and v2 forms, system context only. */
function parseScope(text: string): Scope | undefined {
  const m = /^system\/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|c?r?u?d?s?)$/.exec(text);
  if (!m || m[2] === '') return undefined;
  const perms = m[2] === 'read' ? 'rs' : m[2] === 'write' ? 'cud' : m[2] === '*' ? 'cruds' : m[2];
  return { type: m[1], perms };
}

/**
 * What of a requested scope an allowed one grants: the request itself when covered, else the overlap (a client
 * asking `system/*.read` with only `system/Patient.read` registered gets that: servers may grant less than asked).
 */
function grantOf(
  allowed: Scope,
  wanted: Scope,
  wantedText: string,
): { scope: Scope; text: string } | undefined {
  if (allowed.type !== '*' && wanted.type !== '*' && allowed.type !== wanted.type) return undefined;
  const perms = [...'cruds'].filter((p) => allowed.perms.includes(p) && wanted.perms.includes(p)).join('');
  if (!perms) return undefined;
  const type = wanted.type === '*' ? allowed.type : wanted.type;
  if (type === wanted.type && perms.length === wanted.perms.length)
    return { scope: wanted, text: wantedText };
  const v1 = /\.(read|write|\*)$/.test(wantedText)
    ? ({ rs: 'read', cud: 'write', cruds: '*' } as Record<string, string>)[perms]
    : undefined;
  return { scope: { type, perms }, text: `system/${type}.${v1 ?? perms}` };
}

/** May a grant do `perm` ('r' read, 's' search) on `type`? */
export function permits(scopes: Scope[], type: string, perm: 'r' | 's'): boolean {
  return scopes.some((s) => (s.type === '*' || s.type === type) && s.perms.includes(perm));
}

class OAuthError extends Error {
  constructor(
    readonly status: 400 | 401,
    readonly error:
      'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope',
    readonly description: string,
  ) {
    super(description);
  }
}

function decodeSegment(segment: string, what: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through: reported below without the bytes
  }
  throw new OAuthError(401, 'invalid_client', `the assertion's ${what} is not a base64url JSON object`);
}

/** The public key a JWK describes, if it is one that can verify `alg` signatures. */
function verifierFor(jwk: crypto.JsonWebKey & { alg?: string }, alg: string): crypto.KeyObject | undefined {
  if (jwk.alg !== undefined && jwk.alg !== alg) return undefined;
  if (alg === 'RS384' && jwk.kty !== 'RSA') return undefined;
  if (alg === 'ES384' && (jwk.kty !== 'EC' || jwk.crv !== 'P-384')) return undefined;
  return crypto.createPublicKey({ key: jwk, format: 'jwk' });
}

export function registerSmartAuth(
  app: FastifyInstance,
  opts: { institutions: Institution[]; smart: SmartServerOptions; typesOf(institution: string): string[] },
): SmartAuthServer {
  const protectedIds = new Set(
    opts.institutions.filter((i) => i.ehr?.format === 'fhir-api').map((i) => i.id),
  );
  const lifetime = opts.smart.tokenLifetimeSeconds ?? 300;
  if (!(lifetime > 0))
    throw new TributaryError('smart.tokenLifetimeSeconds must be positive', {
      code: 'invalid',
      location: 'smart.tokenLifetimeSeconds',
      nonRetryable: true,
    });
  const clients = new Map<string, SmartClientRegistration & { allowed: Scope[] }>();
  for (const [i, c] of opts.smart.clients.entries()) {
    const where = `smart.clients[${i}]`;
    if (!protectedIds.has(c.institution))
      throw new TributaryError(`${where}: institution is not a FHIR-API institution of this server`, {
        code: 'invalid',
        location: where,
        nonRetryable: true,
      });
    if (c.jwks.keys.some((k) => !k.kid))
      throw new TributaryError(`${where}: every JWKS key needs a kid`, {
        code: 'invalid',
        location: where,
        nonRetryable: true,
      });
    for (const k of c.jwks.keys) crypto.createPublicKey({ key: k, format: 'jwk' });
    const allowed = c.scope
      .split(/\s+/)
      .filter(Boolean)
      .map((s) => parseScope(s));
    if (allowed.some((s) => !s))
      throw new TributaryError(`${where}: scope must list system/<Type|*>.<permissions> scopes`, {
        code: 'invalid',
        location: where,
        nonRetryable: true,
      });
    clients.set(`${c.institution}\n${c.clientId}`, { ...c, allowed: allowed as Scope[] });
  }
  const tokens = new Map<string, SmartGrant>();
  /** jti values seen per client, kept until their assertion's exp (a replay after exp fails the exp check anyway). */
  const seenJti = new Map<string, number>();
  const grants = new WeakMap<FastifyRequest, SmartGrant>();
  const events: SmartEvent[] = [];
  const baseOf = (req: FastifyRequest) => `http://${req.headers.host ?? '127.0.0.1'}`;
  const tokenUrlOf = (req: FastifyRequest, inst: string) => `${baseOf(req)}/${inst}/auth/token`;

  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) =>
    done(null, new URLSearchParams(String(body))),
  );

  app.get<{ Params: { inst: string } }>('/:inst/fhir/.well-known/smart-configuration', async (req, reply) => {
    if (!protectedIds.has(req.params.inst)) return reply.code(404).send({ error: 'not_found' });
    return reply.header('content-type', 'application/json; charset=utf-8').send({
      token_endpoint: tokenUrlOf(req, req.params.inst),
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: [...SIGNING_ALGS],
      scopes_supported: ['system/*.read', 'system/*.rs'],
      capabilities: ['client-confidential-asymmetric'],
    });
  });

  /** The assertion checks, in the spec's order; the first failure is the answer. */
  function authenticate(
    req: FastifyRequest,
    inst: string,
    form: URLSearchParams,
  ): { client: SmartClientRegistration & { allowed: Scope[] }; jti: string; exp: number } {
    const assertion = form.get('client_assertion');
    if (form.get('client_assertion_type') !== CLIENT_ASSERTION_TYPE || !assertion) {
      throw new OAuthError(
        400,
        'invalid_request',
        `client_assertion_type must be ${CLIENT_ASSERTION_TYPE}, with a client_assertion`,
      );
    }
    const parts = assertion.split('.');
    if (parts.length !== 3)
      throw new OAuthError(401, 'invalid_client', 'the client assertion is not a compact JWS');
    const header = decodeSegment(parts[0], 'header');
    const claims = decodeSegment(parts[1], 'claims');
    if (!SIGNING_ALGS.includes(header.alg as (typeof SIGNING_ALGS)[number]))
      throw new OAuthError(401, 'invalid_client', 'alg must be RS384 or ES384');
    if (header.typ !== 'JWT') throw new OAuthError(401, 'invalid_client', 'typ must be JWT');
    if (typeof header.kid !== 'string' || !header.kid)
      throw new OAuthError(401, 'invalid_client', 'the assertion header has no kid');
    // A jku would make us fetch keys from where the client says; no URL is allow-listed here, so it is refused.
    if (header.jku !== undefined)
      throw new OAuthError(401, 'invalid_client', 'jku is not accepted: keys are registered with the server');
    if (typeof claims.iss !== 'string')
      throw new OAuthError(401, 'invalid_client', 'the assertion has no iss');
    const client = clients.get(`${inst}\n${claims.iss}`);
    if (!client) throw new OAuthError(401, 'invalid_client', 'unknown client');
    if (claims.sub !== claims.iss)
      throw new OAuthError(401, 'invalid_client', 'sub must equal iss (the client id)');
    const formClientId = form.get('client_id');
    if (formClientId !== null && formClientId !== claims.iss)
      throw new OAuthError(401, 'invalid_client', 'client_id does not match the assertion');
    const jwk = client.jwks.keys.find((k) => k.kid === header.kid);
    const key = jwk ? verifierFor(jwk, header.alg as string) : undefined;
    if (!key) throw new OAuthError(401, 'invalid_client', 'no registered key with this kid for this alg');
    const signature = Buffer.from(parts[2], 'base64url');
    const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
    const valid = crypto.verify(
      'sha384',
      signed,
      header.alg === 'ES384' ? { key, dsaEncoding: 'ieee-p1363' } : key,
      signature,
    );
    if (!valid) throw new OAuthError(401, 'invalid_client', 'signature verification failed');
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!audiences.includes(tokenUrlOf(req, inst)))
      throw new OAuthError(401, 'invalid_client', 'aud must be this token endpoint URL');
    const now = Date.now() / 1000;
    if (typeof claims.exp !== 'number')
      throw new OAuthError(401, 'invalid_client', 'the assertion has no exp');
    if (claims.exp <= now) throw new OAuthError(401, 'invalid_client', 'the assertion has expired');
    if (claims.exp > now + MAX_ASSERTION_LIFETIME_S)
      throw new OAuthError(401, 'invalid_client', 'exp is more than five minutes ahead');
    if (typeof claims.nbf === 'number' && claims.nbf > now)
      throw new OAuthError(401, 'invalid_client', 'the assertion is not valid yet (nbf)');
    if (typeof claims.jti !== 'string' || !claims.jti)
      throw new OAuthError(401, 'invalid_client', 'the assertion has no jti');
    for (const [k, exp] of seenJti) if (exp <= now) seenJti.delete(k);
    if (seenJti.has(`${inst}\n${client.clientId}\n${claims.jti}`))
      throw new OAuthError(401, 'invalid_client', 'jti already used: assertions are single-use');
    return { client, jti: claims.jti, exp: claims.exp };
  }

  app.post<{ Params: { inst: string } }>('/:inst/auth/token', async (req, reply) => {
    const inst = req.params.inst;
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
    try {
      if (!protectedIds.has(inst)) return reply.code(404).send({ error: 'not_found' });
      const form = req.body;
      if (!(form instanceof URLSearchParams))
        throw new OAuthError(400, 'invalid_request', 'the body must be application/x-www-form-urlencoded');
      if (form.get('grant_type') !== 'client_credentials')
        throw new OAuthError(400, 'unsupported_grant_type', 'grant_type must be client_credentials');
      const { client, jti, exp } = authenticate(req, inst, form);
      // The jti is spent once the assertion authenticated, whatever happens to the scope request.
      seenJti.set(`${inst}\n${client.clientId}\n${jti}`, exp);
      const requested = (form.get('scope') ?? '').split(/\s+/).filter(Boolean);
      if (!requested.length) throw new OAuthError(400, 'invalid_request', 'scope is required');
      const granted = requested.flatMap((text) => {
        const wanted = parseScope(text);
        return wanted ? client.allowed.flatMap((a) => grantOf(a, wanted, text) ?? []) : [];
      });
      if (!granted.length)
        throw new OAuthError(400, 'invalid_scope', 'none of the requested scopes is granted to this client');
      const now = Date.now();
      for (const [t, g] of tokens) if (g.expiresAt <= now) tokens.delete(t);
      const accessToken = crypto.randomBytes(32).toString('base64url');
      tokens.set(accessToken, {
        institution: inst,
        clientId: client.clientId,
        scopes: granted.map((g) => g.scope),
        expiresAt: now + lifetime * 1000,
      });
      events.push({ institution: inst, event: 'token-issued', clientId: client.clientId });
      const scope = [...new Set(granted.map((g) => g.text))].join(' ');
      return reply
        .header('content-type', 'application/json; charset=utf-8')
        .send({ access_token: accessToken, token_type: 'bearer', expires_in: lifetime, scope });
    } catch (e) {
      if (!(e instanceof OAuthError)) throw e;
      events.push({ institution: inst, event: 'token-refused', error: e.error, description: e.description });
      return reply
        .code(e.status)
        .header('content-type', 'application/json; charset=utf-8')
        .send({ error: e.error, error_description: e.description });
    }
  });

  const deny = (
    reply: FastifyReply,
    inst: string,
    status: 401 | 403,
    error: string | undefined,
    description: string,
  ): FastifyReply => {
    events.push({
      institution: inst,
      event: status === 401 ? 'unauthorized' : 'forbidden',
      error,
      description,
    });
    const challenge = [
      `Bearer realm="${inst}"`,
      ...(error ? [`error="${error}"`, `error_description="${description}"`] : []),
    ].join(', ');
    return reply
      .code(status)
      .header('www-authenticate', challenge)
      .header('content-type', 'application/fhir+json; charset=utf-8')
      .send(createOperationOutcome({ severity: 'error', code: 'security', diagnostics: description }));
  };

  app.addHook('onRequest', async (req, reply) => {
    const url = new URL(req.url, 'http://x');
    const [, inst, area, first, second] = url.pathname.split('/');
    if (area !== 'fhir' || !protectedIds.has(inst)) return;
    // The capability statement and discovery stay public: clients read them to learn how to authorize.
    if (first === 'metadata' || first === '.well-known') return;
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return deny(reply, inst, 401, undefined, 'a bearer token is required (SMART Backend Services)');
    const grant = tokens.get(m[1]);
    if (!grant || grant.institution !== inst)
      return deny(reply, inst, 401, 'invalid_token', 'the access token is unknown or revoked');
    if (grant.expiresAt <= Date.now()) {
      tokens.delete(m[1]);
      return deny(reply, inst, 401, 'invalid_token', 'the access token has expired');
    }
    // Job URLs are checked against the job's owner by the handlers; resource URLs against the granted scopes here.
    if (first !== '$export-poll-status' && first !== 'bulk-files') {
      let types: string[];
      let perm: 'r' | 's';
      if (first === '$export' || (second === '$export' && first === 'Patient')) {
        const typeParam = url.searchParams.getAll('_type').join(',');
        types = typeParam
          ? typeParam
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean)
          : opts.typesOf(inst);
        perm = 'r';
      } else {
        types = [first];
        perm = second === undefined || second === '' ? 's' : 'r';
      }
      if (!types.every((t) => permits(grant.scopes, t, perm)))
        return deny(reply, inst, 403, 'insufficient_scope', "the token's scopes do not cover this request");
    }
    grants.set(req, grant);
  });

  return {
    events,
    grantOf: (req) => grants.get(req),
    revokeTokens: () => tokens.clear(),
    capabilitySecurity: (base, inst) => ({
      service: [
        {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/restful-security-service',
              code: 'SMART-on-FHIR',
            },
          ],
        },
      ],
      extension: [
        {
          url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
          extension: [{ url: 'token', valueUri: `${base}/${inst}/auth/token` }],
        },
      ],
    }),
  };
}
