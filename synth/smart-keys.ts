/**
 * Demo SMART keys for `tributary synth serve --smart-keys <dir>`: one ES384 key pair per FHIR-API institution,
 * made once and reused, the server's client registrations from the public halves, and a copy of the institution
 * registry whose FHIR-API entries point at the private keys, for the worker (TRIBUTARY_INSTITUTIONS).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Institution } from '../schemas/institution';
import type { SmartClientRegistration } from './smart-server';

export const DEMO_CLIENT_ID = 'tributary';

type PublicJwk = crypto.JsonWebKey & { kid: string; alg: string; use: string };

/** RFC 7638 thumbprint: a kid that changes with the key, so a new key file is a new kid without bookkeeping. */
function thumbprint(jwk: crypto.JsonWebKey): string {
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y });
  return crypto.createHash('sha256').update(canonical).digest('base64url');
}

export interface SmartKeysResult {
  clients: SmartClientRegistration[];
  /** A registry of the served institutions with `ehr.smart` set on the FHIR-API ones. */
  registryFile: string;
}

/**
 * Keys live in `<dir>/<inst>.pem` (PKCS#8, owner-only). The server trusts every key in `<dir>/<inst>.jwks.json`:
 * rotating is replacing the .pem (the new kid is added to the JWKS, the old one stays until removed by hand).
 */
export function ensureSmartKeys(dir: string, institutions: Institution[]): SmartKeysResult {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const clients: SmartClientRegistration[] = [];
  const registry = institutions.map((inst) => {
    if (inst.ehr?.format !== 'fhir-api') return inst;
    const keyFile = path.join(dir, `${inst.id}.pem`);
    if (!fs.existsSync(keyFile)) {
      const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
      fs.writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    }
    const publicJwk = crypto
      .createPublicKey(crypto.createPrivateKey(fs.readFileSync(keyFile)))
      .export({ format: 'jwk' });
    const kid = thumbprint(publicJwk);
    const jwksFile = path.join(dir, `${inst.id}.jwks.json`);
    const jwks: { keys: PublicJwk[] } = fs.existsSync(jwksFile)
      ? (JSON.parse(fs.readFileSync(jwksFile, 'utf8')) as { keys: PublicJwk[] })
      : { keys: [] };
    if (!jwks.keys.some((k) => k.kid === kid)) {
      jwks.keys.push({ ...publicJwk, kid, alg: 'ES384', use: 'sig' });
      fs.writeFileSync(jwksFile, JSON.stringify(jwks, null, 2) + '\n');
    }
    clients.push({ institution: inst.id, clientId: DEMO_CLIENT_ID, jwks, scope: 'system/*.read' });
    return {
      ...inst,
      ehr: {
        ...inst.ehr,
        smart: {
          clientId: DEMO_CLIENT_ID,
          privateKeyFile: path.resolve(keyFile),
          kid,
          alg: 'ES384' as const,
          scope: 'system/*.read',
        },
      },
    };
  });
  const registryFile = path.join(dir, 'institutions.json');
  fs.writeFileSync(registryFile, JSON.stringify({ version: 1, institutions: registry }, null, 2) + '\n');
  return { clients, registryFile };
}
