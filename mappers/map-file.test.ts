import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  indexFhirPatients,
  indexFhirPatientsInFile,
  mapFile,
  type MapContext,
  type MapResult,
} from './index';
import { DATA_DIR } from './test-support/data';

const sample = path.join(DATA_DIR, 'fhir', 'bulk-ndjson-10-patients');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-map-file-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Map a file whole (no batch handler) and in pieces of `lines`, with its own Patient index each time. */
async function bothWays(file: string, lines: number, patients: string) {
  const ctx = (patientIds: Map<string, string>): MapContext => ({
    institution: 'test-inst',
    sourceFile: path.basename(file),
    patientIds,
  });
  const wholeIds = new Map<string, string>();
  indexFhirPatients(fs.readFileSync(patients), { ...ctx(wholeIds), patientIds: wholeIds });
  const whole = await mapFile('fhir', file, ctx(wholeIds));
  const pieceIds = new Map<string, string>();
  await indexFhirPatientsInFile(patients, { ...ctx(pieceIds), patientIds: pieceIds }, { linesPerBatch: 3 });
  const batches: MapResult[] = [];
  const totals = await mapFile('fhir', file, ctx(pieceIds), async (b) => void batches.push(b), {
    linesPerBatch: lines,
  });
  return { whole, wholeIds, pieceIds, batches, totals };
}

describe('mapFile with a batch handler: FHIR NDJSON in pieces', () => {
  it('gives what mapping the whole file gives, pieces and all, with line numbers of the file', async () => {
    // The Synthea sample's Conditions (555 lines) plus a broken line, a blank one and CRLF endings, after line 400.
    const lines = fs
      .readFileSync(path.join(sample, 'Condition.000.ndjson'), 'utf8')
      .split('\n')
      .filter(Boolean);
    lines.splice(400, 0, '{"resourceType":"Condition","id":', '');
    const file = path.join(tmp, 'Condition.ndjson');
    fs.writeFileSync(file, lines.join('\r\n') + '\r\n');
    const { whole, wholeIds, pieceIds, batches, totals } = await bothWays(
      file,
      50,
      path.join(sample, 'Patient.000.ndjson'),
    );
    expect([...pieceIds].sort()).toEqual([...wholeIds].sort());
    expect(wholeIds.size).toBeGreaterThan(0);
    expect(batches.length).toBe(Math.ceil(lines.length / 50));
    expect(batches.flatMap((b) => b.resources)).toEqual(whole.resources);
    expect(batches.flatMap((b) => b.issues)).toEqual(whole.issues);
    expect(whole.issues.some((i) => i.location?.[0] === 'Condition.ndjson:line 401')).toBe(true);
    expect(totals).toMatchObject({
      recordsIn: whole.recordsIn,
      recordsMapped: whole.recordsMapped,
      recordsRejected: 1,
    });
  });

  it('reads a Bundle or a one-line file whole, as before', async () => {
    const bundle = path.join(tmp, 'bundle.json');
    fs.writeFileSync(
      bundle,
      JSON.stringify(
        {
          resourceType: 'Bundle',
          type: 'collection',
          entry: [{ resource: { resourceType: 'Patient', id: 'p1' } }],
        },
        null,
        2,
      ),
    );
    const one = path.join(tmp, 'one.ndjson');
    fs.writeFileSync(one, JSON.stringify({ resourceType: 'Patient', id: 'p2' }) + '\n');
    for (const f of [bundle, one]) {
      const { whole, batches } = await bothWays(f, 1, f);
      expect(batches).toHaveLength(1);
      expect(batches[0].resources).toEqual(whole.resources);
      expect(batches[0].issues).toEqual(whole.issues);
    }
  });
});
