import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAtEdge } from '../platform/config';
import { TributaryError } from '../platform/errors';
import { loadInstitutionRegistry } from '../platform/institutions';
import { institutionRegistrySchema, institutionSchema, type Institution } from '../schemas/institution';
import { generateSynth } from '../synth/generate';
import { startSynthServer, type SynthServer } from '../synth/serve';
import { createConnectors, type FetchPageRequest, type HttpOptions } from './connectors';
import { CLIENT_ASSERTION_TYPE, createClientAssertion } from './smart-auth';

/**
 * SMART Backend Services end to end: the FHIR connector against the real synth server with SMART on (token
 * endpoint, discovery, bearer checks), on an ephemeral loopback port. No HTTP is mocked.
 */
const INST = 'riverside-general';
const TYPES = ['Patient', 'Encounter', 'Condition', 'Observation', 'MedicationRequest', 'DocumentReference'];

let root: string;
let server: SynthServer;
let shortServer: SynthServer;
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaNext = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = (k: crypto.KeyObject) => k.export({ format: 'pem', type: 'pkcs8' }).toString();
const keyFiles: Record<string, string> = {};
const env = { SMART_EC_KEY: pem(ec.privateKey) };

const jwk = (k: crypto.KeyObject, kid: string, alg: string) => ({
  ...k.export({ format: 'jwk' }),
  kid,
  alg,
  use: 'sig',
});

function institution(smart: Record<string, unknown> | undefined): Institution {
  const base = loadInstitutionRegistry().institutions.find((i) => i.id === INST)!;
  return parseAtEdge(
    institutionSchema,
    { ...base, ehr: { ...base.ehr, ...(smart ? { smart } : {}) } },
    'test institution',
  );
}

const rsInst = () =>
  institution({ clientId: 'tributary-rs', privateKeyFile: keyFiles.rsa, kid: 'rs-1', alg: 'RS384' });
const esInst = () =>
  institution({
    clientId: 'tributary-es',
    privateKeyEnv: 'SMART_EC_KEY',
    kid: 'es-1',
    alg: 'ES384',
    scope: 'system/*.rs',
  });

function expectedCount(type: string): number {
  const file = path.join(root, INST, 'ehr', 'fhir', `${type}.ndjson`);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length : 0;
}

/** Pull a whole source run; resources per type. */
async function pullAll(
  options: HttpOptions,
  endpoint: string,
  inst: Institution,
  between?: (page: number) => Promise<void>,
): Promise<Record<string, number>> {
  const connectors = createConnectors({ ratePerSecond: 1000, env, ...options });
  const counts: Record<string, number> = {};
  let cursor: string | undefined;
  let page = 0;
  do {
    const req: FetchPageRequest = { endpoint, institution: inst, source: 'ehr', cursor, pageSize: 7 };
    const result = await connectors.fetchPage(req);
    for (const line of result.parts[0]?.bytes.toString('utf8').split('\n').filter(Boolean) ?? []) {
      const type = (JSON.parse(line) as { resourceType: string }).resourceType;
      counts[type] = (counts[type] ?? 0) + 1;
    }
    cursor = result.nextCursor;
    await between?.(++page);
  } while (cursor);
  return counts;
}

const expectedAll = () =>
  Object.fromEntries(TYPES.map((t) => [t, expectedCount(t)]).filter(([, n]) => (n as number) > 0));

async function postToken(
  srv: SynthServer,
  form: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(srv.smart!.tokenUrlFor(INST), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const grantForm = (assertion: string) => ({
  grant_type: 'client_credentials',
  scope: 'system/*.read',
  client_assertion_type: CLIENT_ASSERTION_TYPE,
  client_assertion: assertion,
});

function countEvents(srv: SynthServer, event: string, clientId?: string): number {
  return srv.smart!.events.filter(
    (e) => e.event === event && (clientId === undefined || e.clientId === clientId),
  ).length;
}

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'smart-auth-'));
  generateSynth({ out: path.join(root), seed: 'smart-seed', patients: 6, institutions: [INST], force: true });
  const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'smart-keys-'));
  for (const [name, pair] of Object.entries({ rsa, rsaNext, stranger })) {
    keyFiles[name] = path.join(keyDir, `${name}.pem`);
    fs.writeFileSync(keyFiles[name], pem(pair.privateKey), { mode: 0o600 });
  }
  const clients = [
    // Two keys registered: rs-2 is the rotation's next key.
    {
      institution: INST,
      clientId: 'tributary-rs',
      jwks: { keys: [jwk(rsa.publicKey, 'rs-1', 'RS384'), jwk(rsaNext.publicKey, 'rs-2', 'RS384')] },
      scope: 'system/*.read',
    },
    {
      institution: INST,
      clientId: 'tributary-es',
      jwks: { keys: [jwk(ec.publicKey, 'es-1', 'ES384')] },
      scope: 'system/*.read',
    },
    {
      institution: INST,
      clientId: 'patients-only',
      jwks: { keys: [jwk(rsa.publicKey, 'rs-1', 'RS384')] },
      scope: 'system/Patient.read',
    },
  ];
  server = await startSynthServer({
    dir: root,
    host: '127.0.0.1',
    port: 0,
    rateLimit: false,
    exportPollsBeforeDone: 1,
    smart: { clients },
  });
  shortServer = await startSynthServer({
    dir: root,
    host: '127.0.0.1',
    port: 0,
    rateLimit: false,
    smart: { clients, tokenLifetimeSeconds: 1 },
  });
});

afterAll(async () => {
  await server?.close();
  await shortServer?.close();
  if (root) fs.rmSync(root, { recursive: true, force: true });
  if (keyFiles.rsa) fs.rmSync(path.dirname(keyFiles.rsa), { recursive: true, force: true });
});

describe('SMART Backend Services: FHIR connector against synth serve', () => {
  it('pulls every search page with an RS384 key from a file, on one cached token', async () => {
    const before = countEvents(server, 'token-issued', 'tributary-rs');
    const counts = await pullAll({ fhirMode: 'search' }, server.url, rsInst());
    expect(counts).toEqual(expectedAll());
    expect(counts.Patient).toBe(6);
    expect(countEvents(server, 'token-issued', 'tributary-rs') - before).toBe(1);
  });

  it('pulls a Bulk $export (kick-off, polls, NDJSON files) with an ES384 key from an environment variable', async () => {
    const before = countEvents(server, 'token-issued', 'tributary-es');
    const counts = await pullAll({ fhirMode: 'bulk' }, server.url, esInst());
    expect(counts).toEqual(expectedAll());
    expect(countEvents(server, 'token-issued', 'tributary-es') - before).toBe(1);
    // The ES384 client works for search too.
    const page = await createConnectors({ ratePerSecond: 1000, env }).fetchPage({
      endpoint: server.url,
      institution: esInst(),
      source: 'ehr',
      pageSize: 3,
    });
    expect(page.parts[0].bytes.toString('utf8').split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('answers 401 with a WWW-Authenticate challenge without a token; discovery and metadata stay public', async () => {
    const base = server.baseUrlFor(INST);
    const res = await fetch(`${base}/Patient`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(`Bearer realm="${INST}"`);
    const forged = await fetch(`${base}/Patient`, { headers: { authorization: 'Bearer not-a-token' } });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const config = (await (await fetch(`${base}/.well-known/smart-configuration`)).json()) as Record<
      string,
      unknown
    >;
    expect(config).toMatchObject({
      token_endpoint: server.smart!.tokenUrlFor(INST),
      grant_types_supported: ['client_credentials'],
      token_endpoint_auth_methods_supported: ['private_key_jwt'],
      token_endpoint_auth_signing_alg_values_supported: ['RS384', 'ES384'],
    });
    expect((await fetch(`${base}/metadata`)).status).toBe(200);
    // An institution without `smart` in the registry is refused, not silently served.
    const err = await createConnectors({ ratePerSecond: 1000 })
      .fetchPage({ endpoint: server.url, institution: institution(undefined), source: 'ehr', pageSize: 3 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TributaryError);
    expect((err as TributaryError).message).toContain('HTTP 401');
    expect((err as TributaryError).nonRetryable).toBe(true);
  });

  it('refuses an assertion signed with a key other than the kid names (invalid_client)', async () => {
    const tokenUrl = server.smart!.tokenUrlFor(INST);
    const forged = createClientAssertion({
      clientId: 'tributary-rs',
      tokenUrl,
      key: stranger.privateKey,
      kid: 'rs-1',
      alg: 'RS384',
    });
    const r = await postToken(server, grantForm(forged));
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringContaining('signature'),
    });
    expect(r.body.access_token).toBeUndefined();
    // Through the connector: a non-retryable error naming the OAuth error.
    const err = await createConnectors({ ratePerSecond: 1000 })
      .fetchPage({
        endpoint: server.url,
        institution: institution({
          clientId: 'tributary-rs',
          privateKeyFile: keyFiles.stranger,
          kid: 'rs-1',
          alg: 'RS384',
        }),
        source: 'ehr',
        pageSize: 3,
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TributaryError);
    expect((err as TributaryError).message).toContain('HTTP 401 invalid_client');
    expect((err as TributaryError).nonRetryable).toBe(true);
  });

  it('refuses an assertion whose aud is not the token endpoint', async () => {
    const r = await postToken(
      server,
      grantForm(
        createClientAssertion({
          clientId: 'tributary-rs',
          tokenUrl: server.baseUrlFor(INST),
          key: rsa.privateKey,
          kid: 'rs-1',
          alg: 'RS384',
        }),
      ),
    );
    expect(r.status).toBe(401);
    expect(r.body).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringContaining('aud'),
    });
  });

  it('refuses a replayed jti, an expired assertion and an unsupported grant type', async () => {
    const tokenUrl = server.smart!.tokenUrlFor(INST);
    const assertion = createClientAssertion({
      clientId: 'tributary-es',
      tokenUrl,
      key: ec.privateKey,
      kid: 'es-1',
      alg: 'ES384',
    });
    const first = await postToken(server, grantForm(assertion));
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/*.read' });
    expect(typeof first.body.access_token).toBe('string');
    const replay = await postToken(server, grantForm(assertion));
    expect(replay.status).toBe(401);
    expect(replay.body).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringContaining('jti'),
    });
    const stale = createClientAssertion({
      clientId: 'tributary-es',
      tokenUrl,
      key: ec.privateKey,
      kid: 'es-1',
      alg: 'ES384',
      now: Date.now() - 301_000,
    });
    expect((await postToken(server, grantForm(stale))).body).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringContaining('expired'),
    });
    const farAhead = createClientAssertion({
      clientId: 'tributary-es',
      tokenUrl,
      key: ec.privateKey,
      kid: 'es-1',
      alg: 'ES384',
      now: Date.now() + 60_000,
    });
    expect((await postToken(server, grantForm(farAhead))).body).toMatchObject({
      error: 'invalid_client',
      error_description: expect.stringContaining('five minutes'),
    });
    const fresh = createClientAssertion({
      clientId: 'tributary-es',
      tokenUrl,
      key: ec.privateKey,
      kid: 'es-1',
      alg: 'ES384',
    });
    const wrongGrant = await postToken(server, { ...grantForm(fresh), grant_type: 'password' });
    expect(wrongGrant.status).toBe(400);
    expect(wrongGrant.body.error).toBe('unsupported_grant_type');
  });

  it('rotates keys by kid: the next key works under its own kid, not under the old one', async () => {
    const counts = await pullAll(
      { fhirMode: 'search' },
      server.url,
      institution({ clientId: 'tributary-rs', privateKeyFile: keyFiles.rsaNext, kid: 'rs-2', alg: 'RS384' }),
    );
    expect(counts).toEqual(expectedAll());
    const tokenUrl = server.smart!.tokenUrlFor(INST);
    const mislabelled = await postToken(
      server,
      grantForm(
        createClientAssertion({
          clientId: 'tributary-rs',
          tokenUrl,
          key: rsaNext.privateKey,
          kid: 'rs-1',
          alg: 'RS384',
        }),
      ),
    );
    expect(mislabelled.body.error).toBe('invalid_client');
  });

  it('fetches a new token when the cached one has expired, and carries on', async () => {
    const issued = countEvents(shortServer, 'token-issued', 'tributary-rs');
    const counts = await pullAll({ fhirMode: 'search' }, shortServer.url, rsInst(), async (page) => {
      if (page === 1) await new Promise((r) => setTimeout(r, 1_200));
    });
    expect(counts).toEqual(expectedAll());
    expect(countEvents(shortServer, 'token-issued', 'tributary-rs') - issued).toBeGreaterThanOrEqual(2);
    expect(countEvents(shortServer, 'unauthorized')).toBe(0);
  });

  it('after a 401 on a token it still holds, gets one new token and retries (search and Bulk downloads)', async () => {
    for (const fhirMode of ['search', 'bulk'] as const) {
      const issued = countEvents(server, 'token-issued', 'tributary-rs');
      const refused = countEvents(server, 'unauthorized');
      // Revoked after the first page: in Bulk mode the next page is an NDJSON download with the revoked token.
      const counts = await pullAll({ fhirMode }, server.url, rsInst(), async (page) => {
        if (page === 1) server.smart!.revokeTokens();
      });
      expect(counts).toEqual(expectedAll());
      expect(countEvents(server, 'unauthorized') - refused).toBe(1);
      expect(countEvents(server, 'token-issued', 'tributary-rs') - issued).toBe(2);
    }
  });

  it('never puts the private key or a token in an error message', async () => {
    const tokens: string[] = [];
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (String(input).endsWith('/auth/token') && res.ok)
        tokens.push(((await res.clone().json()) as { access_token: string }).access_token);
      return res;
    };
    const failures: unknown[] = [];
    const attempt = (inst: Institution) =>
      createConnectors({ ratePerSecond: 1000, fetch: recording, env })
        .fetchPage({
          endpoint: server.url,
          institution: inst,
          source: 'ehr',
          cursor: JSON.stringify({ t: 1 }),
          pageSize: 3,
        })
        .then(
          () => failures.push(new Error('expected a failure')),
          (e: unknown) => failures.push(e),
        );
    // Granted a token, then 403 on Encounter (scope covers Patient only): the token was on the failing request.
    await attempt(
      institution({ clientId: 'patients-only', privateKeyFile: keyFiles.rsa, kid: 'rs-1', alg: 'RS384' }),
    );
    // Refused at the token endpoint (invalid_client, invalid_scope), and a key of the wrong type for alg.
    await attempt(
      institution({ clientId: 'tributary-rs', privateKeyFile: keyFiles.stranger, kid: 'rs-1', alg: 'RS384' }),
    );
    await attempt(
      institution({
        clientId: 'tributary-rs',
        privateKeyFile: keyFiles.rsa,
        kid: 'rs-1',
        alg: 'RS384',
        scope: 'system/*.write',
      }),
    );
    await attempt(
      institution({ clientId: 'tributary-es', privateKeyEnv: 'SMART_EC_KEY', kid: 'es-1', alg: 'RS384' }),
    );
    expect(tokens.length).toBe(1);
    const messages = failures.map((e) =>
      e instanceof Error ? `${e.message} ${JSON.stringify(e)} ${String(e.cause ?? '')}` : String(e),
    );
    expect(
      messages.map((m) => /HTTP 403|HTTP 401 invalid_client|HTTP 400 invalid_scope|not an RSA/.exec(m)?.[0]),
    ).toEqual(['HTTP 403', 'HTTP 401 invalid_client', 'HTTP 400 invalid_scope', 'not an RSA']);
    const secrets = [...tokens, ...[rsa, stranger, ec].map((p) => pem(p.privateKey))];
    const secretBits = secrets.flatMap((s) =>
      s.split('\n').filter((l) => l.length > 16 && !l.startsWith('-----')),
    );
    for (const m of messages) {
      expect(m).not.toContain('PRIVATE KEY');
      for (const bit of secretBits) expect(m).not.toContain(bit);
    }
  });
});

describe('institution registry: smart block', () => {
  const registry = (smart: Record<string, unknown>) => {
    const base = loadInstitutionRegistry().institutions.find((i) => i.id === INST)!;
    return { version: 1, institutions: [{ ...base, ehr: { ...base.ehr, smart } }] };
  };
  const problem = (smart: Record<string, unknown>) => {
    try {
      parseAtEdge(institutionRegistrySchema, registry(smart), 'registry');
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  };

  it('defaults the scope and accepts a key file or an environment variable', () => {
    const parsed = parseAtEdge(
      institutionRegistrySchema,
      registry({ clientId: 'c', privateKeyFile: 'keys/c.pem', kid: 'k1', alg: 'ES384' }),
      'registry',
    );
    expect(parsed.institutions[0].ehr?.smart?.scope).toBe('system/*.read');
    expect(problem({ clientId: 'c', privateKeyEnv: 'C_KEY', kid: 'k1', alg: 'RS384' })).toBeUndefined();
  });

  it('refuses a key written into the registry, both or neither key source, other algs, and SMART on a non-FHIR EHR; errors name the field', () => {
    expect(
      problem({
        clientId: 'c',
        privateKeyFile: 'k.pem',
        privateKey: '-----BEGIN PRIVATE KEY-----',
        kid: 'k1',
        alg: 'RS384',
      }),
    ).toContain('institutions.0.ehr.smart');
    expect(
      problem({
        clientId: 'c',
        privateKeyFile: '-----BEGIN PRIVATE KEY-----\nMIIE',
        kid: 'k1',
        alg: 'RS384',
      }),
    ).toContain('institutions.0.ehr.smart.privateKeyFile: must be a path');
    expect(
      problem({ clientId: 'c', privateKeyFile: 'k.pem', privateKeyEnv: 'K', kid: 'k1', alg: 'RS384' }),
    ).toContain('institutions.0.ehr.smart.privateKeyFile: give exactly one');
    expect(problem({ clientId: 'c', kid: 'k1', alg: 'RS384' })).toContain('give exactly one');
    expect(problem({ clientId: 'c', privateKeyEnv: 'K', kid: 'k1', alg: 'RS256' })).toContain(
      'institutions.0.ehr.smart.alg',
    );
    const hl7 = loadInstitutionRegistry().institutions.find((i) => i.ehr?.format === 'hl7v2')!;
    const msg = (() => {
      try {
        parseAtEdge(
          institutionRegistrySchema,
          {
            version: 1,
            institutions: [
              {
                ...hl7,
                ehr: { ...hl7.ehr, smart: { clientId: 'c', privateKeyEnv: 'K', kid: 'k', alg: 'RS384' } },
              },
            ],
          },
          'registry',
        );
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(msg).toContain('institutions.0.ehr.smart: SMART authorization applies to fhir-api EHRs only');
  });
});
