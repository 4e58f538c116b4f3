import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createConnectors } from '../activities/connectors';
import { loadInstitutionRegistry } from '../platform/institutions';
import { generateSynth } from './generate';
import { startSynthServer } from './serve';
import { DEMO_CLIENT_ID, ensureSmartKeys } from './smart-keys';
import { readSynthInstitutions } from './verify';

// `synth serve --smart-keys`: the keys it makes, the registry it writes, and that the two fit a real server.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'smart-keys-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('ensureSmartKeys', () => {
  it('makes one owner-only key per FHIR-API institution, keeps it, and adds a rotated key to the JWKS', () => {
    const dir = path.join(root, 'rotate');
    const institutions = loadInstitutionRegistry().institutions;
    const first = ensureSmartKeys(dir, institutions);
    const fhirIds = institutions.filter((i) => i.ehr?.format === 'fhir-api').map((i) => i.id);
    expect(first.clients.map((c) => c.institution)).toEqual(fhirIds);
    expect(fs.statSync(path.join(dir, `${fhirIds[0]}.pem`)).mode & 0o077).toBe(0);
    const again = ensureSmartKeys(dir, institutions);
    expect(again.clients[0].jwks.keys.map((k) => k.kid)).toEqual(
      first.clients[0].jwks.keys.map((k) => k.kid),
    );
    fs.rmSync(path.join(dir, `${fhirIds[0]}.pem`));
    const rotated = ensureSmartKeys(dir, institutions);
    expect(rotated.clients[0].jwks.keys).toHaveLength(2);
    expect(rotated.clients[0].jwks.keys[0].kid).toBe(first.clients[0].jwks.keys[0].kid);
    const reg = JSON.parse(fs.readFileSync(rotated.registryFile, 'utf8')) as {
      institutions: { id: string; ehr: { smart?: { kid: string } } }[];
    };
    expect(reg.institutions.find((i) => i.id === fhirIds[0])?.ehr.smart?.kid).toBe(
      rotated.clients[0].jwks.keys[1].kid,
    );
    expect(reg.institutions.filter((i) => i.ehr.smart).map((i) => i.id)).toEqual(fhirIds);
    // The registry names key files; no key material is in it.
    expect(fs.readFileSync(rotated.registryFile, 'utf8')).not.toContain('PRIVATE KEY');
  });

  it('gives a registry the connector uses to pull from a server started with the clients', async () => {
    const dir = path.join(root, 'world');
    generateSynth({
      out: dir,
      seed: 'smart-keys',
      patients: 3,
      institutions: ['mesa-childrens'],
      force: true,
    });
    const keys = ensureSmartKeys(path.join(root, 'keys'), readSynthInstitutions(dir));
    const server = await startSynthServer({
      dir,
      host: '127.0.0.1',
      port: 0,
      rateLimit: false,
      smart: { clients: keys.clients },
    });
    try {
      const inst = loadInstitutionRegistry(keys.registryFile).institutions[0];
      expect(inst.ehr?.smart?.clientId).toBe(DEMO_CLIENT_ID);
      const page = await createConnectors({ ratePerSecond: 1000 }).fetchPage({
        endpoint: server.url,
        institution: inst,
        source: 'ehr',
        pageSize: 10,
      });
      expect(page.parts[0].bytes.toString('utf8').split('\n').filter(Boolean)).toHaveLength(3);
      expect(server.smart?.events.filter((e) => e.event === 'token-issued')).toHaveLength(1);
    } finally {
      await server.close();
    }
  });
});
