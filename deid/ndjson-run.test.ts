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
const fixture = buildFhirFixture();
const keyService = createKeyService({
  key: crypto.createHash('sha256').update('ndjson').digest(),
  keyId: 'k-nd',
});
/** deidentifyNdjson with the safe-harbor profile, this file's key and institution inst-a. */
const deidentifyFixture = (
  inPath: string,
  outDir: string,
  more: Partial<Parameters<typeof deidentifyNdjson>[0]> = {},
) => deidentifyNdjson({ inPath, outDir, profile: 'safe-harbor', keyService, institution: 'inst-a', ...more });
const ndjson = (resources: object[]) => resources.map((r) => JSON.stringify(r) + '\n').join('');

describe('deidentifyNdjson (tributary deid fhir)', () => {
  it('writes the same file names, quarantine/ with line and reason, provenance and a reconciling report', () => {
    const inDir = path.join(tmp, 'in');
    fs.mkdirSync(inDir);
    const fx = fixture.byInstitution['inst-a'];
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
    // tributary map's issue log beside them: reports on the source, counted and not released
    fs.writeFileSync(
      path.join(inDir, 'issues.ndjson'),
      ndjson([
        {
          resourceType: 'OperationOutcome',
          issue: [
            {
              severity: 'error',
              code: 'structure',
              diagnostics: 'not valid JSON',
              location: ['x.json:line 1'],
            },
          ],
        },
      ]),
    );
    const outDir = path.join(tmp, 'out');
    const report = deidentifyFixture(inDir, outDir);
    expect(fs.readdirSync(outDir).sort()).toEqual([
      'Clinical.ndjson',
      'Patient.ndjson',
      'deid-provenance.ndjson',
      'deid-report.json',
      'issues.ndjson',
      'quarantine',
    ]);
    expect(report.totals).toEqual({ lines: fx.length + 2, out: fx.length, quarantined: 1, issueReports: 1 });
    expect(fs.readFileSync(path.join(outDir, 'issues.ndjson'), 'utf8')).toBe('');
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
    // Only the file with a quarantined line has a quarantine file.
    expect(fs.readdirSync(path.join(outDir, 'quarantine'))).toEqual(['Clinical.ndjson']);
    const q = fs.readFileSync(path.join(outDir, 'quarantine', 'Clinical.ndjson'), 'utf8');
    expect(q).not.toContain('555');
    const out = fs.readFileSync(path.join(outDir, 'Clinical.ndjson'), 'utf8');
    const pseudonym = JSON.parse(
      fs.readFileSync(path.join(outDir, 'Patient.ndjson'), 'utf8').split('\n')[0],
    ).id;
    expect(out).toContain(`"reference":"Patient/${pseudonym}"`);
    const written = JSON.parse(fs.readFileSync(path.join(outDir, 'deid-report.json'), 'utf8'));
    expect(written).toMatchObject({ keyId: 'k-nd', policy: { name: 'safe-harbor', version: '1.7.0' } });
    expect(written.risk.threshold).toBe(5);
    for (const v of ['Thornbury', '123-45-6789', 'A1001']) expect(JSON.stringify(written)).not.toContain(v);
  });

  it('streams its input: the same outputs whatever the read size, and a Patient in another file is read back', () => {
    const inDir = path.join(tmp, 'stream-in');
    fs.mkdirSync(inDir);
    // Both institutions' fixtures: Chinese names and addresses put 3-byte characters on most lines.
    const all = [...fixture.byInstitution['inst-a'], ...fixture.byInstitution['inst-b']];
    const patients = all.filter((r) => r.resourceType === 'Patient');
    // Patients last, in a file of their own: every other resource links through the first pass.
    // A bare surname and city, with no context a detector could go by: only the Patient's own identifiers find them
    // (the US Patients: a one-character Chinese surname and a city that is its own province are not identifiers).
    const bareText = (p: (typeof patients)[number]) =>
      [(p.name as { family: string }[])[0].family, (p.address as { city?: string }[])[0].city]
        .filter(Boolean)
        .join(' ');
    const us = patients.filter(
      (p) => /^[A-Za-z]+$/.test((p.name as { family: string }[])[0].family) && p.address,
    );
    const bare = us.map((p, i) => ({
      resourceType: 'Observation',
      id: `bare-${i}`,
      status: 'final',
      code: { text: 'note' },
      subject: { reference: `Patient/${p.id}` },
      valueString: bareText(p),
    }));
    fs.writeFileSync(
      path.join(inDir, 'A.ndjson'),
      ndjson([...all.filter((r) => r.resourceType !== 'Patient'), ...bare]),
    );
    fs.writeFileSync(path.join(inDir, 'Z-Patient.ndjson'), ndjson(patients));
    const whole = deidentifyFixture(inDir, path.join(tmp, 'stream-whole'), { batchSize: 2 });
    const progress: number[] = [];
    const split = deidentifyFixture(inDir, path.join(tmp, 'stream-split'), {
      chunkBytes: 5,
      batchSize: 2,
      onProgress: (p) => progress.push(p.bytesDone / p.bytesTotal),
    });
    expect(split).toEqual(whole);
    expect(whole.totals).toEqual({
      lines: all.length + bare.length,
      out: all.length + bare.length,
      quarantined: 0,
      issueReports: 0,
    });
    for (const f of ['A.ndjson', 'Z-Patient.ndjson'])
      expect(fs.readFileSync(path.join(tmp, 'stream-split', f), 'utf8')).toBe(
        fs.readFileSync(path.join(tmp, 'stream-whole', f), 'utf8'),
      );
    for (const run of ['stream-split', 'stream-whole'])
      expect(fs.readdirSync(path.join(tmp, run, 'quarantine'))).toEqual([]);
    // The Patients' own names and identifiers, read back from the other file for the gate and the scrubber, are gone.
    const clinical = fs.readFileSync(path.join(tmp, 'stream-split', 'A.ndjson'), 'utf8');
    expect(us.length).toBeGreaterThan(0);
    for (const p of us) {
      const { name, address, identifier } = p as unknown as {
        name: { family: string }[];
        address: { city?: string }[];
        identifier: { value: string }[];
      };
      for (const v of [name[0].family, address[0].city ?? name[0].family, ...identifier.map((i) => i.value)])
        expect(clinical).not.toContain(v);
    }
    // No partial file is left behind; progress rises to the whole input.
    expect(fs.readdirSync(path.join(tmp, 'stream-split')).filter((f) => f.endsWith('.partial'))).toEqual([]);
    expect(progress.at(-1)).toBe(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('suppresses the quasi-identifiers of Patients in classes below k, in place in a mixed file', () => {
    const inDir = path.join(tmp, 'risk-in');
    fs.mkdirSync(inDir);
    const base = fixture.byInstitution['inst-a'].find((r) => r.resourceType === 'Patient')!;
    // Five Patients alike in age band, sex and region (a class of k = 5), one alone, each followed by a non-Patient.
    const patientNo = (i: number, birthDate: string) => ({
      ...base,
      id: `pr-${i}`,
      identifier: [{ system: 'urn:tributary:inst-a:mrn', value: `R${1000 + i}` }],
      birthDate,
    });
    const lines = [1, 2, 3, 4, 5, 6].flatMap((i) => [
      patientNo(i, i === 6 ? '1931-02-03' : '1960-04-12'),
      { resourceType: 'Organization', id: `org-${i}`, name: 'Northside Clinic' },
    ]);
    fs.writeFileSync(path.join(inDir, 'Mixed.ndjson'), ndjson(lines));
    const outDir = path.join(tmp, 'risk-out');
    const report = deidentifyFixture(inDir, outDir, { suppress: true });
    expect(report.risk).toMatchObject({
      classes: 2,
      smallestClass: 1,
      recordsBelowThreshold: 1,
      suppressed: 1,
    });
    const out = fs
      .readFileSync(path.join(outDir, 'Mixed.ndjson'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(out.map((r) => r.resourceType)).toEqual(lines.map((r) => r.resourceType));
    const kept = out.filter((r) => r.resourceType === 'Patient' && r.birthDate);
    expect(kept).toHaveLength(5);
    for (const p of kept) expect(p.address).toBeDefined();
    const suppressed = out.filter((r) => r.resourceType === 'Patient' && !r.birthDate);
    expect(suppressed).toHaveLength(1);
    expect(suppressed[0].address).toBeUndefined();
  });

  it("keeps the input's own Provenance.ndjson apart from the run's, and refuses an input named like the run's", () => {
    const inDir = path.join(tmp, 'in-provenance');
    fs.mkdirSync(inDir);
    const fx = fixture.byInstitution['inst-a'];
    const patient = fx.find((r) => r.resourceType === 'Patient')!;
    // A Bulk export (and tributary map) writes its Provenances as Provenance.ndjson: on macOS and Windows the same
    // file as a provenance.ndjson of the run's own.
    const provenance = {
      resourceType: 'Provenance',
      id: 'prov-1',
      target: [{ reference: `Patient/${patient.id}` }],
      recorded: '2024-03-05T10:00:00Z',
      agent: [{ who: { display: 'HL7 interface' } }],
    };
    fs.writeFileSync(path.join(inDir, 'Patient.ndjson'), ndjson([patient]));
    fs.writeFileSync(path.join(inDir, 'Provenance.ndjson'), ndjson([provenance]));
    const outDir = path.join(tmp, 'out-provenance');
    const report = deidentifyFixture(inDir, outDir);
    expect(report.totals).toEqual({ lines: 2, out: 2, quarantined: 0, issueReports: 0 });
    const outFiles = fs.readdirSync(outDir).map((f) => f.toLowerCase());
    expect(new Set(outFiles).size).toBe(outFiles.length);
    expect(fs.readFileSync(path.join(outDir, 'Provenance.ndjson'), 'utf8').trim().split('\n')).toHaveLength(
      1,
    );
    const own = fs.readFileSync(path.join(outDir, 'deid-provenance.ndjson'), 'utf8').trim().split('\n');
    // One per batch of each file.
    expect(own.map((l) => JSON.parse(l).resourceType)).toEqual(['Provenance', 'Provenance']);

    fs.writeFileSync(path.join(inDir, 'Deid-Provenance.ndjson'), ndjson([provenance]));
    expect(() => deidentifyFixture(inDir, path.join(tmp, 'out-provenance-2'))).toThrow(
      /input file Deid-Provenance.ndjson has the name of this run's own Provenance output/,
    );
  });

  it('refuses to run without a key, with a clear error and no default key', () => {
    const config = loadConfig({ env: {}, cwd: tmp });
    expect(() => loadDeidKey(config)).toThrow(/no de-identification key: set TRIBUTARY_DEID_KEY/);
  });
});
