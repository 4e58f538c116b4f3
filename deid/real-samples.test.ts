import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  mapBuffer,
  validateFhirResource,
  type FhirResource,
  type MapContext,
  type SourceFormat,
} from '../mappers/index';
import { hisCsvMappingSchema } from '../schemas/his-csv-mapping';
import { sampleFiles } from '../mappers/test-support/data';
import { createDeidEngine, createKeyService, type ProfileName } from './index';

/**
 * Every real third-party sample in ../shared/data that maps to FHIR, de-identified under the profile its source kind
 * gets in the pipeline, comes out as valid FHIR R4. The verify step quarantines an invalid output with its whole
 * record, so an element a policy drops in part loses the record: before policy 1.4.0 that was every Synthea Claim and
 * ExplanationOfBenefit and 138 of the HL7 v2 messages' Provenances (a message named by its control id alone, in the
 * required entity.what, was dropped).
 */

const keyService = createKeyService({
  key: crypto.createHash('sha256').update('real-samples-test').digest(),
  keyId: 'k-real',
});

interface SampleSet {
  format: SourceFormat;
  dir: string;
  profile: ProfileName;
  /** Files de-identified as one batch (a Bulk export's resources refer to its Patients across files). */
  oneBatch?: boolean;
  include?: (file: string) => boolean;
  /** What the profile refuses on purpose, as `Type rule@path`. */
  refused?: string[];
  /** More of the mapping context (a HIS CSV layout, a time zone). */
  context?: Partial<MapContext>;
}

const tianchiLayout = hisCsvMappingSchema.parse(
  JSON.parse(
    readFileSync(new URL('../config/his-csv/tianchi-diabetes-checkup.json', import.meta.url), 'utf8'),
  ),
);

const sets: SampleSet[] = [
  { format: 'hl7v2', dir: 'hl7v2', profile: 'safe-harbor' },
  { format: 'fhir', dir: 'fhir/synthea-bundles', profile: 'safe-harbor' },
  { format: 'hl7v2', dir: 'hl7v2', profile: 'limited-dataset' },
  // six test patients there are named like their town (AAAAAA), which this profile keeps
  { format: 'hl7v2', dir: 'hl7v2', profile: 'gbt-37964' },
  { format: 'fhir', dir: 'fhir/synthea-bundles', profile: 'limited-dataset' },
  { format: 'fhir', dir: 'fhir/synthea-bundles', profile: 'gbt-37964' },
  {
    format: 'fhir',
    dir: 'fhir/bulk-ndjson-10-patients',
    profile: 'safe-harbor',
    oneBatch: true,
    include: (f) => !f.endsWith('log.ndjson'),
  },
  {
    format: 'openmhealth',
    dir: 'openmhealth',
    profile: 'safe-harbor',
    include: (f) => f.includes('shouldPass'),
  },
  {
    format: 'apple-health',
    dir: 'apple-health',
    profile: 'safe-harbor',
    include: (f) => f.endsWith('.xml') && !f.includes('MALFORMED'),
  },
  // the Tianchi check-up test file (1,000 people, 30,991 labs) under the Chinese profile
  {
    format: 'his-csv',
    dir: 'cn-ehr/tianchi-diabetes-checkup',
    profile: 'gbt-37964',
    include: (f) => f.endsWith('d_test_A_20180102.csv'),
    context: { columnMapping: tianchiLayout, timezone: 'Asia/Shanghai' },
  },
  { format: 'spl', dir: 'druglabel/spl-xml', profile: 'reference-data' },
  { format: 'openfda', dir: 'druglabel/openfda-json', profile: 'reference-data' },
  // the whole national reimbursement drug list (4,750 drugs)
  { format: 'nrdl', dir: 'nrdl', profile: 'reference-data', include: (f) => f.endsWith('.json') },
  {
    format: 'pdex-formulary',
    dir: 'formulary',
    profile: 'reference-data',
    // the Da Vinci guide's example member and their coverage are people, not plans
    refused: [
      'Coverage reference-data.not-a-description@Coverage',
      'Patient reference-data.not-a-description@Patient',
    ],
  },
];

/**
 * An oracle apart from the engine and its gate: the people's own values, read from the mapped input (names, address
 * lines, cities, postcodes, phones and emails, identifiers and birth dates of every Patient, RelatedPerson and Person,
 * contacts included), must not appear in any output of the batch, free text included; and no date of a resource may
 * come out as it went in. What a profile lets stand is left out: the city (and under the limited data set the postcode,
 * the birth date and every date; reference data keeps its dates). Identifiers of four digits or fewer are left out too: as bare numbers they are also
 * codes and quantities (LOINC 5905-5 beside a check-up's row id 5905).
 */
interface OwnValue {
  kind: 'name' | 'line' | 'city' | 'postalCode' | 'telecom' | 'identifier' | 'birthDate';
  where: string;
  pattern: RegExp;
  value: string;
}

const PERSON_TYPES = new Set(['Patient', 'RelatedPerson', 'Person']);

function ownValuesOf(resources: readonly FhirResource[], profile: ProfileName): OwnValue[] {
  const allowed = new Set<OwnValue['kind']>(
    profile === 'limited-dataset'
      ? ['city', 'postalCode', 'birthDate']
      : profile === 'gbt-37964'
        ? ['city']
        : [],
  );
  const out: OwnValue[] = [];
  const add = (kind: OwnValue['kind'], value: unknown, where: string): void => {
    if (typeof value !== 'string' || allowed.has(kind)) return;
    const v = value.trim();
    if (v.length < 3 || (kind === 'identifier' && /^\d{1,4}$/.test(v))) return;
    const escaped = v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    out.push({
      kind,
      where,
      value: v,
      pattern: new RegExp(`(?<![\\p{L}\\p{N}])${escaped}(?![\\p{L}\\p{N}])`, 'iu'),
    });
  };
  type Json = Record<string, any>;
  const names = (list: Json[] | undefined, where: string): void => {
    for (const n of list ?? []) {
      add('name', n.family, `${where}.family`);
      for (const g of n.given ?? []) add('name', g, `${where}.given`);
      add('name', n.text, `${where}.text`);
    }
  };
  const addresses = (list: Json[] | undefined, where: string): void => {
    for (const a of list ?? []) {
      for (const l of a.line ?? []) add('line', l, `${where}.line`);
      add('city', a.city, `${where}.city`);
      add('line', a.district, `${where}.district`);
      add('postalCode', a.postalCode, `${where}.postalCode`);
    }
  };
  for (const r of resources as readonly Json[]) {
    if (!PERSON_TYPES.has(r.resourceType)) continue;
    const t = r.resourceType as string;
    names(r.name, `${t}.name`);
    addresses(r.address, `${t}.address`);
    for (const c of r.telecom ?? []) add('telecom', c.value, `${t}.telecom`);
    for (const id of r.identifier ?? []) add('identifier', id.value, `${t}.identifier`);
    add('birthDate', r.birthDate, `${t}.birthDate`);
    for (const c of r.contact ?? []) {
      names(c.name ? [c.name] : [], `${t}.contact.name`);
      addresses(c.address ? [c.address] : [], `${t}.contact.address`);
      for (const tc of c.telecom ?? []) add('telecom', tc.value, `${t}.contact.telecom`);
    }
  }
  // A value the profile lets stand elsewhere is not a finding: a patient named like their town, a relative named like
  // a word of it (the HL7 sample's TOADSTOOL of TOADSTOOL KINGDOM, since NK1 is mapped).
  const standing: string[] = [];
  if (allowed.has('city'))
    for (const r of resources as readonly Json[])
      if (PERSON_TYPES.has(r.resourceType))
        for (const a of [...(r.address ?? []), ...(r.contact ?? []).map((c: Json) => c.address ?? {})])
          if (typeof a.city === 'string') standing.push(a.city.trim());
  return out.filter((v) => !standing.some((city) => v.pattern.test(city)));
}

/** The limited data set keeps dates; reference data keeps a label's or a plan's calendar dates as written. */
const keepsDates = (profile: ProfileName): boolean =>
  profile === 'limited-dataset' || profile === 'reference-data';

const DATE = /^\d{4}-\d{2}-\d{2}/;

/** Every date, as `path=date`: a shifted date may land on another element's original one (an onset a week before
 * an abatement, shifted by a week), never on its own. */
function datesOf(value: unknown, path = '', out: Set<string> = new Set()): Set<string> {
  if (typeof value === 'string') {
    const m = DATE.exec(value);
    if (m) out.add(`${path}=${m[0]}`);
  } else if (Array.isArray(value)) for (const v of value) datesOf(v, path, out);
  else if (value && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) datesOf(v, `${path}.${k}`, out);
  return out;
}

describe('the real samples de-identified', () => {
  it.each(sets)(
    '$dir ($format) under $profile: valid FHIR R4, no own value or date left, nothing quarantined but what the profile refuses',
    async (set) => {
      const engine = createDeidEngine({ profile: set.profile, keyService });
      const batches: FhirResource[][] = [];
      for (const f of sampleFiles(set.dir).filter(set.include ?? (() => true))) {
        const mapped = await mapBuffer(set.format, readFileSync(f), {
          institution: 'inst-a',
          sourceFile: basename(f),
          ...set.context,
        });
        if (set.oneBatch && batches.length) batches[0].push(...mapped.resources);
        else batches.push(mapped.resources);
      }
      let resources = 0;
      const invalid: string[] = [];
      const refused: string[] = [];
      const leaks: string[] = [];
      let datesCompared = 0;
      for (const batch of batches) {
        const own = ownValuesOf(batch, set.profile);
        const inputDates = keepsDates(set.profile) ? [] : batch.map((r) => datesOf(r));
        const types = batch.map((r) => r.resourceType);
        const res = engine.deidentifyResources(batch, { institution: 'inst-a' });
        const text = res.outputs.map((o) => JSON.stringify(o)).join('\n');
        // Where and what kind, never the value: a failure message is printed and kept.
        for (const v of own) if (v.pattern.test(text)) leaks.push(`${v.kind} from ${v.where}`);
        // Outputs keep the batch's order when nothing is quarantined: each is compared with its own input.
        if (inputDates.length && res.outputs.length === batch.length)
          res.outputs.forEach((out, i) => {
            expect(out.resourceType).toBe(types[i]);
            for (const d of datesOf(out)) {
              datesCompared++;
              if (inputDates[i].has(d))
                leaks.push(`an unshifted date at ${out.resourceType}${d.split('=')[0]}`);
            }
          });
        resources += batch.length;
        expect(res.outputs.length + res.quarantined.length).toBe(batch.length);
        refused.push(...res.quarantined.map((q) => `${q.resourceType} ${q.rule}@${q.path}`));
        for (const out of res.outputs)
          for (const issue of validateFhirResource(out))
            if (issue.severity === 'error' || issue.severity === 'fatal')
              invalid.push(
                `${out.resourceType}: ${issue.expression?.[0]?.replace(/\[\d+\]/g, '[]')} ${issue.diagnostics}`,
              );
      }
      expect(resources).toBeGreaterThan(10);
      expect([...new Set(leaks)]).toEqual([]);
      if (!keepsDates(set.profile)) expect(datesCompared).toBeGreaterThan(0);
      expect([...new Set(invalid)]).toEqual([]);
      expect(refused.sort()).toEqual(set.refused ?? []);
    },
  );
});
