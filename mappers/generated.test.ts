/**
 * Every format the generator writes, mapped end to end against its ground truth: records in per source equal the
 * generator's expected counts, and exactly the planted malformed records are rejected. Also the real DICOM headers.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { summarizeDicom } from '../imaging/dicom-summary';
import { loadHisMapping } from '../synth/ehr-his';
import type { GroundTruth } from '../schemas/ground-truth';
import { generateSynth } from '../synth/generate';
import { listFiles } from '../synth/verify';
import type { DicomSummary } from '../schemas/dicom-summary';
import { mapFile, mapImagingStudies } from './index';
import { DATA_DIR, expectReconciled } from './test-support/data';
import type { MapContext, SourceFormat } from './types';

const FORMAT: Record<string, SourceFormat> = { 'fhir-api': 'fhir' };

/** Every file under dir, as paths that include dir, in listFiles' sorted order. */
const files = (dir: string): string[] => listFiles(dir).map((f) => join(dir, f));

describe('generator formats against ground truth', () => {
  let dir: string;
  let gt: GroundTruth;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tributary-map-'));
    gt = generateSynth({ out: dir, seed: 'mappers-test', patients: 2 }).groundTruth;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps every non-imaging source of every institution with counts equal to the ground truth', async () => {
    const sources = gt.expected.filter((e) => e.source !== 'imaging');
    expect(sources.length).toBe(18 * 4);
    const institutions = JSON.parse(readFileSync(join(dir, 'institutions.json'), 'utf8')).institutions as {
      id: string;
      timezone: string;
    }[];
    for (const e of sources) {
      const format = FORMAT[e.format] ?? (e.format as SourceFormat);
      const inst = institutions.find((i) => i.id === e.institution)!;
      const base: Omit<MapContext, 'sourceFile'> = {
        institution: e.institution,
        timezone: inst.timezone,
        subjectMrn: 'MRN-TEST',
      };
      if (format === 'his-csv') base.columnMapping = loadHisMapping(e.institution);
      let recordsIn = 0;
      let rejected = 0;
      for (const f of files(join(dir, e.institution, e.source))) {
        const r = await mapFile(format, f, { ...base, sourceFile: relative(dir, f) });
        expectReconciled(r);
        recordsIn += r.recordsIn;
        rejected += r.recordsRejected;
      }
      expect({ source: `${e.institution}/${e.source}/${format}`, recordsIn }).toEqual({
        source: `${e.institution}/${e.source}/${format}`,
        recordsIn: e.records,
      });
      expect({ source: `${e.institution}/${e.source}/${format}`, rejected }).toEqual({
        source: `${e.institution}/${e.source}/${format}`,
        rejected: e.malformed,
      });
    }
  });

  it('maps the generated DICOM instances into ImagingStudy resources, one per study', () => {
    for (const e of gt.expected.filter((x) => x.source === 'imaging').slice(0, 4)) {
      const summaries = files(join(dir, e.institution, 'imaging')).map((f) =>
        summarizeDicom(readFileSync(f), basename(f)),
      );
      const r = mapImagingStudies(summaries, {
        institution: e.institution,
        sourceFile: `${e.institution}/imaging`,
      });
      expectReconciled(r);
      expect(r.recordsIn).toBe(e.records);
      expect(r.recordsRejected).toBe(0);
      expect(r.resources.length).toBe(new Set(summaries.map((s) => s.studyInstanceUid)).size);
    }
  });
});

describe('real DICOM headers', () => {
  it('maps every readable sample header; instances without a PatientID are rejected with the tag', () => {
    const summaries: DicomSummary[] = [];
    let unreadable = 0;
    for (const f of files(join(DATA_DIR, 'dicom')).filter((p) => p.endsWith('.dcm'))) {
      try {
        summaries.push(summarizeDicom(readFileSync(f), basename(f)));
      } catch {
        unreadable++;
      }
    }
    expect(summaries.length).toBeGreaterThan(30);
    const r = mapImagingStudies(summaries, { institution: 'test-inst', sourceFile: 'dicom' });
    expectReconciled(r);
    expect(r.recordsIn).toBe(summaries.length);
    expect(r.recordsMapped).toBeGreaterThan(summaries.length / 2);
    for (const i of r.issues) expect(i.location?.[0]).toMatch(/^dicom:summary\[/);
    const ct = r.resources.find((s) => (s.modality as { code: string }[]).some((m) => m.code === 'CT'));
    expect(ct?.series).toBeDefined();
    void unreadable;
  });
});
