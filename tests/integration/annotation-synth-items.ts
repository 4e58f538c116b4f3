import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { workItemContentOf } from '../../activities/route';
import { sealWorkItem } from '../../annotation/seal';
import { createDeidEngine, createKeyService } from '../../deid/index';
import { mapBuffer, mapFile } from '../../mappers/index';
import type { MapContext, SourceFormat } from '../../mappers/types';
import type { GroundTruth } from '../../schemas/ground-truth';
import { loadHisMapping } from '../../synth/ehr-his';
import type { SourceKind } from '../../schemas/institution';
import type { VerifiedWorkItem } from '../../schemas/work-item';
import { generateSynth } from '../../synth/generate';
import { listFiles } from '../../synth/verify';

/**
 * Work items the way the pipeline makes them: the generator's 18 institutions (EHR and wearable sources), mapped to
 * FHIR, de-identified by the de-id engine (whose residual-PHI gate quarantines what it must), turned into work
 * items by the ingestion route step's builder, sealed. Returned with the generator's planted protected values.
 */
/** Every file under dir, as paths that include dir, in listFiles' sorted order. */
const files = (dir: string): string[] => listFiles(dir).map((f) => join(dir, f));

async function mapAll(dir: string, gt: GroundTruth) {
  const institutions = JSON.parse(readFileSync(join(dir, 'institutions.json'), 'utf8')).institutions as {
    id: string;
    timezone: string;
  }[];
  const raw = new Map<
    string,
    { source: SourceKind; resources: Awaited<ReturnType<typeof mapFile>>['resources'] }[]
  >();
  for (const e of gt.expected.filter((x) => x.source === 'ehr' || x.source === 'wearable')) {
    const format = (e.format === 'fhir-api' ? 'fhir' : e.format) as SourceFormat;
    const inst = institutions.find((i) => i.id === e.institution)!;
    const base: Omit<MapContext, 'sourceFile'> = { institution: e.institution, timezone: inst.timezone };
    if (format === 'his-csv') {
      base.columnMapping = loadHisMapping(e.institution);
    }
    const list = files(join(dir, e.institution, e.source));
    const add = (resources: Awaited<ReturnType<typeof mapFile>>['resources']) =>
      raw.set(e.institution, [
        ...(raw.get(e.institution) ?? []),
        { source: e.source as SourceKind, resources },
      ]);
    if (format === 'fhir') {
      const ordered = [
        ...list.filter((f) => f.endsWith('Patient.ndjson')),
        ...list.filter((f) => !f.endsWith('Patient.ndjson')),
      ];
      add(
        (
          await mapBuffer('fhir', Buffer.concat(ordered.map((f) => readFileSync(f))), {
            ...base,
            sourceFile: `${e.institution}/ehr/fhir`,
            validate: false,
          })
        ).resources,
      );
      continue;
    }
    for (const f of list)
      add((await mapFile(format, f, { ...base, sourceFile: relative(dir, f), validate: false })).resources);
  }
  return raw;
}

const cached = new Map<
  string,
  Promise<{ items: VerifiedWorkItem[]; planted: string[]; quarantined: number }>
>();

/**
 * Work items the way the pipeline makes them: the generator's institutions (EHR and wearable sources) mapped to FHIR,
 * de-identified by the de-id engine (its residual-PHI gate quarantines what it must), turned into work items by the
 * ingestion route step's builder, and sealed. Returned with every value the generator planted. Cached per process and
 * options; `keySecret` picks the de-identification key (another key: other pseudonyms, surrogates and date shifts).
 */
export function buildSynthWorkItems(options: { seed: string; patients: number; keySecret?: string }) {
  const keySecret = options.keySecret ?? 'annotation-leak-test';
  const cacheKey = JSON.stringify([options.seed, options.patients, keySecret]);
  const hit = cached.get(cacheKey);
  if (hit) return hit;
  const built = (async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-annotation-synth-'));
    try {
      const gt = generateSynth({ out: dir, seed: options.seed, patients: options.patients }).groundTruth;
      const raw = await mapAll(dir, gt);
      const keyService = createKeyService({
        key: crypto.createHash('sha256').update(keySecret).digest(),
        keyId: 'k-annotation',
      });
      const engine = createDeidEngine({
        profile: 'safe-harbor',
        keyService,
        referenceDate: new Date('2025-06-30T00:00:00Z'),
      });
      const items: VerifiedWorkItem[] = [];
      let quarantined = 0;
      for (const [institution, batches] of raw) {
        const all = batches.flatMap((b) => b.resources);
        const result = engine.deidentifyResources(all, { institution });
        quarantined += result.quarantined.length;
        for (const out of result.outputs) {
          // Notes, conditions and reports (the EHR candidates); wearable flags are left out of this fixture.
          const content = workItemContentOf(
            { resource: out, id: `${institution}:ehr:${out.resourceType}/${String(out.id)}` },
            institution,
            'ehr',
          );
          if (content)
            items.push(
              sealWorkItem(content, { policy: 'safe-harbor', policyVersion: 'test', keyId: 'k-annotation' }),
            );
        }
      }
      return { items, planted: [...new Set(gt.planted.map((p) => p.value))], quarantined };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  })();
  cached.set(cacheKey, built);
  return built;
}
