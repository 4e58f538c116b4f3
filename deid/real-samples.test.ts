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

describe('the real samples de-identified', () => {
  it.each(sets)(
    '$dir ($format) under $profile: valid FHIR R4, nothing quarantined but what the profile refuses',
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
      for (const batch of batches) {
        const res = engine.deidentifyResources(batch, { institution: 'inst-a' });
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
      expect([...new Set(invalid)]).toEqual([]);
      expect(refused.sort()).toEqual(set.refused ?? []);
    },
  );
});
