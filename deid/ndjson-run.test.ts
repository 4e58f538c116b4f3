import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../platform/config';
import { createKeyService, loadDeidKey } from './key-service';
import { deidentifyNdjson } from './ndjson-run';
import { buildFhirFixture } from './fixtures/records';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-deid-ndjson-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('deidentifyNdjson (tributary deid fhir)', () => {
  it('writes the same file names, quarantine/ with line and reason, provenance and a reconciling report', () => {
    const inDir = path.join(tmp, 'in');
    fs.mkdirSync(inDir);
    const fx = buildFhirFixture().byInstitution['inst-a'];
    const patients = fx.filter((r) => r.resourceType === 'Patient');
    const others = fx.filter((r) => r.resourceType !== 'Patient');
    fs.writeFileSync(
      path.join(inDir, 'Patient.ndjson'),
      patients.map((r) => JSON.stringify(r)).join('\n') + '\n',
    );
    // resources in another file reference the patients above; one line is broken JSON holding a phone number
    fs.writeFileSync(
      path.join(inDir, 'Clinical.ndjson'),
      others.map((r) => JSON.stringify(r)).join('\n') +
        '\n{"resourceType":"Observation","note":"617-555-2368"\n',
    );
    const outDir = path.join(tmp, 'out');
    const keyService = createKeyService({
      key: crypto.createHash('sha256').update('ndjson').digest(),
      keyId: 'k-nd',
    });
    const report = deidentifyNdjson({
      inPath: inDir,
      outDir,
      profile: 'safe-harbor',
      keyService,
      institution: 'inst-a',
    });
    expect(fs.readdirSync(outDir).sort()).toEqual([
      'Clinical.ndjson',
      'Patient.ndjson',
      'deid-report.json',
      'provenance.ndjson',
      'quarantine',
    ]);
    expect(report.totals).toEqual({ lines: fx.length + 1, out: fx.length, quarantined: 1 });
    expect(report.quarantined).toEqual([
      {
        file: 'Clinical.ndjson',
        line: others.length + 1,
        resourceType: '(unknown)',
        rule: 'input.malformed',
        path: '(line)',
        reason: 'not valid JSON',
      },
    ]);
    const q = fs.readFileSync(path.join(outDir, 'quarantine', 'Clinical.ndjson'), 'utf8');
    expect(q).not.toContain('555');
    const out = fs.readFileSync(path.join(outDir, 'Clinical.ndjson'), 'utf8');
    const pseudonym = JSON.parse(
      fs.readFileSync(path.join(outDir, 'Patient.ndjson'), 'utf8').split('\n')[0],
    ).id;
    expect(out).toContain(`"reference":"Patient/${pseudonym}"`);
    const written = JSON.parse(fs.readFileSync(path.join(outDir, 'deid-report.json'), 'utf8'));
    expect(written).toMatchObject({ keyId: 'k-nd', policy: { name: 'safe-harbor', version: '1.2.0' } });
    expect(written.risk.threshold).toBe(5);
    for (const v of ['Thornbury', '123-45-6789', 'A1001']) expect(JSON.stringify(written)).not.toContain(v);
  });

  it('refuses to run without a key, with a clear error and no default key', () => {
    const config = loadConfig({ env: {}, cwd: tmp });
    expect(() => loadDeidKey(config)).toThrow(/no de-identification key: set TRIBUTARY_DEID_KEY/);
  });
});
