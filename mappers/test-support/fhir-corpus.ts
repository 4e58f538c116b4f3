/**
 * Real FHIR resources for validator tests and benches, from data a fresh checkout has: the Synthea bulk sample in
 * ../shared/data and every non-imaging source of a small generator run mapped without validation (so resources the
 * validator would reject stay in).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { loadHisMapping } from '../../synth/ehr-his';
import { generateSynth } from '../../synth/generate';
import { listFiles } from '../../synth/verify';
import { mapFile } from '../index';
import type { FhirResource, MapContext, SourceFormat } from '../types';

const DATA_DIR =
  process.env.TRIBUTARY_SAMPLE_DATA ?? join(import.meta.dirname, '..', '..', '..', 'shared', 'data');

/** Resources of the NDJSON files in dir (every `*.ndjson` below it), in file and line order. */
export function readNdjsonDir(dir: string): FhirResource[] {
  const out: FhirResource[] = [];
  for (const f of listFiles(dir)
    .filter((p) => p.endsWith('.ndjson'))
    .map((p) => join(dir, p))) {
    for (const line of readFileSync(f, 'utf8').split('\n'))
      if (line.trim()) out.push(JSON.parse(line) as FhirResource);
  }
  return out;
}

/** The Synthea bulk export sample (10 patients, ~1.4k resources). */
export function syntheaSample(): FhirResource[] {
  return readNdjsonDir(join(DATA_DIR, 'fhir', 'bulk-ndjson-10-patients'));
}

/** Every resource the mappers produce from a generator run of `patients` patients at all 18 institutions. */
export async function mappedGeneratorOutput(seed: string, patients: number): Promise<FhirResource[]> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-fhir-corpus-'));
  try {
    const gt = generateSynth({ out: dir, seed, patients }).groundTruth;
    const institutions = JSON.parse(readFileSync(join(dir, 'institutions.json'), 'utf8')) as {
      institutions: { id: string; timezone: string }[];
    };
    const out: FhirResource[] = [];
    for (const e of gt.expected.filter((x) => x.source !== 'imaging')) {
      const format = (e.format === 'fhir-api' ? 'fhir' : e.format) as SourceFormat;
      const inst = institutions.institutions.find((i) => i.id === e.institution)!;
      const base: Omit<MapContext, 'sourceFile'> = {
        institution: e.institution,
        timezone: inst.timezone,
        subjectMrn: 'MRN-TEST',
        validate: false,
      };
      if (format === 'his-csv') {
        base.columnMapping = loadHisMapping(e.institution);
      }
      const sourceDir = join(dir, e.institution, e.source);
      for (const f of listFiles(sourceDir).map((p) => join(sourceDir, p))) {
        const r = await mapFile(format, f, { ...base, sourceFile: relative(dir, f) });
        out.push(...r.resources);
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
