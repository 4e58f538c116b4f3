/**
 * FHIR R4 validation cost per resource: validateFhirResource (fast path first, medplum only when it is not sure)
 * against validateFhirResourceWithMedplum (medplum's validateResource on every resource; both include our
 * required-binding check), on the same resources in the same run, and the fast path's hit rate. Also checks that
 * both return identical issues for every resource.
 *
 * Corpora: the Synthea bulk sample in ../shared/data, every resource the mappers make from a generator run, and
 * optionally the NDJSON files of a directory (e.g. a pipeline run's de-identified output, data/out/<run>/fhir).
 * Prints the median of --runs timed passes (after one untimed warm-up pass) as CPU microseconds of this process per
 * resource: the machine is shared, and validation runs on one core. Not part of `npm test`.
 *
 *   npx tsx bench/fhir-validate.ts [--patients 3] [--runs 5] [--ndjson data/out/<run>/fhir]
 */
import { isDeepStrictEqual, parseArgs } from 'node:util';
import { mappedGeneratorOutput, readNdjsonDir, syntheaSample } from '../mappers/test-support/fhir-corpus';
import type { FhirResource } from '../mappers/types';
import {
  loadCore,
  validateFhirResource,
  validateFhirResourceWithMedplum,
  warmUpValidator,
} from '../mappers/validate';
import { createFastValidator } from '../mappers/validate-fast';
import { median } from './median';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '3' },
    runs: { type: 'string', default: '5' },
    ndjson: { type: 'string' },
  },
});
const runs = Number(values.runs);

/** CPU microseconds of this process per resource for one pass of fn over resources. */
function pass(resources: FhirResource[], fn: (r: FhirResource) => unknown): number {
  const c0 = process.cpuUsage();
  for (const r of resources) fn(r);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / resources.length;
}

function bench(name: string, resources: FhirResource[]): void {
  const fast = createFastValidator(loadCore());
  let hits = 0;
  let invalid = 0;
  let different = 0;
  for (const r of resources) {
    if (fast.isCertainlyValid(r)) hits++;
    const reference = validateFhirResourceWithMedplum(r);
    if (reference.length > 0) invalid++;
    if (!isDeepStrictEqual(validateFhirResource(r), reference)) different++;
  }
  const medplum: number[] = [];
  const withFast: number[] = [];
  for (let i = 0; i < runs; i++) {
    // Alternate the order so neither side always runs right after the other's garbage.
    if (i % 2 === 0) {
      medplum.push(pass(resources, validateFhirResourceWithMedplum));
      withFast.push(pass(resources, validateFhirResource));
    } else {
      withFast.push(pass(resources, validateFhirResource));
      medplum.push(pass(resources, validateFhirResourceWithMedplum));
    }
  }
  const m = median(medplum);
  const f = median(withFast);
  console.log(
    `${name.padEnd(10)} ${String(resources.length).padStart(6)} resources (${invalid} invalid)  ` +
      `medplum ${m.toFixed(1).padStart(6)} µs/res  with fast path ${f.toFixed(1).padStart(6)} µs/res  ` +
      `speed-up ${(m / f).toFixed(1)}x  fast-path hit rate ${((100 * hits) / resources.length).toFixed(1)}%  ` +
      `identical issues: ${different === 0 ? 'yes' : `NO (${different} differ)`}`,
  );
  if (different > 0) process.exitCode = 1;
}

const corpora: [string, FhirResource[]][] = [
  ['synthea', syntheaSample()],
  ['mapped', await mappedGeneratorOutput('bench-fhir-validate', Number(values.patients))],
];
if (values.ndjson) corpora.push(['ndjson', readNdjsonDir(values.ndjson)]);
// Load the definitions before any timing.
warmUpValidator();
console.log(`median of ${runs} passes, CPU µs of this process per resource`);
for (const [name, resources] of corpora) bench(name, resources);
