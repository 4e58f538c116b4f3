import { isTerminologySystem } from './terminology';
import type { FhirResource } from '../mappers/types';
import { childSteps, DECLARED_TYPES, declaredTypeOf, requiredChildrenOf } from './r4-backbones';
import { TributaryError } from '../platform/errors';
import type { KeyService } from './key-service';
import { normalizeIdentifier } from './key-service';
import type { CompiledPolicy, CompiledRule, NodeType } from './policy';
import { ageInYears, isAgeCode, isAgeTypedKey, isValueChoiceKey, topClassYear, topCodeAge } from './ages';
import type { SourceIdentifier, TextFinding } from './types';
import { FHIR_DATE_RE, NEVER_DATE_KEYS, fhirDatePrecision, isOlderThan, shiftFhirDate } from './dates';
import { readsAsOwnIdentifier, scrubText } from './text-scrubber';
import { surrogateFor } from './surrogates';

/**
 * The FHIR rule walker. For every element the first matching rule (in policy order) decides; `keep` keeps the element
 * but lets earlier rules still act below it (so `nodesByType('dateTime')` placed first shifts dates inside kept
 * subtrees); every other method is final for its subtree. An element no rule reaches is removed and counted
 * (fail closed). Rule lookups are cached per (resource type, element path, inherited keep).
 */

export interface ResourceContext {
  keyService: KeyService;
  institution: string;
  /** Linkage key of the resource's patient, if any. */
  linkage?: string;
  /** Days to shift this resource's dates by. */
  offset: number;
  /** Raw identifiers of the record and its patient (text scrubbing replaces them wherever they appear). */
  identifierValues: readonly SourceIdentifier[];
  /** The resource's own identifier values (literal forms). */
  literalIdentifiers: readonly string[];
  /** Patient id (as referenced, `Patient/<id>`) -> linkage key, for rewriting references. */
  patients: PatientLinkage;
  /**
   * Rewritten references of this batch (the same subject, encounter and practitioner recur in many resources); shared
   * by the batch's resources, whose institution and patient linkage are the same.
   */
  referenceCache?: Map<string, string>;
  referenceDate: Date;
  textMode: 'surrogate' | 'tag';
  textKeepTypes?: readonly string[];
  locale?: 'en' | 'zh';
  restrictedZip3: ReadonlySet<string>;
  ageBandYears: number;
  topAge: number;
  counts: Map<string, number>;
  textFindings: Map<string, number>;
  /** What happened, for meta.security. */
  changed: { pseudonymized: boolean; redacted: boolean; masked: boolean };
  /** Set while a contained resource is walked: its id is local to the container (see containedId). */
  inContained: boolean;
}

/**
 * The batch's patients by reference. An object with a method rather than a function: each batch has its own, and a
 * method is the same call target for all of them (a closure per batch is a new one, which throws away the optimized
 * reference rewriting that calls it).
 */
export interface PatientLinkage {
  linkageOf(ref: string): string | undefined;
}

interface Decision {
  /** Candidate rules matching this element, in order, each possibly with a runtime check. */
  candidates: CompiledRule[];
  /** Some rule (earlier than the inherited keep, if any) could match below this element. */
  descend: boolean;
  /**
   * What pick returns whatever the value, when the value cannot change it: no candidates (undefined), or a first
   * candidate without a runtime check. Null when the candidates must be tried in turn.
   */
  settled: CompiledRule | undefined | null;
}

/** Rules whose match depends on the element's value (pick checks it): where(...) or a value-typed nodesByType. */
function checksValue(r: CompiledRule): boolean {
  return (
    !!r.where ||
    r.nodeType === 'date' ||
    r.nodeType === 'dateTime' ||
    r.nodeType === 'instant' ||
    r.nodeType === 'string' ||
    r.nodeType === 'Reference'
  );
}

/** The free-text elements a kept part holds (see WalkerOptions.scrubKeptText). */
const KEPT_FREE_TEXT = new Set(['text', 'description', 'comment']);
const HUMAN_NAME_OWNERS = new Set(['Patient', 'Practitioner', 'RelatedPerson', 'Person']);
const MAX_DEPTH = 48;

function stepMatches(ruleStep: string, key: string): boolean {
  if (ruleStep === key) return true;
  if (ruleStep.endsWith('[x]')) {
    const base = ruleStep.slice(0, -3);
    return (
      key.length > base.length &&
      key.startsWith(base) &&
      key.charCodeAt(base.length) >= 65 &&
      key.charCodeAt(base.length) <= 90
    );
  }
  return false;
}

/**
 * Static FHIR type of an element from where it sits; undefined when only the value can tell. R4's declarations come
 * first (deid/r4-backbones.ts); the name decides inside datatypes and extensions, which they do not list.
 */
function staticType(
  resourceType: string,
  steps: readonly string[],
  canonicalPath: string,
): NodeType | undefined {
  const declared = declaredTypeOf(canonicalPath);
  if (declared !== undefined)
    return (DECLARED_TYPES as readonly string[]).includes(declared) ? (declared as NodeType) : undefined;
  const last = steps[steps.length - 1];
  switch (last) {
    case 'name':
      return HUMAN_NAME_OWNERS.has(resourceType) ||
        (steps.length > 1 && steps[steps.length - 2] === 'contact')
        ? 'HumanName'
        : undefined;
    case 'address':
      // an Endpoint's address is its URL; AuditEvent.agent.network.address an IP or a host name
      return resourceType === 'Endpoint' || resourceType === 'AuditEvent' ? undefined : 'Address';
    case 'valueAddress':
      return 'Address';
    case 'telecom':
      return 'ContactPoint';
    case 'identifier':
    case 'valueIdentifier':
      return 'Identifier';
    case 'text':
      return steps.length === 1 ? 'Narrative' : undefined;
    case 'attachment':
    case 'photo':
    case 'presentedForm':
    case 'valueAttachment':
    case 'content':
      return last === 'content' && resourceType !== 'Media' && resourceType !== 'Communication'
        ? undefined
        : 'Attachment';
    case 'note':
      return 'Annotation';
    case 'extension':
    case 'modifierExtension':
      return 'Extension';
    default:
      return isAgeTypedKey(last) ? 'Age' : undefined;
  }
}

function valueIsType(t: NodeType, value: unknown): boolean {
  switch (t) {
    case 'date': {
      // fhirDatePrecision equals FHIR_DATE_RE without a regex call: every string of a kept subtree is asked this.
      // A date without a time part: YYYY, YYYY-MM or YYYY-MM-DD.
      const p = typeof value === 'string' ? fhirDatePrecision(value) : 0;
      return p === 4 || p === 7 || p === 10;
    }
    case 'dateTime':
      return typeof value === 'string' && fhirDatePrecision(value) > 0;
    case 'instant':
      return typeof value === 'string' && fhirDatePrecision(value) > 10;
    case 'string':
      return typeof value === 'string';
    case 'Reference':
      // Anything with a reference string is one. A Coding has a display too, and may have no system: its code tells it
      // apart. A backbone can hold a Reference named reference (Consent.provision.actor, .data): it is none itself.
      return (
        !!value &&
        typeof value === 'object' &&
        !Array.isArray(value) &&
        ('reference' in value
          ? typeof (value as { reference: unknown }).reference === 'string'
          : 'display' in value && !('system' in value) && !('code' in value))
      );
    default:
      return false;
  }
}

/** Whether `obj` holds the element `name`; for a choice (`value[x]`), any of its typed keys (as rules match them). */
function hasChild(obj: Record<string, unknown>, name: string): boolean {
  if (!name.endsWith('[x]')) return obj[name] !== undefined;
  for (const key in obj) if (obj[key] !== undefined && stepMatches(name, key)) return true;
  return false;
}

/** One element path of one resource type (array indices ignored), with its decisions per inherited keep. */
export class PathNode {
  readonly children = new Map<string, PathNode>();
  readonly decisions = new Map<number, Decision>();
  /** The decision under no inherited keep. */
  unkept?: Decision;
  /** The last decision under an inherited keep, and that keep: the elements of one kept subtree share it. */
  keptIndex = -1;
  kept?: Decision;
  /** The element name (the last step). */
  readonly last: string;
  /** A free-text element a kept part can hold (KEPT_FREE_TEXT), asked of every kept string: answered once. */
  readonly freeText: boolean;
  /** `Type.a.b`: for locations and counts, built once per path rather than once per element. */
  readonly jsonPath: string;
  /**
   * `Type.` and the steps: the path rules and required children are matched on. A recursive element is its ancestor
   * again (`QuestionnaireResponse.item.answer.item` is `QuestionnaireResponse.item`, deid/r4-backbones.ts).
   */
  readonly canonicalPath: string;
  readonly removedKey: string;
  /** The required children of this path when it is a backbone element (deid/r4-backbones.ts); null: none. */
  required?: readonly string[] | null;
  /** The element's FHIR type where its place says it (staticType): asked by every decision and substitution. */
  readonly staticType: NodeType | undefined;
  /**
   * @param steps the canonical steps below the resource
   * @param pathKey the steps as the element sits, for jsonPath
   */
  constructor(
    readonly steps: readonly string[],
    readonly pathKey: string,
    readonly resourceType: string,
    last: string,
  ) {
    this.jsonPath = `${resourceType}.${pathKey}`;
    this.canonicalPath = steps.length ? `${resourceType}.${steps.join('.')}` : resourceType;
    this.last = last;
    this.freeText = KEPT_FREE_TEXT.has(last);
    this.staticType = steps.length ? staticType(resourceType, steps, this.canonicalPath) : undefined;
    this.removedKey = `removed-unlisted ${this.jsonPath}`;
  }

  child(key: string): PathNode {
    let c = this.children.get(key);
    if (!c) {
      c = new PathNode(
        childSteps(this.resourceType, this.steps, key),
        this.pathKey ? `${this.pathKey}.${key}` : key,
        this.resourceType,
        key,
      );
      this.children.set(key, c);
    }
    return c;
  }
}

export class RuleMatcher {
  private readonly roots = new Map<string, PathNode>();
  /** The rules whose match depends on the element's value. */
  private readonly valueChecked: ReadonlySet<CompiledRule>;
  /**
   * The rules that can apply to a resource type (its own and `Resource.` ones), in order: a policy names some 80 types,
   * and every path's first decision walked past all of their rules.
   */
  private readonly rulesByType = new Map<string, CompiledRule[]>();

  constructor(readonly compiled: CompiledPolicy) {
    this.valueChecked = new Set(compiled.rules.filter(checksValue));
  }

  root(resourceType: string): PathNode {
    let r = this.roots.get(resourceType);
    if (!r) {
      r = new PathNode([], '', resourceType, '');
      this.roots.set(resourceType, r);
    }
    return r;
  }

  /** Rules that can decide this element, and whether any rule reaches below it (computed once per path). */
  decideAt(resourceType: string, node: PathNode, inherited: number): Decision {
    // Most elements sit under no keep: that decision has its own slot instead of a Map lookup.
    if (inherited === Number.MAX_SAFE_INTEGER)
      return (node.unkept ??= this.decide(resourceType, node, inherited));
    if (node.keptIndex === inherited) return node.kept!;
    let d = node.decisions.get(inherited);
    if (!d) {
      d = this.decide(resourceType, node, inherited);
      node.decisions.set(inherited, d);
    }
    node.keptIndex = inherited;
    node.kept = d;
    return d;
  }

  private decide(resourceType: string, node: PathNode, inherited: number): Decision {
    const steps = node.steps;
    const candidates: CompiledRule[] = [];
    let descend = false;
    const st = node.staticType;
    let rules = this.rulesByType.get(resourceType);
    if (!rules) {
      rules = this.compiled.rules.filter(
        (r) => r.resourceType === undefined || r.resourceType === resourceType,
      );
      this.rulesByType.set(resourceType, rules);
    }
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i];
      if (r.index >= inherited) break;
      const rs = r.steps;
      if (r.nodeType) {
        // prefix must match; the element must be strictly below it
        if (rs.length > steps.length) {
          if (prefixMatches(rs, steps)) descend = true;
          continue;
        }
        if (!prefixMatches(rs, steps)) continue;
        descend = true;
        if (rs.length === steps.length && rs.length > 0) continue;
        const dated = r.nodeType === 'date' || r.nodeType === 'dateTime' || r.nodeType === 'instant';
        // A date is known by its form, and a code can have it ("1320", a version "2019-09"): elements that are
        // never dates are not read as dates.
        if (dated && NEVER_DATE_KEYS.has(steps[steps.length - 1])) continue;
        const dynamic = dated || r.nodeType === 'string' || r.nodeType === 'Reference';
        if (dynamic || st === r.nodeType) candidates.push(r);
        continue;
      }
      if (rs.length === steps.length) {
        if (prefixMatches(rs, steps)) candidates.push(r);
      } else if (rs.length > steps.length && prefixMatches(rs, steps)) {
        descend = true;
      }
    }
    const settled =
      candidates.length === 0 ? undefined : this.valueChecked.has(candidates[0]) ? null : candidates[0];
    return { candidates, descend, settled };
  }
}

/** rule steps `rs` (first `steps.length` of them) match the element path `steps`. */
function prefixMatches(rs: readonly string[], steps: readonly string[]): boolean {
  const n = Math.min(rs.length, steps.length);
  for (let i = 0; i < n; i++) if (!stepMatches(rs[i], steps[i])) return false;
  return true;
}

function pick(d: Decision, value: unknown): CompiledRule | undefined {
  if (d.settled !== null) return d.settled;
  // Indexed loops on the per-element paths: for-of allocates an iterator result per step until the code is optimized.
  const candidates = d.candidates;
  for (let i = 0; i < candidates.length; i++) {
    const r = candidates[i];
    if (r.where) {
      if (
        !value ||
        typeof value !== 'object' ||
        (value as Record<string, unknown>)[r.where.key] !== r.where.value
      )
        continue;
    }
    if (
      r.nodeType === 'date' ||
      r.nodeType === 'dateTime' ||
      r.nodeType === 'instant' ||
      r.nodeType === 'string' ||
      r.nodeType === 'Reference'
    ) {
      if (!valueIsType(r.nodeType, value)) continue;
    }
    return r;
  }
  return undefined;
}

/**
 * How a kept string is read: by its name (text, description and comment are free text), as a terminology's text (kept
 * as written), or as free text whatever its name.
 */
type TextRole = 'byName' | 'terminology' | 'free';

/**
 * A coded element's text that is one of its codings' displays is the terminology's text: kept as the display is (most
 * kept texts are: "primary performer", "Never Married"). A Coding's display is kept when its system is a published
 * terminology; a local code's display (an institution's own codes, or none) was typed at the source and is free text.
 */
function textRoleOf(key: string, value: string, obj: Record<string, unknown>): TextRole {
  if (key === 'text') return isDisplayOf(value, obj.coding) ? 'terminology' : 'byName';
  if (
    key === 'display' &&
    (obj.code !== undefined || obj.system !== undefined) &&
    obj.reference === undefined
  )
    return isTerminologySystem(obj.system) ? 'terminology' : 'free';
  return 'byName';
}

/**
 * Whether `text` is the display of one of `coding`'s codings of a published terminology (a CodeableConcept's text
 * written from its code). A local code's display is scrubbed as free text, and so is a text that repeats it.
 */
function isDisplayOf(text: string, coding: unknown): boolean {
  if (!Array.isArray(coding)) return false;
  for (let i = 0; i < coding.length; i++) {
    const c = coding[i] as { display?: unknown; system?: unknown } | null;
    if (c && c.display === text && isTerminologySystem(c.system)) return true;
  }
  return false;
}

function bump(map: Map<string, number>, key: string, by = 1): void {
  map.set(key, (map.get(key) ?? 0) + by);
}

export interface WalkerOptions {
  /**
   * Scrub, as free text, a text, description or comment string that sits inside a kept element with no rule of its
   * own: a CodeableConcept's or a Dosage's text, a cost's comment. A rule keeps a coded element for its codes, and its
   * text is whatever the feed wrote there ("severe, MRN 778812", "per wife Mary Hartley"); kept as written, the gate
   * quarantined the record, or published a name it has no dictionary for. Off for reference data, whose product
   * descriptions are kept as written.
   */
  scrubKeptText: boolean;
}

export class FhirWalker {
  constructor(
    private readonly matcher: RuleMatcher,
    private readonly options: WalkerOptions,
  ) {}

  /** De-identify one resource (already shape-checked). Throws TributaryError with an element path on bad content. */
  walkResource(resource: FhirResource, ctx: ResourceContext): FhirResource {
    const root = this.matcher.root(resource.resourceType);
    // The output starts with resourceType and is filled in place: no copy of the top level afterwards.
    const out: FhirResource = { resourceType: resource.resourceType };
    this.walkObject(resource, resource.resourceType, root, Number.MAX_SAFE_INTEGER, ctx, 0, out);
    return out;
  }

  private walkObject(
    obj: Record<string, unknown>,
    resourceType: string,
    node: PathNode,
    inherited: number,
    ctx: ResourceContext,
    depth: number,
    into?: Record<string, unknown>,
  ): Record<string, unknown> | undefined {
    if (depth > MAX_DEPTH) {
      throw new TributaryError(`element nesting deeper than ${MAX_DEPTH}`, {
        code: 'too-costly',
        location: node.jsonPath,
        nonRetryable: true,
      });
    }
    let out: Record<string, unknown> | undefined = into;
    // An Observation (or a component) coded as the patient's age holds an Age whatever its value[x] type says: its
    // value is decided as the element valueAge would be, so the policy's Age rule (top-coding) reaches it.
    const ageValued =
      resourceType === 'Observation' && (depth === 0 || node.last === 'component') && isAgeCode(obj.code);
    for (const key in obj) {
      if (depth === 0 && key === 'resourceType') continue;
      // An element's own id: see below.
      if (depth > 0 && key === 'id') continue;
      const value = obj[key];
      if (value === undefined) continue;
      if (key === 'contained' && depth === 0 && Array.isArray(value)) {
        const contained = this.walkContained(value, ctx, `${resourceType}.contained`);
        if (contained.length) (out ??= {})[key] = contained;
        continue;
      }
      const child = node.child(ageValued && isValueChoiceKey(key) ? 'valueAge' : key);
      const decision = this.matcher.decideAt(resourceType, child, inherited);
      let result: unknown;
      if (Array.isArray(value)) {
        if (value.length === 1) {
          // Most FHIR arrays hold one element: an array literal of one, not an empty array grown by push (which
          // reserves room for seventeen).
          const r = this.walkNode(value[0], decision, resourceType, child, inherited, ctx, depth);
          result = r === undefined ? undefined : [r];
        } else {
          let arr: unknown[] | undefined;
          for (let i = 0; i < value.length; i++) {
            const r = this.walkNode(value[i], decision, resourceType, child, inherited, ctx, depth);
            if (r !== undefined) (arr ??= []).push(r);
          }
          result = arr;
        }
      } else {
        result = this.walkNode(
          value,
          decision,
          resourceType,
          child,
          inherited,
          ctx,
          depth,
          typeof value === 'string' ? textRoleOf(key, value, obj) : 'byName',
        );
      }
      if (result !== undefined) (out ??= {})[key] = result;
    }
    if (!out || depth === 0) return out;
    // A backbone that had a required child and lost it is invalid FHIR, which the verify step quarantines record and
    // all: the typed rules keep a reference, a date or an identifier anywhere, and the code beside it went for want
    // of a rule (a vaccine's protocolApplied kept its authority and lost its doseNumber). Such a backbone goes whole.
    const required = (node.required ??= requiredChildrenOf(node.canonicalPath) ?? null);
    if (required) {
      for (let i = 0; i < required.length; i++) {
        if (hasChild(obj, required[i]) && !hasChild(out, required[i])) {
          bump(ctx.counts, `removed-partial ${node.jsonPath}`);
          ctx.changed.redacted = true;
          return undefined;
        }
      }
    }
    // An element's id is any string a system chose (an MRN, a name), kept as written inside a kept part and read by no
    // gate rule until 2026-12-06. It is pseudonymized as a contained resource's id is, so a `#id` link still names
    // it; and it goes with its element: alone it would be an element without content (FHIR ele-1).
    if (typeof obj.id === 'string') out.id = containedId(obj.id, ctx);
    return out;
  }

  private walkContained(list: unknown[], ctx: ResourceContext, jsonPath: string): unknown[] {
    const out: unknown[] = [];
    list.forEach((c, i) => {
      if (!c || typeof c !== 'object' || typeof (c as FhirResource).resourceType !== 'string') {
        throw new TributaryError('contained resource without resourceType', {
          code: 'structure',
          location: `${jsonPath}[${i}]`,
          nonRetryable: true,
        });
      }
      ctx.inContained = true;
      try {
        out.push(this.walkResource(c as FhirResource, ctx));
      } finally {
        ctx.inContained = false;
      }
    });
    return out;
  }

  private walkNode(
    value: unknown,
    decision: Decision,
    resourceType: string,
    node: PathNode,
    inherited: number,
    ctx: ResourceContext,
    depth: number,
    textRole: TextRole = 'byName',
  ): unknown {
    const rule = pick(decision, value);
    if (rule && rule.rule.method !== 'keep') {
      bump(ctx.counts, rule.id);
      return applyMethod(rule, value, node, resourceType, ctx);
    }
    const keepIndex = rule ? rule.index : inherited;
    const kept = keepIndex !== Number.MAX_SAFE_INTEGER;
    if (rule) bump(ctx.counts, rule.id);
    if (value !== null && typeof value === 'object') {
      const last = node.last;
      // Extensions are all-or-nothing: kept only when a rule names them (with where(url=...)), never half-walked.
      if (!rule && !kept && (last === 'extension' || last === 'modifierExtension')) {
        bump(ctx.counts, node.removedKey);
        ctx.changed.redacted = true;
        return undefined;
      }
      if (kept) {
        const below = this.matcher.decideAt(resourceType, node, keepIndex);
        // Nothing below to decide: the subtree is kept as it is, unless a text in it is to be scrubbed.
        if (!below.descend && !Array.isArray(value) && !this.options.scrubKeptText) return value;
      } else if (!decision.descend) {
        bump(ctx.counts, node.removedKey);
        ctx.changed.redacted = true;
        return undefined;
      }
      if (Array.isArray(value)) {
        throw new TributaryError('nested array where FHIR allows none', {
          code: 'structure',
          location: node.jsonPath,
          nonRetryable: true,
        });
      }
      return this.walkObject(value as Record<string, unknown>, resourceType, node, keepIndex, ctx, depth + 1);
    }
    if (kept) {
      if (
        !rule &&
        typeof value === 'string' &&
        this.options.scrubKeptText &&
        (textRole === 'free' || (node.freeText && textRole === 'byName'))
      ) {
        bump(ctx.counts, `scrubText kept ${node.last}`);
        return scrub(value, ctx, node.jsonPath);
      }
      return value;
    }
    bump(ctx.counts, node.removedKey);
    ctx.changed.redacted = true;
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Methods

function mapReference(ref: string, ctx: ResourceContext): string {
  const cache = ctx.referenceCache;
  if (!cache) return rewriteReference(ref, ctx);
  let out = cache.get(ref);
  if (out === undefined) {
    out = rewriteReference(ref, ctx);
    cache.set(ref, out);
  }
  return out;
}

function rewriteReference(ref: string, ctx: ResourceContext): string {
  const linkage = ctx.patients.linkageOf(ref);
  if (linkage) return `Patient/${ctx.keyService.patientId(ctx.institution, linkage)}`;
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/.*)?$/.exec(ref);
  if (m) return `${m[1]}/${mapId(m[1], m[2], ctx)}`;
  const cond = /^([A-Z][A-Za-z]+)\?/.exec(ref);
  if (cond)
    return `${cond[1]}/${ctx.keyService.hash('conditional-reference', `${ctx.institution}|${ref}`).slice(0, 16)}`;
  if (ref.startsWith('#')) return ref.length > 1 ? `#${containedId(ref.slice(1), ctx)}` : ref;
  return `urn:uuid:${uuidFrom(ctx.keyService.hash('reference', `${ctx.institution}|${ref}`))}`;
}

const CONDITIONAL_BY_IDENTIFIER = /^([A-Z][A-Za-z]+)\?identifier=([^|&]*)\|([^&]+)$/;

/**
 * A conditional reference by identifier (`Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|999`, as Synthea's
 * Bulk exports write them) as a logical reference: the type and the identifier as de-identified (a keyed digest within
 * its system, as `nodesByType('Identifier')` pseudonymizes the target's own). A server resolves a conditional
 * reference only inside the transaction it arrives in; rewritten to a literal id it would name no resource at all
 * (the target's id is a digest of its own id, which the reference does not carry), and a server that checks
 * references refuses it.
 */
function logicalReferenceOf(ref: string, ctx: ResourceContext): Record<string, unknown> | undefined {
  const m = CONDITIONAL_BY_IDENTIFIER.exec(ref);
  if (!m) return undefined;
  let system: string;
  let value: string;
  try {
    system = decodeURIComponent(m[2]);
    value = decodeURIComponent(m[3]);
  } catch {
    return undefined;
  }
  ctx.changed.pseudonymized = true;
  return {
    type: m[1],
    identifier: {
      ...(system ? { system } : {}),
      value: ctx.keyService.hash(`identifier:${system}`, normalizeIdentifier(value)),
    },
  };
}

function uuidFrom(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * A contained resource's id, which its container's `#id` references name without a type: pseudonymized from the id
 * alone, so the reference (rewritten in rewriteReference) and the id come out alike. `#referral` in a Synthea
 * ExplanationOfBenefit named a contained ServiceRequest whose id had been hashed with its type: it resolved to nothing.
 */
function containedId(id: string, ctx: ResourceContext): string {
  return ctx.keyService.hash('contained-id', `${ctx.institution}|${id}`).slice(0, 16);
}

export function mapId(resourceType: string, id: string, ctx: ResourceContext): string {
  if (resourceType === 'Patient') {
    const linkage = ctx.patients.linkageOf(`Patient/${id}`);
    if (linkage) return ctx.keyService.patientId(ctx.institution, linkage);
  }
  return ctx.keyService.hash('resource-id', `${ctx.institution}|${resourceType}|${id}`).slice(0, 16);
}

function scrub(text: string, ctx: ResourceContext, jsonPath: string): string {
  const r = scrubText(
    text,
    {
      keyService: ctx.keyService,
      linkage: ctx.linkage,
      identifiers: ctx.identifierValues,
      literalIdentifiers: ctx.literalIdentifiers,
      locale: ctx.locale,
      mode: ctx.textMode,
      keepTypes: ctx.textKeepTypes,
      dateOffsetDays: ctx.offset,
      topAge: ctx.topAge,
      referenceDate: ctx.referenceDate,
    },
    jsonPath,
  );
  if (r.findings.length) {
    ctx.changed.masked = true;
    for (const f of r.findings as TextFinding[]) bump(ctx.textFindings, f.type);
  }
  return r.text;
}

/** Scrub the text of an XHTML div; tags keep only their names (attributes can carry anything). */
function scrubXhtml(div: string, ctx: ResourceContext, jsonPath: string): string {
  let out = '';
  const re = /<[^<>]{0,2000}>/g;
  let at = 0;
  for (let m = re.exec(div); m; m = re.exec(div)) {
    if (m.index > at) out += scrub(div.slice(at, m.index), ctx, jsonPath);
    const tag = /^<\s*(\/?)\s*([A-Za-z][A-Za-z0-9]*)[^>]*?(\/?)\s*>$/.exec(m[0]);
    if (tag) {
      const xmlns =
        tag[2] === 'div' && !tag[1] && /xmlns=/.test(m[0]) ? ' xmlns="http://www.w3.org/1999/xhtml"' : '';
      out += `<${tag[1]}${tag[2]}${xmlns}${tag[3] ? '/' : ''}>`;
    }
    at = m.index + m[0].length;
  }
  if (at < div.length) out += scrub(div.slice(at), ctx, jsonPath);
  return out;
}

function scrubAny(value: unknown, ctx: ResourceContext, jsonPath: string, key: string): unknown {
  if (typeof value === 'string')
    return key === 'div' ? scrubXhtml(value, ctx, jsonPath) : scrub(value, ctx, jsonPath);
  if (!value || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v, i) => scrubAny(v, ctx, `${jsonPath}[${i}]`, key));
  const obj = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  const isAttachment = 'contentType' in obj || 'data' in obj;
  // A conditional reference inside scrubbed text (an Annotation's authorReference) becomes a logical reference, as
  // pseudonymizeValue makes it elsewhere: rewritten to a literal id it would name no resource.
  const logical = typeof obj.reference === 'string' ? logicalReferenceOf(obj.reference, ctx) : undefined;
  if (logical) {
    Object.assign(out, logical);
    if (obj.identifier !== undefined) ctx.changed.redacted = true;
  }
  for (const k in obj) {
    const v = obj[k];
    const p = `${jsonPath}.${k}`;
    if (isAttachment && k === 'data' && typeof v === 'string') {
      const ct = typeof obj.contentType === 'string' ? obj.contentType : '';
      if (/^text\//i.test(ct)) {
        const text = Buffer.from(v, 'base64').toString('utf8');
        const body = /html/i.test(ct) ? scrubXhtml(text, ctx, p) : scrub(text, ctx, p);
        // FHIR has no empty strings: text that scrubbing left empty (or that was) leaves no data element.
        if (body) {
          const buf = Buffer.from(body, 'utf8');
          out.data = buf.toString('base64');
          out.size = buf.length;
        }
      } else {
        bump(ctx.counts, 'redact non-text attachment data');
        ctx.changed.redacted = true;
      }
      continue;
    }
    if (isAttachment && (k === 'hash' || k === 'size' || k === 'url')) {
      // The original's hash links back to it; its size is recomputed above; a URL can point anywhere.
      if (k !== 'size') ctx.changed.redacted = true;
      continue;
    }
    if (logical && (k === 'reference' || k === 'type' || k === 'identifier')) continue;
    if (k === 'reference' && typeof v === 'string') {
      out[k] = mapReference(v, ctx);
      ctx.changed.pseudonymized = true;
      continue;
    }
    if (k === 'authorString' && typeof v === 'string') {
      out[k] =
        ctx.textMode === 'tag'
          ? '[NAME]'
          : surrogateFor(ctx.keyService, 'name', v, ctx.linkage, readsAsOwnIdentifier(ctx.identifierValues));
      ctx.changed.masked = true;
      continue;
    }
    if (typeof v === 'string' && (k === 'time' || k === 'creation' || k === 'date') && FHIR_DATE_RE.test(v)) {
      out[k] = shiftDate(v, ctx) ?? undefined;
      continue;
    }
    if (
      k === 'system' ||
      k === 'code' ||
      k === 'status' ||
      k === 'contentType' ||
      k === 'language' ||
      k === 'url'
    ) {
      out[k] = v;
      continue;
    }
    const r = scrubAny(v, ctx, p, k);
    if (r !== undefined) out[k] = r;
  }
  return out;
}

function pseudonymizeValue(
  value: unknown,
  rule: CompiledRule,
  steps: readonly string[],
  resourceType: string,
  ctx: ResourceContext,
  jsonPath: string,
): unknown {
  ctx.changed.pseudonymized = true;
  const last = steps[steps.length - 1];
  if (typeof value === 'string') {
    if (steps.length === 1 && last === 'id')
      return ctx.inContained ? containedId(value, ctx) : mapId(resourceType, value, ctx);
    if (rule.rule.domain === 'dicom-uid') return ctx.keyService.uid(value);
    if (last === 'reference') return mapReference(value, ctx);
    return ctx.keyService.hash(
      rule.rule.domain ?? `${resourceType}.${steps.join('.')}`,
      normalizeIdentifier(value),
    );
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    if (typeof value === 'number' || typeof value === 'boolean') return undefined;
    return undefined;
  }
  const obj = value as Record<string, unknown>;
  // Reference: rewrite the reference and drop display (names live there); a business identifier beside a reference
  // is dropped, one alone (a logical reference) pseudonymized.
  if ('reference' in obj || 'display' in obj) {
    if (!('system' in obj) && !('value' in obj)) {
      if (obj.display !== undefined || obj.identifier !== undefined) ctx.changed.redacted = true;
      const logical = typeof obj.reference === 'string' ? logicalReferenceOf(obj.reference, ctx) : undefined;
      if (logical) return logical;
      // Every Reference of a batch passes here: the output is an object literal of the fields it keeps.
      const reference = typeof obj.reference === 'string' ? mapReference(obj.reference, ctx) : undefined;
      const type = typeof obj.type === 'string' ? obj.type : undefined;
      if (reference !== undefined) return type !== undefined ? { reference, type } : { reference };
      // By identifier alone, it names its target only through it: pseudonymized as every Identifier is (an HL7 v2
      // message by its control id, in a Provenance's required entity.what, was dropped, and the output invalid).
      const identifier =
        obj.identifier && typeof obj.identifier === 'object' && !Array.isArray(obj.identifier)
          ? pseudonymizeValue(obj.identifier, rule, steps, resourceType, ctx, jsonPath)
          : undefined;
      if (identifier !== undefined) return type !== undefined ? { type, identifier } : { identifier };
      return type !== undefined ? { type } : undefined;
    }
  }
  // An extension holding an identifier as its value (Da Vinci STU1's PlanID, a plain string): the url stays and the
  // value is pseudonymized; the rule's domain says which identifiers it hashes alike.
  if (typeof obj.url === 'string') {
    const valueKey = Object.keys(obj).find((k) => k.startsWith('value'));
    if (valueKey && Object.keys(obj).every((k) => k === 'url' || k === 'id' || k === valueKey)) {
      const value = pseudonymizeValue(obj[valueKey], rule, [...steps, valueKey], resourceType, ctx, jsonPath);
      return value === undefined ? undefined : { url: obj.url, [valueKey]: value };
    }
  }
  // Identifier: keep system, type and use; the value becomes a keyed digest within its system.
  if ('value' in obj || 'system' in obj) {
    const out: Record<string, unknown> = {};
    let kept = false;
    if (typeof obj.use === 'string') {
      out.use = obj.use;
      kept = true;
    }
    if (obj.type && typeof obj.type === 'object' && !Array.isArray(obj.type)) {
      // The type's codes say what kind of number it is; its text is free text, and feeds write the number into it
      // ("MRN 123456"), which kept whole sent the record to quarantine.
      const { coding, text } = obj.type as { coding?: unknown; text?: unknown };
      const type: Record<string, unknown> = {};
      if (coding !== undefined) type.coding = coding;
      const scrubbed = typeof text === 'string' ? scrub(text, ctx, `${jsonPath}.type.text`) : undefined;
      if (scrubbed) type.text = scrubbed;
      if (Object.keys(type).length) {
        out.type = type;
        kept = true;
      }
    }
    if (typeof obj.system === 'string') {
      out.system = obj.system;
      kept = true;
    }
    if (typeof obj.value === 'string') {
      out.value = ctx.keyService.hash(
        rule.rule.domain ?? `identifier:${typeof obj.system === 'string' ? obj.system : ''}`,
        normalizeIdentifier(obj.value),
      );
      kept = true;
    }
    if (obj.assigner || obj.period) ctx.changed.redacted = true;
    return kept ? out : undefined;
  }
  throw new TributaryError(
    'pseudonymize applies to strings, references, identifiers and extensions of one value',
    {
      code: 'not-supported',
      location: jsonPath,
      nonRetryable: true,
    },
  );
}

function generalizeValue(
  value: unknown,
  rule: CompiledRule,
  ctx: ResourceContext,
  jsonPath: string,
): unknown {
  const kind = rule.rule.kind!;
  ctx.changed.masked = true;
  switch (kind) {
    case 'birth-date':
    case 'date-year': {
      if (typeof value !== 'string' || !FHIR_DATE_RE.test(value)) return undefined;
      // HIPAA: ages over 89 fold into one "90 or older" class, and so does the year of any date that says more (a
      // birth year, an encounter's year under date-year: until 2026-12-06 date-year kept 1931).
      if (isOlderThan(value, ctx.referenceDate, ctx.topAge)) {
        ctx.changed.redacted = true;
        return topClassYear(ctx.referenceDate, ctx.topAge);
      }
      return value.slice(0, 4);
    }
    case 'postal-code':
      return typeof value === 'string'
        ? generalizePostal(value, rule.rule.postalCode ?? 'zip3', ctx)
        : undefined;
    case 'age':
      return topCodeAge(value, ctx.topAge);
    case 'age-band': {
      // Bands are in years whatever unit the age came in (18 months is in the 0-4 band, not the 15-19 one).
      const years = ageInYears(value);
      if (years === undefined) return undefined;
      if (years > ctx.topAge) return topCodeAge(value, ctx.topAge);
      const band = Math.floor(years / ctx.ageBandYears) * ctx.ageBandYears;
      if (typeof value === 'number') return band;
      if (typeof value === 'string') return `${band}-${band + ctx.ageBandYears - 1}`;
      return { value: band, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a' };
    }
    case 'address': {
      if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
      const a = value as Record<string, unknown>;
      const level = rule.rule.level ?? 'state';
      const out: Record<string, unknown> = {};
      if (typeof a.use === 'string') out.use = a.use;
      if (typeof a.type === 'string') out.type = a.type;
      if (level === 'city' && typeof a.city === 'string') out.city = a.city;
      if (level !== 'country' && typeof a.state === 'string') out.state = a.state;
      if (level !== 'country' && typeof a.postalCode === 'string') {
        const pc = generalizePostal(a.postalCode, rule.rule.postalCode ?? 'zip3', ctx);
        if (pc !== undefined) out.postalCode = pc;
      }
      if (typeof a.country === 'string') out.country = a.country;
      return Object.keys(out).length ? out : undefined;
    }
  }
  throw new TributaryError(`generalize: unknown kind`, {
    code: 'not-supported',
    location: jsonPath,
    nonRetryable: true,
  });
}

function generalizePostal(
  value: string,
  mode: 'zip3' | 'keep' | 'drop',
  ctx: ResourceContext,
): string | undefined {
  if (mode === 'drop') return undefined;
  if (mode === 'keep') return value;
  const zip3 = value.replace(/\D/g, '').slice(0, 3);
  if (zip3.length < 3) return undefined;
  return ctx.restrictedZip3.has(zip3) ? '000' : zip3;
}

function substituteValue(value: unknown, t: NodeType | undefined, ctx: ResourceContext): unknown {
  ctx.changed.masked = true;
  if (typeof value === 'string') {
    if (ctx.textMode === 'tag') return '[REDACTED]';
    const type = value.includes('@') ? 'email' : /^[+\d\s().-]{7,}$/.test(value) ? 'phone' : 'name';
    return surrogateFor(ctx.keyService, type, value, ctx.linkage, readsAsOwnIdentifier(ctx.identifierValues));
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const obj = value as Record<string, unknown>;
  if (t === 'HumanName' || 'family' in obj || 'given' in obj) {
    const family = typeof obj.family === 'string' ? obj.family : '';
    const given = Array.isArray(obj.given) ? obj.given.filter((g): g is string => typeof g === 'string') : [];
    const han = /\p{Script=Han}/u.test(family + given.join(''));
    const full = han ? family + given.join('') : `${given.join(' ')} ${family}`.trim();
    const sur = surrogateFor(
      ctx.keyService,
      'name',
      full || String(obj.text ?? ''),
      ctx.linkage,
      readsAsOwnIdentifier(ctx.identifierValues),
    );
    const out: Record<string, unknown> = {};
    if (typeof obj.use === 'string') out.use = obj.use;
    if (han) {
      out.family = sur.slice(0, 1);
      if (given.length) out.given = [sur.slice(1)];
      out.text = sur;
    } else {
      const parts = sur.split(' ');
      out.family = parts[parts.length - 1];
      if (given.length && parts.length > 1) out.given = [parts[0]];
    }
    return out;
  }
  if (t === 'ContactPoint' || 'system' in obj) {
    const out: Record<string, unknown> = {};
    if (typeof obj.system === 'string') out.system = obj.system;
    if (typeof obj.use === 'string') out.use = obj.use;
    if (typeof obj.value === 'string') {
      const type = obj.system === 'email' ? 'email' : obj.system === 'url' ? 'url' : 'phone';
      out.value = surrogateFor(
        ctx.keyService,
        type,
        obj.value,
        ctx.linkage,
        readsAsOwnIdentifier(ctx.identifierValues),
      );
    }
    return out;
  }
  return undefined;
}

function perturbValue(
  value: unknown,
  rule: CompiledRule,
  steps: readonly string[],
  ctx: ResourceContext,
): unknown {
  const noise = (n: number): number => {
    const h = ctx.keyService.hash('perturb', `${ctx.linkage ?? ''}|${steps.join('.')}|${n}`);
    const u = parseInt(h.slice(0, 8), 16) / 0xffffffff; // 0..1
    const delta =
      rule.rule.relative !== undefined ? n * rule.rule.relative * (2 * u - 1) : rule.rule.span! * (2 * u - 1);
    const digits = rule.rule.roundTo ?? 2;
    const f = 10 ** digits;
    return Math.round((n + delta) * f) / f;
  };
  ctx.changed.masked = true;
  if (typeof value === 'number') return noise(value);
  if (value && typeof value === 'object' && typeof (value as { value?: unknown }).value === 'number') {
    const q = value as Record<string, unknown>;
    return { ...q, value: noise(q.value as number) };
  }
  return undefined;
}

/**
 * A date shifted by the patient's offset; one that makes its person older than topAge on the reference date is the
 * class's year alone, as a birth date is (Safe Harbor takes every element of such a date, the year included: an
 * encounter in 1931 says its patient is over 94, whatever their birth year says).
 */
function shiftDate(value: string, ctx: ResourceContext): string | undefined {
  const s = shiftFhirDate(value, ctx.offset);
  if (s === undefined || !isOlderThan(s, ctx.referenceDate, ctx.topAge)) return s;
  ctx.changed.redacted = true;
  return topClassYear(ctx.referenceDate, ctx.topAge);
}

function dateShiftValue(value: unknown, ctx: ResourceContext, jsonPath: string): unknown {
  if (typeof value === 'string') {
    const s = shiftDate(value, ctx);
    if (s === undefined)
      throw new TributaryError('dateShift: not a FHIR date, dateTime or instant', {
        code: 'value',
        location: jsonPath,
        nonRetryable: true,
      });
    return s;
  }
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const r = typeof v === 'string' && FHIR_DATE_RE.test(v) ? shiftDate(v, ctx) : undefined;
      if (r !== undefined) out[k] = r;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return undefined;
}

function applyMethod(
  rule: CompiledRule,
  value: unknown,
  node: PathNode,
  resourceType: string,
  ctx: ResourceContext,
): unknown {
  const { steps, jsonPath } = node;
  switch (rule.rule.method) {
    case 'redact':
      ctx.changed.redacted = true;
      return undefined;
    case 'pseudonymize':
      return pseudonymizeValue(value, rule, steps, resourceType, ctx, jsonPath);
    case 'dateShift':
      return dateShiftValue(value, ctx, jsonPath);
    case 'generalize':
      return generalizeValue(value, rule, ctx, jsonPath);
    case 'substitute':
      return substituteValue(value, node.staticType, ctx);
    case 'perturb':
      return perturbValue(value, rule, steps, ctx);
    case 'scrubText':
      return scrubAny(value, ctx, jsonPath, steps[steps.length - 1]);
    case 'keep':
      return value;
  }
}

export type { SourceIdentifier };
