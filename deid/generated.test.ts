/**
 * De-identification against the generator's 18 institutions: generate (fixed seed), map every EHR and wearable
 * source to FHIR, de-identify each institution as one batch, then check the ground truth: no planted structured
 * value survives anywhere, free-text recall per PHI type (honest denominator: every planted note value), the same
 * person linked across institutions, and one date shift per person.
 */
import crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { mapBuffer, mapFile } from '../mappers/index';
import type { MapContext, SourceFormat } from '../mappers/types';
import { loadHisMapping } from '../synth/ehr-his';
import type { GroundTruth } from '../schemas/ground-truth';
import { generateSynth } from '../synth/generate';
import { plantedPattern } from '../synth/find-planted';
import { listFiles } from '../synth/verify';
import {
  createDeidEngine,
  createKeyService,
  detectPhi,
  type DeidBatchResult,
  type FhirResource,
  type KeyService,
  pseudonymOf,
} from './index';
import { SURROGATE_ZH_FAMILY, SURROGATE_ZH_GIVEN } from './dictionaries';

const FORMAT: Record<string, SourceFormat> = { 'fhir-api': 'fhir' };
const keyService = createKeyService({
  key: crypto.createHash('sha256').update('generated-test').digest(),
  keyId: 'k-gen',
});

/** Every file under dir, as paths that include dir, in listFiles' sorted order. */
const files = (dir: string): string[] => listFiles(dir).map((f) => join(dir, f));

/** Output as searchable text: the JSON plus every base64 text attachment decoded. */
function searchable(resources: FhirResource[]): string {
  const parts: string[] = [];
  for (const r of resources) {
    const json = JSON.stringify(r);
    parts.push(json);
    for (const m of json.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g))
      parts.push(Buffer.from(m[1], 'base64').toString('utf8'));
  }
  return parts.join('\n');
}

const isText = (path: string) => /data|note|OBX-5|病历内容|text|内容/i.test(path);

/**
 * Whether the match of a Chinese name at `at` lies inside a longer name of the surrogate dictionaries' forms (family,
 * family + first given character, family + given): another person's surrogate, such as 李明哲 drawn for 孙海涛,
 * holding a planted 李明. That is a coincidence of two-character names, not the value.
 */
const surrogateFamily = new Set(SURROGATE_ZH_FAMILY);
const surrogateNameForms = [
  (w: string) => surrogateFamily.has(w[0]) && SURROGATE_ZH_GIVEN.some((g) => g[0] === w[1]),
  (w: string) => surrogateFamily.has(w[0]) && SURROGATE_ZH_GIVEN.includes(w.slice(1)),
];

function insideSurrogateName(text: string, at: number, length: number): boolean {
  for (const [i, isForm] of surrogateNameForms.entries()) {
    const size = i + 2;
    if (size <= length) continue;
    for (let start = at + length - size; start <= at; start++)
      if (start >= 0 && isForm(text.slice(start, start + size))) return true;
  }
  return false;
}

/**
 * Planted structured (not free-text) EHR and wearable values found in the outputs, counted by type and path. Found
 * as the integration tests look for them (`plantedPattern`: digits not touching digits, a short value standing alone),
 * so a ZIP inside a pseudonymous hex id is not a copy of it.
 */
function structuredLeft(gt: GroundTruth, outText: Map<string, string>): Record<string, number> {
  const left: Record<string, number> = {};
  for (const p of gt.planted) {
    if ((p.source !== 'ehr' && p.source !== 'wearable') || isText(p.path)) continue;
    const out = outText.get(p.institution) ?? '';
    if (!out.includes(p.value)) continue;
    const han = /\p{Script=Han}/u.test(p.value);
    const match = [...out.matchAll(plantedPattern(p.value, 'g'))].find(
      (m) => !han || !insideSurrogateName(out, m.index, p.value.length),
    );
    if (!match) continue;
    if (process.env.DEID_DEBUG) {
      const at = match.index;
      console.info(
        'LEFT',
        p.type,
        p.path,
        JSON.stringify(out.slice(Math.max(0, at - 80), at + p.value.length + 40)),
      );
    }
    const key = `${p.type} ${p.path.replace(/\[\d+\]/g, '[]')}`;
    left[key] = (left[key] ?? 0) + 1;
  }
  return left;
}

/** Generate (fixed seed) into a temporary folder and map every EHR and wearable source to FHIR, per institution. */
async function generateAndMap(
  seed: string,
  patients: number,
): Promise<{ gt: GroundTruth; raw: Map<string, FhirResource[]> }> {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-deid-'));
  const raw = new Map<string, FhirResource[]>();
  try {
    const gt = generateSynth({ out: dir, seed, patients }).groundTruth;
    const institutions = JSON.parse(readFileSync(join(dir, 'institutions.json'), 'utf8')).institutions as {
      id: string;
      timezone: string;
    }[];
    for (const e of gt.expected.filter((x) => x.source === 'ehr' || x.source === 'wearable')) {
      const format = FORMAT[e.format] ?? (e.format as SourceFormat);
      const inst = institutions.find((i) => i.id === e.institution)!;
      const base: Omit<MapContext, 'sourceFile'> = { institution: e.institution, timezone: inst.timezone };
      if (format === 'his-csv') {
        base.columnMapping = loadHisMapping(e.institution);
      }
      const list = files(join(dir, e.institution, e.source));
      if (format === 'fhir') {
        // One normalizer pass over all of an institution's NDJSON (Patient first), so references resolve to the
        // MRN-derived Patient ids: mapped file by file, Condition.ndjson cannot know Patient.ndjson's MRNs.
        const ordered = [
          ...list.filter((f) => f.endsWith('Patient.ndjson')),
          ...list.filter((f) => !f.endsWith('Patient.ndjson')),
        ];
        const bytes = Buffer.concat(ordered.map((f) => readFileSync(f)));
        const r = await mapBuffer('fhir', bytes, {
          ...base,
          sourceFile: `${e.institution}/ehr/fhir`,
          validate: false,
        });
        raw.set(e.institution, [...(raw.get(e.institution) ?? []), ...r.resources]);
        continue;
      }
      for (const f of list) {
        const r = await mapFile(format, f, { ...base, sourceFile: relative(dir, f), validate: false });
        raw.set(e.institution, [...(raw.get(e.institution) ?? []), ...r.resources]);
      }
    }
    return { gt, raw };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Occurrences of planted note phones and dates in raw strings that no detector covers, by type. */
function undetectedPlants(
  gt: GroundTruth,
  raw: Map<string, FhirResource[]>,
): { checked: number; undetected: Record<string, number> } {
  const rawStrings = (node: unknown, out: string[]): void => {
    if (typeof node === 'string') {
      out.push(node);
      if (/^[A-Za-z0-9+/=]{16,}$/.test(node)) out.push(Buffer.from(node, 'base64').toString('utf8'));
    } else if (Array.isArray(node)) for (const n of node) rawStrings(n, out);
    else if (node && typeof node === 'object') for (const v of Object.values(node)) rawStrings(v, out);
  };
  const undetected: Record<string, number> = {};
  let checked = 0;
  for (const [inst, resources] of raw) {
    const plants = gt.planted.filter(
      (p) => p.institution === inst && isText(p.path) && ['phone', 'date', 'birth-date'].includes(p.type),
    );
    for (const r of resources) {
      const strings: string[] = [];
      rawStrings(r, strings);
      for (const s of strings) {
        let spans: { start: number; end: number }[] | undefined;
        for (const p of plants) {
          for (let at = s.indexOf(p.value); at >= 0; at = s.indexOf(p.value, at + 1)) {
            spans ??= detectPhi(s);
            checked++;
            // A time of day is not PHI: the date in front of it is what must be found.
            const len = p.value.replace(/[ T]\d{1,2}:\d{2}(?::\d{2})?$/, '').length;
            if (!spans.some((x) => x.start <= at && x.end >= at + len))
              undetected[p.type] = (undetected[p.type] ?? 0) + 1;
          }
        }
      }
    }
  }
  return { checked, undetected };
}

describe('de-identification on the generator’s 18 institutions', () => {
  let gt: GroundTruth;
  let raw = new Map<string, FhirResource[]>();
  const results = new Map<string, DeidBatchResult>();

  beforeAll(async () => {
    ({ gt, raw } = await generateAndMap('deid-test', 3));
    const engine = createDeidEngine({
      profile: 'safe-harbor',
      keyService,
      referenceDate: new Date('2025-06-30T00:00:00Z'),
    });
    for (const [inst, resources] of raw)
      results.set(inst, engine.deidentifyResources(resources, { institution: inst }));
  }, 120_000);

  it('reconciles: every mapped resource is published or quarantined with a reason', () => {
    const reasons: Record<string, number> = {};
    for (const [inst, r] of results) {
      expect(r.outputs.length + r.quarantined.length, inst).toBe(raw.get(inst)!.length);
      for (const q of r.quarantined)
        reasons[`${q.resourceType} ${q.rule} ${q.path.replace(/\[\d+\]/g, '[]')}`] =
          (reasons[`${q.resourceType} ${q.rule} ${q.path.replace(/\[\d+\]/g, '[]')}`] ?? 0) + 1;
    }
    const total = [...results.values()].reduce((a, r) => a + r.outputs.length, 0);
    console.info(
      JSON.stringify({ institutions: results.size, published: total, quarantinedByReason: reasons }),
    );
    expect(results.size).toBe(18);
    // quarantine is allowed (fail closed) but must stay rare
    const quarantined = [...results.values()].reduce((a, r) => a + r.quarantined.length, 0);
    expect(quarantined / (total + quarantined)).toBeLessThan(0.05);
  });

  it('outputs plain JSON values (the ingest steps hand batches over in memory as if read back from staging)', () => {
    let outputs = 0;
    for (const r of results.values()) {
      for (const out of r.outputs) {
        // toStrictEqual tells an `undefined` member or array hole from an absent one, which a JSON round trip drops.
        expect(out).toStrictEqual(JSON.parse(JSON.stringify(out)));
        outputs++;
      }
    }
    expect(outputs).toBeGreaterThan(1000);
  });

  it('leaves no planted structured value and finds free-text PHI with the required recall', () => {
    const outText = new Map([...results].map(([inst, r]) => [inst, searchable(r.outputs)]));
    const text: Record<string, { planted: number; removed: number }> = {};
    for (const p of gt.planted) {
      if ((p.source !== 'ehr' && p.source !== 'wearable') || !isText(p.path)) continue;
      const out = outText.get(p.institution) ?? '';
      const t = (text[p.type] ??= { planted: 0, removed: 0 });
      t.planted++;
      if (!out.includes(p.value)) t.removed++;
      else if (process.env.DEID_DEBUG) {
        const at = out.indexOf(p.value);
        console.info(
          'MISS',
          p.type,
          JSON.stringify(out.slice(Math.max(0, at - 60), at + p.value.length + 30)),
        );
      }
    }
    const left = structuredLeft(gt, outText);
    const recall = Object.fromEntries(
      Object.entries(text).map(([k, v]) => [k, +(v.removed / v.planted).toFixed(4)]),
    );
    console.info(JSON.stringify({ freeTextRecall: recall, freeTextPlanted: text, structuredLeft: left }));
    expect(left).toEqual({});
    for (const t of [
      'national-id',
      'mrn',
      'account',
      'insurance-id',
      'phone',
      'email',
      'date',
      'birth-date',
    ]) {
      if (text[t]) expect(recall[t], t).toBeGreaterThanOrEqual(0.99);
    }
    for (const t of ['name', 'doctor']) if (text[t]) expect(recall[t], t).toBeGreaterThanOrEqual(0.95);
    // Phones are never shifted into another planted value: every one must be gone.
    expect(text.phone?.removed, 'phone').toBe(text.phone?.planted);
  });

  it('finds every planted note phone and date by its own shape, without the record’s identifiers', async () => {
    // Checked on the raw strings, not by searching the output (a shifted date can land on another planted date), and
    // without the record's identifiers (a phone the patient's telecom happens to match must still be seen by shape).
    // The annotation leak fixture's seed too: its chest-pain notes write "Daughter reachable at" + ten bare digits.
    const own = undetectedPlants(gt, raw);
    const leakSeed = await generateAndMap('annotation-leak', 2);
    const other = undetectedPlants(leakSeed.gt, leakSeed.raw);
    console.info(
      JSON.stringify({
        plantedPhoneDateOccurrences: own.checked + other.checked,
        notDetected: [own.undetected, other.undetected],
      }),
    );
    expect(own.checked).toBeGreaterThan(500);
    expect(other.checked).toBeGreaterThan(300);
    expect(own.undetected).toEqual({});
    expect(other.undetected).toEqual({});
  }, 60_000);

  it('links a person across institutions: the same pseudonym on their Patient at each, under its own id', () => {
    let checked = 0;
    const ids = new Set<string>();
    for (const person of gt.persons.filter((p) => p.nationalId && p.attends.length > 1)) {
      const expected = keyService.pseudonym(
        keyService.linkageKey({ institution: person.attends[0].institution, nationalId: person.nationalId }),
      );
      for (const a of person.attends) {
        const r = results.get(a.institution);
        if (!r) continue;
        // Each of the institution's sources (an ADT message, a FHIR export) may carry the Patient: one id for all.
        const here = new Set(
          r.outputs
            .filter((o) => o.resourceType === 'Patient' && pseudonymOf(o) === expected)
            .map((o) => o.id),
        );
        expect([...here], `${person.person} at ${a.institution}`).toHaveLength(1);
        ids.add([...here][0] as string);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
    // One Patient id per institution: none overwrites another on a FHIR server.
    expect(ids.size).toBe(checked);
  });

  it('shifts every date of one person by one offset, at every institution (intervals kept)', () => {
    // By person (the pseudonym on the Patient an Encounter references): one offset across their institutions.
    const shiftsByPatient = new Map<string, Set<number>>();
    const institutionsOf = new Map<string, Set<string>>();
    for (const [inst, r] of results) {
      const byId = new Map(r.outputs.map((o) => [`${o.resourceType}/${o.id}`, o]));
      for (const src of raw.get(inst)!) {
        if (src.resourceType !== 'Encounter' || typeof src.id !== 'string') continue;
        const outId = keyService.hash('resource-id', `${inst}|Encounter|${src.id}`).slice(0, 16);
        const out = byId.get(`Encounter/${outId}`);
        const a = (src.period as { start?: string } | undefined)?.start;
        const b = (out?.period as { start?: string } | undefined)?.start;
        if (!out || !a || !b) continue;
        const patient = pseudonymOf(byId.get((out.subject as { reference: string }).reference) ?? {});
        expect(patient, `Encounter/${outId}'s Patient`).toBeDefined();
        const days = Math.round((Date.parse(b) - Date.parse(a)) / 86_400_000);
        if (!shiftsByPatient.has(patient!)) shiftsByPatient.set(patient!, new Set());
        shiftsByPatient.get(patient!)!.add(days);
        if (!institutionsOf.has(patient!)) institutionsOf.set(patient!, new Set());
        institutionsOf.get(patient!)!.add(inst);
      }
    }
    expect(shiftsByPatient.size).toBeGreaterThan(10);
    expect([...institutionsOf.values()].filter((s) => s.size > 1).length).toBeGreaterThan(0);
    for (const [patient, shifts] of shiftsByPatient) {
      expect(shifts.size, patient).toBe(1);
      expect([...shifts][0]).not.toBe(0);
    }
  });

  it('quarantines no correctly de-identified note at any date offset: a shifted date never reads as PHI', () => {
    // Each key gives each person another offset. A gate that read a shifted date as the patient's birth date
    // (08/12/1993 as 1/2/1993) quarantined a note only under some keys: so try every offset, on the free text (and the
    // Patients it links to), where one date lands beside another.
    const hasText = (r: FhirResource) => /"(?:data|div|text|valueString)":"[^"]{80,}/.test(JSON.stringify(r));
    const notes = new Map(
      [...raw].map(([inst, rs]) => [inst, rs.filter((r) => r.resourceType === 'Patient' || hasText(r))]),
    );
    const noteCount = [...notes.values()].reduce(
      (a, rs) => a + rs.filter((r) => r.resourceType !== 'Patient').length,
      0,
    );
    expect(noteCount).toBeGreaterThan(50);
    const flagged: string[] = [];
    for (let offset = -365; offset <= 366; offset++) {
      if (offset === 0) continue;
      const shifted: KeyService = Object.assign(Object.create(keyService) as KeyService, {
        dateOffsetDays: () => offset,
      });
      const engine = createDeidEngine({
        profile: 'safe-harbor',
        keyService: shifted,
        referenceDate: new Date('2025-06-30T00:00:00Z'),
      });
      for (const [inst, resources] of notes) {
        for (const q of engine.deidentifyResources(resources, { institution: inst }).quarantined)
          flagged.push(`offset ${offset} ${inst}: ${q.resourceType} ${q.rule} ${q.path}`);
      }
    }
    expect(flagged).toEqual([]);
  }, 300_000);

  it('quarantines nothing and leaves no structured value under any of 100 keys: surrogates are drawn per key', () => {
    // Each key draws other surrogates (names from dictionaries, phone and ID digits) and another offset per person. A
    // surrogate that reads as the record's own identifier, or lands beside text that makes it read so, quarantines a
    // correct record (a lost record) under some keys only: every fresh install and test run has its own key. So try
    // many fixed keys over every mapped resource, not only the test's one.
    const flagged: string[] = [];
    const leftByKey: string[] = [];
    let outputs = 0;
    for (let k = 0; k < 100; k++) {
      const swept = createKeyService({
        key: crypto.createHash('sha256').update(`generated-sweep-${k}`).digest(),
        keyId: `k-sweep-${k}`,
      });
      const engine = createDeidEngine({
        profile: 'safe-harbor',
        keyService: swept,
        referenceDate: new Date('2025-06-30T00:00:00Z'),
      });
      const outText = new Map<string, string>();
      for (const [inst, resources] of raw) {
        const r = engine.deidentifyResources(resources, { institution: inst });
        outText.set(inst, searchable(r.outputs));
        outputs += r.outputs.length;
        for (const q of r.quarantined)
          flagged.push(`key ${k} ${inst}: ${q.resourceType} ${q.rule} ${q.path}`);
      }
      for (const [what, n] of Object.entries(structuredLeft(gt, outText)))
        leftByKey.push(`key ${k}: ${what} x${n}`);
    }
    expect(outputs).toBeGreaterThan(100 * 1900);
    expect(flagged).toEqual([]);
    expect(leftByKey).toEqual([]);
  }, 300_000);
});
