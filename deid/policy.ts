import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { canonicalSteps, recursiveElementNamed } from './r4-backbones';
import { TributaryError } from '../platform/errors';
import { parseAtEdge } from '../platform/config';
import type { ProfileName } from './types';

/**
 * De-identification policy: ordered rules on FHIR element paths. The first rule that matches an element decides
 * what happens to it and everything below it; an element that no rule reaches is removed (fail closed).
 *
 * Paths are a FHIRPath subset, compiled once:
 *   `Patient.name`, `Resource.id` (any resource type), `Observation.value[x]` (any choice type),
 *   `nodesByType('date')`, `Encounter.nodesByType('dateTime')` (any element of that type under the prefix;
 *   types: date, dateTime, instant, string, HumanName, Address, ContactPoint, Identifier, Reference, Narrative,
 *   Attachment, Annotation, Extension), and `.where(system='...')` / `.where(url='...')` on the last step.
 */
export const deidMethods = [
  'keep',
  'redact',
  'pseudonymize',
  'dateShift',
  'generalize',
  'substitute',
  'perturb',
  'scrubText',
] as const;
export type DeidMethod = (typeof deidMethods)[number];

export const nodeTypes = [
  'date',
  'dateTime',
  'instant',
  'string',
  'HumanName',
  'Address',
  'ContactPoint',
  'Identifier',
  'Reference',
  'Narrative',
  'Attachment',
  'Annotation',
  'Extension',
  'Age',
] as const;
export type NodeType = (typeof nodeTypes)[number];

const ruleSchema = z
  .object({
    /** A name for reports and errors; defaults to `<method> <path>`. */
    id: z.string().min(1).optional(),
    path: z.string().min(1),
    method: z.enum(deidMethods),
    /** generalize: what to generalize to. */
    kind: z.enum(['age', 'age-band', 'birth-date', 'address', 'date-year', 'postal-code']).optional(),
    /** generalize address: keep down to `state` (province) or `city`. */
    level: z.enum(['country', 'state', 'city']).optional(),
    /** generalize address/postal-code: ZIP3 (HIPAA, restricted areas become 000), keep as is, or drop. */
    postalCode: z.enum(['zip3', 'keep', 'drop']).optional(),
    /** perturb: relative noise (0.1 = ±10%) or absolute `span`, rounded to `roundTo` decimals. */
    relative: z.number().positive().max(1).optional(),
    span: z.number().positive().optional(),
    roundTo: z.number().int().min(0).max(6).optional(),
    /** pseudonymize: the hash domain (values in the same domain hash alike). */
    domain: z.string().min(1).optional(),
  })
  .strict();
export type PolicyRule = z.infer<typeof ruleSchema>;

export const policySchema = z
  .object({
    name: z.string().min(1),
    version: z.string().regex(/^\d+\.\d+\.\d+$/, 'version must be semantic: MAJOR.MINOR.PATCH'),
    description: z.string().optional(),
    /** Start from a built-in profile: this policy's rules go first, the profile's follow. */
    extends: z.enum(['safe-harbor', 'gbt-37964', 'limited-dataset']).optional(),
    text: z
      .object({
        mode: z.enum(['surrogate', 'tag']).default('surrogate'),
        locale: z.enum(['en', 'zh']).optional(),
        /** PHI types free text keeps (the limited data set keeps dates). */
        keepTypes: z.array(z.enum(['date', 'postal-code', 'address'])).optional(),
      })
      .strict()
      .optional(),
    generalize: z
      .object({
        /** ZIP3 areas with 20,000 people or fewer (HIPAA): become 000. */
        restrictedZip3: z.array(z.string().regex(/^\d{3}$/)).optional(),
        ageBandYears: z.number().int().min(1).max(20).optional(),
        /** Ages above this become the top band (HIPAA: 89 → 90+). */
        topAge: z.number().int().min(1).max(130).optional(),
      })
      .strict()
      .optional(),
    gate: z
      .object({
        /** Identifier types of the raw record that may legitimately remain (limited data set keeps dates). */
        allowTypes: z.array(z.string()).optional(),
      })
      .strict()
      .optional(),
    risk: z
      .object({
        k: z.number().int().min(1).default(5),
        quasiIdentifiers: z
          .array(z.enum(['age-band', 'sex', 'region']))
          .default(['age-band', 'sex', 'region']),
        suppress: z.boolean().default(false),
      })
      .strict()
      .optional(),
    /**
     * Descriptions of products and plans (drug labels, formularies, payer catalogs), not records about people: the
     * engine quarantines any resource that is about a person or points at one, and the gate does not read identifier
     * patterns (a label's Poison Control number, which the policy keeps, is not a patient's phone).
     */
    referenceData: z.boolean().optional(),
    rules: z.array(ruleSchema),
  })
  .strict();
export type Policy = z.infer<typeof policySchema>;

/** One compiled rule. */
export interface CompiledRule {
  index: number;
  id: string;
  rule: PolicyRule;
  /** Resource type or undefined for `Resource`. */
  resourceType?: string;
  /** Element names below the resource; `*` never appears; choice steps end with `[x]`. */
  steps: string[];
  /** nodesByType('T'): matches any element of type T at or under `steps`. */
  nodeType?: NodeType;
  /** where(key='value') on the last step. */
  where?: { key: string; value: string };
}

const STEP_RE = /^[A-Za-z_][A-Za-z0-9_]*(?:\[x\])?$/;
const NODES_BY_TYPE_RE = /^nodesByType\('([A-Za-z]+)'\)$/;
const WHERE_RE = /^where\(([A-Za-z]+)\s*=\s*'([^']*)'\)$/;

function ruleError(policy: string, index: number, field: string, why: string): TributaryError {
  return new TributaryError(`${policy}: rules[${index}].${field}: ${why}`, {
    code: 'invalid',
    location: `${policy} rules[${index}].${field}`,
    nonRetryable: true,
  });
}

/** Split a path on dots outside quotes and parentheses. */
function splitPath(p: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  let quote = false;
  for (const c of p) {
    if (c === "'") quote = !quote;
    if (!quote && c === '(') depth++;
    if (!quote && c === ')') depth--;
    if (c === '.' && !quote && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

function compileRule(rule: PolicyRule, index: number, source: string): CompiledRule {
  const parts = splitPath(rule.path.trim());
  const compiled: CompiledRule = { index, id: rule.id ?? `${rule.method} ${rule.path}`, rule, steps: [] };
  let i = 0;
  if (parts[0] && /^[A-Z][A-Za-z]+$/.test(parts[0])) {
    compiled.resourceType = parts[0] === 'Resource' || parts[0] === 'DomainResource' ? undefined : parts[0];
    i = 1;
  }
  for (; i < parts.length; i++) {
    const p = parts[i];
    const nbt = NODES_BY_TYPE_RE.exec(p);
    if (nbt) {
      if (i !== parts.length - 1)
        throw ruleError(source, index, 'path', 'nodesByType() must be the last step');
      if (!(nodeTypes as readonly string[]).includes(nbt[1])) {
        throw ruleError(
          source,
          index,
          'path',
          `nodesByType: unknown type; use one of ${nodeTypes.join(', ')}`,
        );
      }
      compiled.nodeType = nbt[1] as NodeType;
      continue;
    }
    const wh = WHERE_RE.exec(p);
    if (wh) {
      if (i !== parts.length - 1 || compiled.steps.length === 0) {
        throw ruleError(source, index, 'path', 'where() must follow an element as the last step');
      }
      compiled.where = { key: wh[1], value: wh[2] };
      continue;
    }
    if (!STEP_RE.test(p))
      throw ruleError(
        source,
        index,
        'path',
        `step ${i + 1} is not an element name, nodesByType('T') or where(k='v')`,
      );
    compiled.steps.push(p);
  }
  if (compiled.steps.length === 0 && !compiled.nodeType && compiled.resourceType === undefined) {
    throw ruleError(source, index, 'path', 'a rule must name an element, a resource type or nodesByType()');
  }
  // A recursive element is matched at every level by the rules on its first (deid/r4-backbones.ts): a rule naming a
  // deeper level names that first level.
  if (compiled.resourceType) compiled.steps = canonicalSteps(compiled.resourceType, compiled.steps);
  else {
    const recursive = recursiveElementNamed(compiled.steps);
    if (recursive)
      throw ruleError(
        source,
        index,
        'path',
        `${recursive} is a nested level of a recursive element, which the rules of its first level decide; name the resource type and the first level`,
      );
  }
  const needsKind = rule.method === 'generalize' && !rule.kind;
  if (needsKind)
    throw ruleError(
      source,
      index,
      'kind',
      'generalize needs kind: age, age-band, birth-date, address, date-year or postal-code',
    );
  if (rule.method === 'perturb' && rule.relative === undefined && rule.span === undefined) {
    throw ruleError(source, index, 'relative', 'perturb needs relative or span');
  }
  if (rule.method !== 'generalize' && (rule.kind || rule.level || rule.postalCode)) {
    throw ruleError(
      source,
      index,
      rule.kind ? 'kind' : rule.level ? 'level' : 'postalCode',
      'only generalize takes kind, level and postalCode',
    );
  }
  return compiled;
}

export interface CompiledPolicy {
  policy: Policy;
  rules: CompiledRule[];
  /** Where the policy came from, for messages. */
  source: string;
}

const builtInDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'config', 'deid');

export const profileNames: readonly ProfileName[] = [
  'safe-harbor',
  'gbt-37964',
  'limited-dataset',
  'reference-data',
];

/** Parse a policy document (already read), naming the file and each bad field. */
export function parsePolicy(input: unknown, source: string): Policy {
  return parseAtEdge(policySchema, input, source);
}

/** Read a policy file: YAML (.yaml/.yml) or JSON. */
export function readPolicyFile(file: string): Policy {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new TributaryError(`policy file ${file} cannot be read`, {
      code: 'not-found',
      location: file,
      nonRetryable: true,
    });
  }
  let doc: unknown;
  try {
    doc = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    const where =
      e instanceof Error && 'linePos' in e
        ? ` near line ${(e as { linePos?: { line: number }[] }).linePos?.[0]?.line}`
        : '';
    throw new TributaryError(
      `policy file ${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}${where}`,
      {
        code: 'invalid',
        location: file,
        nonRetryable: true,
      },
    );
  }
  return parsePolicy(doc, `policy file ${path.basename(file)}`);
}

const profileCache = new Map<ProfileName, Policy>();

/** A built-in profile from config/deid/<name>.yaml. */
export function loadProfile(name: ProfileName): Policy {
  let p = profileCache.get(name);
  if (!p) {
    if (!profileNames.includes(name)) {
      throw new TributaryError(`unknown de-identification profile; use one of ${profileNames.join(', ')}`, {
        code: 'invalid',
        nonRetryable: true,
      });
    }
    p = readPolicyFile(path.join(builtInDir, `${name}.yaml`));
    profileCache.set(name, p);
  }
  return p;
}

/** Merge `extends` and compile every rule once. Errors name the rule index and field. */
export function compilePolicy(policy: Policy, source = `policy ${policy.name}`): CompiledPolicy {
  let merged = policy;
  if (policy.extends) {
    const base = loadProfile(policy.extends);
    merged = {
      ...base,
      ...policy,
      text: { ...base.text, ...policy.text } as Policy['text'],
      generalize: { ...base.generalize, ...policy.generalize },
      gate: { ...base.gate, ...policy.gate },
      risk: policy.risk ?? base.risk,
      rules: [...policy.rules, ...base.rules],
    };
  }
  const rules = merged.rules.map((r, i) => compileRule(r, i, source));
  return { policy: merged, rules, source };
}
