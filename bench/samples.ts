import path from 'node:path';

/** The Synthea Bulk-export sample in ../shared/data (10 patients, 14 NDJSON files): the benches' realistic FHIR mix. */
export const SYNTHEA_BULK_DIR = path.resolve(
  import.meta.dirname,
  '..',
  '..',
  'shared',
  'data',
  'fhir',
  'bulk-ndjson-10-patients',
);
