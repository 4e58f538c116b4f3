/**
 * A fast, conservative pre-check in front of @medplum/core's validateResource. It answers only "certainly valid"
 * (medplum would report no error) or "not sure"; every "not sure" goes to medplum, which stays the reference for
 * every issue, message and path. It walks the plain JSON against the same parsed schemas medplum uses (getDataType),
 * compiled once per type into a key -> element table that includes every expanded choice key, and evaluates the same
 * FHIRPath invariants medplum evaluates, with the same variables, only where a constraint applies.
 *
 * Soundness is the contract: whatever this module does not model exactly (primitive extensions `_x`, contained or
 * inline resources, slicing, fixed and pattern values, empty values medplum would silently skip, two values for one
 * choice element, keys medplum reads through the prototype chain, any invariant that does not evaluate to true) makes
 * it answer "not sure". The medplum 4.5.2 rules mirrored here are in node_modules/@medplum/core (typeschema/validation.ts,
 * typeschema/crawler.ts, fhirpath/utils.ts getTypedPropertyValueWithSchema in its source map).
 */

type MedplumCore = typeof import('@medplum/core');
type TypeSchema = ReturnType<MedplumCore['getDataType']>;
type SchemaElement = TypeSchema['elements'][string];
type TypedValue = ReturnType<MedplumCore['toTypedValue']>;
type FhirPathAtom = ReturnType<MedplumCore['parseFhirPath']>;

/** Constraint keys medplum's validator never evaluates (skippedConstraintKeys in its validation.ts). */
const SKIPPED_CONSTRAINTS = new Set(['ele-1', 'dom-3', 'org-1', 'sdf-19']);

interface Invariant {
  key: string;
  expression: string;
  atom: FhirPathAtom | undefined;
  /** Set when parsing failed: medplum reports an error for it, so a value it applies to is never "certainly valid". */
  broken: boolean;
  /** A hand-written proof for a hot invariant: true means the expression certainly evaluates to true. */
  shortcut: Shortcut | undefined;
}

/**
 * Proofs for the invariants evaluated on nearly every resource, keyed by constraint key and the exact expression
 * medplum holds (a changed definition simply falls back to FHIRPath). Each receives a value that has already passed
 * the walk, so every own key is a known element with a valid, non-empty value or an empty one medplum reads as absent,
 * and a choice element has at most one key. `present` is FHIRPath's exists() on such a value. They only ever prove
 * "true"; when one cannot, the expression is evaluated. validate-fast.test.ts checks every use against evalFhirPathTyped.
 */
type Shortcut = (value: Record<string, unknown>, plan: TypePlan) => boolean;

const present = (obj: Record<string, unknown>, key: string): boolean => {
  const v = obj[key];
  return (
    v !== undefined &&
    v !== null &&
    v !== '' &&
    !(Array.isArray(v) ? v.length === 0 : typeof v === 'object' && Object.keys(v).length === 0)
  );
};
const presentChoice = (obj: Record<string, unknown>, plan: TypePlan, name: string): boolean | undefined => {
  const keys = plan.elements.get(name)?.choiceKeys;
  if (!keys?.length) return undefined;
  return keys.some((k) => present(obj, k));
};

/** The codings of a CodeableConcept the walk has checked (absent or empty: none). */
const codings = (cc: unknown): { system?: unknown; code?: unknown }[] => {
  const list = (cc as { coding?: unknown } | undefined)?.coding;
  return Array.isArray(list) ? (list as { system?: unknown; code?: unknown }[]) : [];
};

const SHORTCUTS: Record<string, Shortcut> = {
  // No contained resources (the walk does not model them), so every `contained...empty()` is true.
  'dom-2|contained.contained.empty()': (v) => !present(v, 'contained'),
  'dom-4|contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()': (v) =>
    !present(v, 'contained'),
  'dom-5|contained.meta.security.empty()': (v) => !present(v, 'contained'),
  'ext-1|extension.exists() != value.exists()': (v, plan) => {
    const value = presentChoice(v, plan, 'value[x]');
    return value !== undefined && present(v, 'extension') !== value;
  },
  'obs-6|dataAbsentReason.empty() or value.empty()': (v, plan) =>
    !present(v, 'dataAbsentReason') || presentChoice(v, plan, 'value[x]') === false,
  'obs-7|value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()': (
    v,
    plan,
  ) => presentChoice(v, plan, 'value[x]') === false || !present(v, 'component'),
  'obs-3|low.exists() or high.exists() or text.exists()': (v) =>
    present(v, 'low') || present(v, 'high') || present(v, 'text'),
  // FHIRPath `=` on strings is exact (fhirPathEquals: xValue === yValue), and a coding without the code never matches.
  "con-4|abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()":
    (v, plan) =>
      presentChoice(v, plan, 'abatement[x]') === false ||
      codings(v.clinicalStatus).some(
        (c) =>
          c.system === 'http://terminology.hl7.org/CodeSystem/condition-clinical' &&
          (c.code === 'resolved' || c.code === 'remission' || c.code === 'inactive'),
      ),
  "con-5|verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()":
    (v) =>
      !present(v, 'clinicalStatus') ||
      !codings(v.verificationStatus).some((c) => c.code === 'entered-in-error'),
};

type JsType = 'string' | 'number' | 'boolean';

/** One way a JSON key can carry an element: the element, and the type the key selects. */
interface KeyPlan {
  element: ElementPlan;
  /** The FHIR type medplum gives the value (getTypedPropertyValueWithSchema's resultType). */
  type: string;
  /** For primitive types: the JS type the value must have; undefined for complex types. */
  jsType: JsType | undefined;
  regex: RegExp | undefined;
  /** Not modelled (Resource-typed, unresolvable type, ambiguous key): any present value means "not sure". */
  unsupported: boolean;
}

interface ElementPlan {
  /** The schema's key for the element, e.g. `value[x]`. */
  name: string;
  min: number;
  max: number;
  isArray: boolean;
  required: boolean;
  /** For choice elements, every key medplum would try, in its order; empty for plain elements. */
  choiceKeys: string[];
  invariants: Invariant[];
  unsupported: boolean;
}

interface TypePlan {
  keys: Map<string, KeyPlan>;
  elements: Map<string, ElementPlan>;
  /** The type's own constraints: medplum evaluates them only at the root (a resource's dom-*, obs-*, ...). */
  rootInvariants: Invariant[];
  rootInvariantsBroken: boolean;
  requiredCount: number;
  /** Some element name collides with an Object.prototype member: medplum would read the inherited value. */
  unsupported: boolean;
}

interface WalkState {
  variables: Record<string, TypedValue> | undefined;
  root: TypedValue;
  resource: Record<string, unknown>;
}

const MAX_STRING = 1024 * 1024;

export interface FastValidator {
  /** True only when medplum's validateResource would report no error for this resource; false means "not sure". */
  isCertainlyValid(resource: unknown): boolean;
}

export interface FastValidatorOptions {
  /**
   * Tests only: called after every use of a hand-written invariant proof with what medplum's FHIRPath evaluation
   * says about the same value (true when it also evaluates to exactly `true`).
   */
  onShortcut?: (constraintKey: string, fhirPathAgrees: boolean) => void;
}

/**
 * The medplum release whose validator rules this module mirrors. Another release may check something this walk does
 * not, so under any other version every answer is "not sure" and medplum validates everything, as before the fast
 * path existed. Upgrading @medplum/core means re-reading its validation.ts, crawler.ts and
 * getTypedPropertyValueWithSchema against this file, then moving this constant.
 */
export const MIRRORED_MEDPLUM_VERSION = '4.5.2';

export function createFastValidator(core: MedplumCore, options: FastValidatorOptions = {}): FastValidator {
  if (!isMirroredVersion(core.MEDPLUM_VERSION)) return { isCertainlyValid: () => false };
  const plans = new WeakMap<TypeSchema, TypePlan>();
  const invariantCache = new Map<string, Invariant>();
  const jsTypes = core.fhirTypeToJsType as Record<string, JsType>;
  const regexes = core.validationRegexes;

  const invariant = (key: string, expression: string): Invariant => {
    let inv = invariantCache.get(`${key}|${expression}`);
    if (!inv) {
      let atom: FhirPathAtom | undefined;
      try {
        atom = core.parseFhirPath(expression);
      } catch {
        atom = undefined;
      }
      inv = {
        key,
        expression,
        atom,
        broken: atom === undefined,
        shortcut: SHORTCUTS[`${key}|${expression}`],
      };
      invariantCache.set(`${key}|${expression}`, inv);
    }
    return inv;
  };

  const invariantsOf = (
    constraints: { key: string; severity: string; expression: string }[] | undefined,
  ): Invariant[] =>
    (constraints ?? [])
      .filter((c) => c.severity === 'error' && !SKIPPED_CONSTRAINTS.has(c.key))
      .map((c) => invariant(c.key, c.expression));

  const keyPlan = (element: ElementPlan, el: SchemaElement, code: string): KeyPlan => {
    // getTypedPropertyValueWithSchema types Element / BackboneElement values by the element's first type.
    const type = code === 'Element' || code === 'BackboneElement' ? el.type[0].code : code;
    if (core.isPrimitiveType(type)) {
      const jsType = jsTypes[type];
      return {
        element,
        type,
        jsType,
        regex: regexes[type],
        unsupported: type === 'undefined' || jsType === undefined,
      };
    }
    const unsupported =
      type === 'Resource' ||
      type === 'DomainResource' ||
      !core.tryGetDataType(type) ||
      core.isResourceType(type);
    return { element, type, jsType: undefined, regex: undefined, unsupported };
  };

  const compile = (schema: TypeSchema): TypePlan => {
    const keys = new Map<string, KeyPlan>();
    const elements = new Map<string, ElementPlan>();
    const ambiguous = new Set<string>();
    const add = (key: string, kp: KeyPlan): void => {
      const seen = keys.get(key);
      if (!seen) keys.set(key, kp);
      // The same type listed twice (e.g. two Reference entries) reads the same key as the same type; first one wins.
      else if (seen.element !== kp.element || seen.type !== kp.type) ambiguous.add(key);
    };
    let requiredCount = 0;
    let unsupported = false;
    const names = Object.keys(schema.elements);
    for (const name of names) {
      const el = schema.elements[name];
      const lastSegment = el.path.substring(el.path.lastIndexOf('.') + 1);
      const isChoice = lastSegment.includes('[x]');
      const plan: ElementPlan = {
        name,
        min: el.min,
        max: el.max,
        isArray: !!el.isArray,
        required: el.min > 0,
        choiceKeys: [],
        invariants: invariantsOf(el.constraints),
        // medplum reads the key from the element's path, not the schema key; when they differ, do not model it.
        unsupported: lastSegment !== name || !!el.fixed || !!el.pattern || !!el.slicing || !el.type?.length,
      };
      if (plan.invariants.some((i) => i.broken)) plan.unsupported = true;
      elements.set(name, plan);
      if (plan.required) requiredCount++;
      if (!el.type?.length) continue;
      if (isChoice) {
        for (const t of el.type) {
          const key = lastSegment.replace('[x]', core.capitalize(t.code));
          plan.choiceKeys.push(key);
          add(key, keyPlan(plan, el, t.code));
        }
      } else {
        // medplum takes the first type whose key holds a value; for a plain element every type reads the same key.
        add(name, keyPlan(plan, el, el.type[0].code));
      }
    }
    for (const key of ambiguous) keys.get(key)!.unsupported = true;
    for (const [key, kp] of keys) {
      if (key in Object.prototype) unsupported = true;
      if (kp.element.choiceKeys.length > 0 && !choiceKeyResolves(key, kp.element, schema))
        kp.unsupported = true;
    }
    const rootInvariants = invariantsOf(schema.constraints);
    return {
      keys,
      elements,
      rootInvariants,
      rootInvariantsBroken: rootInvariants.some((i) => i.broken),
      requiredCount,
      unsupported,
    };
  };

  /**
   * medplum's checkAdditionalProperties accepts a choice key only if isChoiceOfType finds its element: it splits the
   * key before each capital letter and stops at the first prefix p with a `p[x]` element. A key whose first such
   * prefix belongs to another element (or whose prefix also names a plain element) is not modelled.
   */
  const choiceKeyResolves = (key: string, element: ElementPlan, schema: TypeSchema): boolean => {
    const parts = key.split(/(?=[A-Z])/g);
    let test = '';
    for (const part of parts) {
      test += part;
      if (schema.elements[`${test}[x]`]) {
        if (schema.elements[test]) return false;
        return element.name === `${test}[x]` && element.choiceKeys.includes(key);
      }
    }
    return false;
  };

  const planFor = (schema: TypeSchema): TypePlan => {
    let plan = plans.get(schema);
    if (!plan) {
      plan = compile(schema);
      plans.set(schema, plan);
    }
    return plan;
  };

  const variablesOf = (s: WalkState): Record<string, TypedValue> => {
    // isExpressionTrue: %resource is the innermost resource (always the root here: inline resources are not
    // modelled), %rootResource the root typed value, %ucum the UCUM system url.
    s.variables ??= {
      '%ucum': core.toTypedValue(core.UCUM),
      '%resource': core.toTypedValue(s.resource),
      '%rootResource': s.root,
    };
    return s.variables;
  };

  const evaluate = (inv: Invariant, value: TypedValue, s: WalkState): boolean => {
    let result: TypedValue[];
    try {
      result = core.evalFhirPathTyped(inv.atom!, [value], { ...variablesOf(s), '%context': value });
    } catch {
      return false;
    }
    return result.length === 1 && result[0].value === true;
  };

  /** `plan` is the value's own type plan when it is an object the walk has checked, which shortcuts need. */
  const invariantsHold = (
    invariants: Invariant[],
    value: TypedValue,
    plan: TypePlan | undefined,
    s: WalkState,
  ): boolean => {
    for (const inv of invariants) {
      if (plan && inv.shortcut?.(value.value as Record<string, unknown>, plan)) {
        if (options.onShortcut) options.onShortcut(inv.key, evaluate(inv, value, s));
        continue;
      }
      if (!evaluate(inv, value, s)) return false;
    }
    return true;
  };

  const primitiveOk = (kp: KeyPlan, v: unknown): boolean => {
    if (typeof v !== kp.jsType) return false;
    if (kp.jsType === 'string') {
      const str = v as string;
      if (!str.trim() || str.length > MAX_STRING) return false;
      return kp.regex === undefined || kp.regex.exec(str) !== null;
    }
    if (kp.jsType === 'number') {
      const n = v as number;
      if (!Number.isFinite(n)) return false;
      if (
        (kp.type === 'integer' || kp.type === 'positiveInt' || kp.type === 'unsignedInt') &&
        !Number.isInteger(n)
      )
        return false;
      if (kp.type === 'positiveInt' && n <= 0) return false;
      if (kp.type === 'unsignedInt' && n < 0) return false;
    }
    return true;
  };

  const isPlainObject = (v: unknown): v is Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const proto = Object.getPrototypeOf(v) as unknown;
    return proto === Object.prototype || proto === null;
  };

  /** medplum's isEmpty for a present value: '', [] or an object without own keys. */
  const isEmptyValue = (v: unknown): boolean =>
    v === '' || (Array.isArray(v) ? v.length === 0 : isPlainObject(v) && Object.keys(v).length === 0);

  const valueOk = (kp: KeyPlan, v: unknown, s: WalkState): boolean => {
    if (v === undefined || v === null) return false;
    if (kp.jsType !== undefined) {
      if (!primitiveOk(kp, v)) return false;
    } else {
      if (!isPlainObject(v)) return false;
      const schema = core.tryGetDataType(kp.type);
      if (!schema || !walkObject(v, schema, s, false)) return false;
      if (kp.element.invariants.length > 0)
        return invariantsHold(kp.element.invariants, { type: kp.type, value: v }, planFor(schema), s);
      return true;
    }
    return (
      kp.element.invariants.length === 0 ||
      invariantsHold(kp.element.invariants, { type: kp.type, value: v }, undefined, s)
    );
  };

  const walkObject = (
    obj: Record<string, unknown>,
    schema: TypeSchema,
    s: WalkState,
    isRoot: boolean,
  ): boolean => {
    const plan = planFor(schema);
    if (plan.unsupported) return false;
    let required = 0;
    let populated = false;
    for (const key in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, key)) return false;
      if (isRoot && key === 'resourceType') continue;
      const kp = plan.keys.get(key);
      if (kp === undefined || kp.unsupported) return false;
      const el = kp.element;
      const v = obj[key];
      if (v === undefined) {
        // medplum treats an undefined plain property as absent; an undefined choice key may be an additional property.
        if (el.choiceKeys.length > 0) return false;
        continue;
      }
      if (el.unsupported) return false;
      if (el.choiceKeys.length > 0) {
        for (const other of el.choiceKeys) if (other !== key && other in obj) return false;
      } else if (isEmptyValue(v)) {
        // medplum reads an empty string, array or object as absent (isEmpty in getTypedPropertyValueWithSchema); a
        // choice key read so is an additional property, hence plain elements only.
        if (el.required) return false;
        continue;
      }
      populated = true;
      if (Array.isArray(v)) {
        if (!el.isArray || v.length === 0 || v.length < el.min || v.length > el.max) return false;
        for (let i = 0; i < v.length; i++) if (!valueOk(kp, v[i], s)) return false;
      } else {
        if (el.isArray || el.min > 1 || el.max < 1) return false;
        if (!valueOk(kp, v, s)) return false;
      }
      if (el.required) required++;
    }
    return populated && required === plan.requiredCount;
  };

  return {
    isCertainlyValid(resource: unknown): boolean {
      if (!isPlainObject(resource)) return false;
      const resourceType = resource.resourceType;
      if (typeof resourceType !== 'string' || !core.isResourceType(resourceType)) return false;
      const root = core.toTypedValue(resource);
      if (root.type !== resourceType) return false;
      const schema = core.tryGetDataType(resourceType);
      if (!schema) return false;
      const s: WalkState = { variables: undefined, root, resource };
      if (!walkObject(resource, schema, s, true)) return false;
      const plan = planFor(schema);
      if (plan.rootInvariantsBroken) return false;
      return plan.rootInvariants.length === 0 || invariantsHold(plan.rootInvariants, root, plan, s);
    },
  };
}

/** MEDPLUM_VERSION reads `4.5.2-<commit>`. */
function isMirroredVersion(version: string | undefined): boolean {
  return (
    version === MIRRORED_MEDPLUM_VERSION || (version?.startsWith(`${MIRRORED_MEDPLUM_VERSION}-`) ?? false)
  );
}
