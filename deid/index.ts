import type { FhirResource } from '../mappers/types';
import { TributaryError, toError } from '../platform/errors';
import { PSEUDONYM_SYSTEM, type KeyService } from './key-service';
import { compilePolicy, loadProfile, type CompiledPolicy, type Policy } from './policy';
import { FhirWalker, RuleMatcher, type PatientLinkage, type ResourceContext } from './fhir-deid';
import {
  collectIdentifiers,
  literalForms,
  NO_STRINGS,
  pushIdentifier,
  scanResidualPhi,
  unshiftedMonthDays,
} from './residual-phi';
import { refuseAsReferenceData } from './reference-data';
import { SAFE_HARBOR_TOP_AGE } from './ages';
import { assessKAnonymity, createRiskTally, type QuasiIdentifier, type RiskTally } from './risk';
import { isValidResidentId, normalizeForMatch } from './identifiers';
import type { DeidReport, Finding, ProfileName, QuarantineEntry, SourceIdentifier } from './types';

/**
 * The de-identification engine: a compiled policy, the key service, and the residual-PHI gate. One batch in, every
 * resource comes out de-identified or quarantined with a rule, a JSON path and a value-free reason.
 */
export type { DeidReport, Finding, ProfileName, QuarantineEntry, SourceIdentifier, FhirResource };
export type { ScrubTextContext, ScrubTextResult, TextFinding, KAnonymityReport } from './types';
export type { Policy, PolicyRule } from './policy';
export {
  policySchema,
  parsePolicy,
  readPolicyFile,
  loadProfile,
  compilePolicy,
  profileNames,
} from './policy';
export { scrubText, detectPhi } from './text-scrubber';
export { collectIdentifiers, scanResidualPhi } from './residual-phi';
import { clearGateCaches } from './residual-phi';
import { clearTextScrubberCaches } from './text-scrubber';

/**
 * Forget the per-process caches of short strings' detector and gate-pattern results (they depend on the text only
 * and stay valid for the life of the process; benchmarks clear them to measure a cold start).
 */
export function clearDeidCaches(): void {
  clearTextScrubberCaches();
  clearGateCaches();
}
export { assessKAnonymity } from './risk';
export {
  isValidResidentId,
  residentIdCheckChar,
  isLuhnValid,
  isValidUsSsn,
  isCnMobile,
  foldWidth,
  normalizeForMatch,
} from './identifiers';
export { createKeyService, loadDeidKey, PSEUDONYM_SYSTEM, pseudonymOf, type KeyService } from './key-service';

export const NATIONAL_ID_SYSTEMS = new Set([
  'urn:oid:2.16.840.1.113883.4.1',
  'http://hl7.org/fhir/sid/us-ssn',
  'urn:tributary:cn-resident-id',
]);

/**
 * literalForms of a resource's own identifier values: what collectIdentifiers(raw) yields of type 'identifier' (the
 * same trimming, length floor and first-seen order), without collecting names and addresses only to drop them.
 */
function ownIdentifierLiterals(raw: FhirResource): string[] {
  const ids = raw.identifier;
  if (ids === undefined || ids === null) return NO_STRINGS;
  const own: SourceIdentifier[] = [];
  for (const id of Array.isArray(ids) ? ids : [ids])
    pushIdentifier(own, 'identifier', (id as { value?: unknown })?.value);
  if (!own.length) return NO_STRINGS;
  const values: string[] = [];
  const seen = new Set<string>();
  for (const i of own) {
    if (seen.has(i.value)) continue;
    seen.add(i.value);
    values.push(i.value);
  }
  return literalForms(values);
}

/** Shared so that per-identifier-set caches (compiled patterns, clean strings) serve every patient-less resource. */
const NO_PATIENT: SourceIdentifier[] = [];
const SECURITY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue';
const PATIENT_REF_KEYS = ['subject', 'patient', 'beneficiary'];

export interface DeidEngineOptions {
  profile: ProfileName;
  /** A custom policy (from a file); when given it replaces the profile (use `extends` to build on one). */
  policy?: Policy;
  keyService: KeyService;
  /** "Today" for ages (90+); defaults to now. */
  referenceDate?: Date;
}

export interface DeidBatchContext {
  institution: string;
  /** Linkage keys of patients seen in earlier batches, by reference (`Patient/<id>`). */
  linkageFor?: (patientRef: string) => string | undefined;
  /** Raw Patients seen in earlier batches, so the gate can check their names and IDs too. */
  patientFor?: (patientRef: string) => FhirResource | undefined;
}

export interface DeidBatchResult {
  outputs: FhirResource[];
  quarantined: QuarantineEntry[];
  report: DeidReport;
  /** One Provenance for the batch's outputs: policy, version and key id. Not counted in `outputs`. */
  provenance?: FhirResource;
}

export interface DeidEngine {
  readonly policy: Policy;
  deidentifyResources(resources: FhirResource[], ctx: DeidBatchContext): DeidBatchResult;
  /** Patient linkage key from a raw Patient: normalized national ID, else institution + MRN, else institution + id. */
  linkageOf(patient: FhirResource, institution: string): string;
  /** k-anonymity over the de-identified Patients of a release (suppression per the policy's risk settings). */
  assessRisk(
    patients: FhirResource[],
    options?: { k?: number; suppress?: boolean },
  ): NonNullable<DeidReport['risk']>;
  /** The same assessment for a release seen one Patient at a time (its k and quasi-identifiers are the policy's). */
  riskTally(): RiskTally;
  /** Whether the policy asks for suppression of Patients in classes below k. */
  readonly suppressesRisk: boolean;
}

interface IdentifierLike {
  system?: unknown;
  value?: unknown;
  type?: { coding?: { code?: unknown }[] };
}

/** National ID and MRN of a raw Patient, as the mappers write them. */
export function linkageSubjectOf(
  patient: FhirResource,
  institution: string,
): { nationalId?: string; mrn?: string } {
  let nationalId: string | undefined;
  let mrn: string | undefined;
  const ids = Array.isArray(patient.identifier) ? (patient.identifier as IdentifierLike[]) : [];
  const mrnSystem = `urn:tributary:${institution}:mrn`;
  for (const id of ids) {
    if (!id || typeof id.value !== 'string' || !id.value.trim()) continue;
    const system = typeof id.system === 'string' ? id.system : '';
    const codes = id.type?.coding?.map((c) => c.code) ?? [];
    // The shared systems first; a v2 NI/SS-typed identifier or a checksum-valid resident ID also links.
    if (NATIONAL_ID_SYSTEMS.has(system)) nationalId = id.value;
    else if (!nationalId && (codes.includes('NI') || codes.includes('SS') || isValidResidentId(id.value)))
      nationalId = id.value;
    else if (system === mrnSystem) mrn = id.value;
    else if (!mrn && codes.includes('MR')) mrn = id.value;
  }
  return { nationalId, mrn };
}

function patientRefOf(resource: FhirResource): string | undefined {
  if (resource.resourceType === 'Patient')
    return typeof resource.id === 'string' ? `Patient/${resource.id}` : undefined;
  for (let i = 0; i < PATIENT_REF_KEYS.length; i++) {
    const v = resource[PATIENT_REF_KEYS[i]] as { reference?: unknown } | undefined;
    if (v && typeof v.reference === 'string') {
      const ref = v.reference;
      if (ref.startsWith('Patient/')) return withoutHistory(ref);
      if (ref.startsWith('urn:uuid:')) return ref;
    }
  }
  return undefined;
}

/** `ref` up to its first `/_history` (ref.split('/_history')[0], without the array). */
function withoutHistory(ref: string): string {
  const i = ref.indexOf('/_history');
  return i < 0 ? ref : ref.slice(0, i);
}

/** Index of a quarantined input (its last occurrence, should the same object appear twice); looked up only then. */
function positionOf(resources: readonly unknown[], r: unknown): number | undefined {
  for (let i = resources.length - 1; i >= 0; i--)
    if (resources[i] === r || (resources[i] !== resources[i] && r !== r)) return i;
  return undefined;
}

function shapeProblem(r: unknown): { path: string; reason: string } | undefined {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return { path: '(root)', reason: 'not a JSON object' };
  const rt = (r as { resourceType?: unknown }).resourceType;
  if (typeof rt !== 'string' || !/^[A-Z][A-Za-z]{1,63}$/.test(rt))
    return { path: 'resourceType', reason: 'missing or not a FHIR resource type' };
  const id = (r as { id?: unknown }).id;
  if (id !== undefined && (typeof id !== 'string' || !/^[A-Za-z0-9\-.]{1,64}$/.test(id)))
    return { path: 'id', reason: 'not a FHIR id' };
  if (rt === 'Bundle')
    return { path: 'resourceType', reason: 'Bundle: split it into its entry resources first' };
  return undefined;
}

/** Patients by the reference forms other resources use for them (see indexPatient). */
type PatientIndex = Map<string, { linkage: string; raw: FhirResource }>;

/** Index a Patient's entry under both forms other resources refer to it by: `Patient/<id>` and `urn:uuid:<id>`. */
export function indexPatient<E>(index: Map<string, E>, id: string, entry: E): void {
  index.set(`Patient/${id}`, entry);
  index.set(`urn:uuid:${id}`, entry);
}

/** What an engine holds for all its batches. */
interface EngineSetup {
  keys: KeyService;
  walker: FhirWalker;
  referenceDate: Date;
  allowTypes: readonly string[];
  /** A policy that keeps dates in text (limited data set, reference data) has no unshifted dates to look for. */
  checkTextDates: boolean;
  restrictedZip3: ReadonlySet<string>;
  textMode: 'surrogate' | 'tag';
  locale?: 'en' | 'zh';
  textKeepTypes?: readonly string[];
  ageBandYears: number;
  topAge: number;
  /** A reference-data policy: product and plan descriptions only (see deid/reference-data.ts). */
  referenceData: boolean;
}

/**
 * A patient's identifiers as the gate reads them: those it must not find, and those the policy lets stand
 * (allowTypes), normalized.
 */
interface PatientIdentifiers {
  identifiers: SourceIdentifier[];
  allowed: readonly string[];
}

/** What the resources of one batch share. */
interface BatchState {
  ctx: DeidBatchContext;
  batchPatients: PatientIndex;
  patients: BatchPatients;
  identifierCache: Map<string, PatientIdentifiers>;
  referenceCache: Map<string, string>;
  counts: Map<string, number>;
  textFindings: Map<string, number>;
  quarantine: (r: unknown, rule: string, path: string, reason: string, findings?: Finding[]) => void;
  outputs: FhirResource[];
}

/** Linkage keys of the batch's Patients, else of those linkageFor knows (references up to any `/_history`). */
class BatchPatients implements PatientLinkage {
  constructor(
    private readonly inBatch: PatientIndex,
    private readonly ctx: DeidBatchContext,
  ) {}

  linkageOf(ref: string): string | undefined {
    const key = withoutHistory(ref);
    return this.inBatch.get(key)?.linkage ?? this.ctx.linkageFor?.(key);
  }
}

/**
 * A batch input that is a FHIR resource goes to `valid` (a Patient's linkage also to the batch's Patient index),
 * anything else to quarantine. Its own function, like deidentifyOne, so that it is optimized during the first batch.
 */
function admit(r: FhirResource, e: EngineSetup, b: BatchState, valid: FhirResource[]): void {
  const problem = shapeProblem(r);
  if (problem) {
    b.quarantine(r, 'input.malformed', problem.path, problem.reason);
    return;
  }
  valid.push(r);
  if (r.resourceType === 'Patient' && typeof r.id === 'string') {
    try {
      indexPatient(b.batchPatients, r.id, { linkage: linkageWith(e.keys, r, b.ctx.institution), raw: r });
    } catch {
      // reported when the Patient itself is processed
    }
  }
}

/**
 * The batch loops live in functions of their own, so that the once-per-batch function holds no loop: V8 optimizes
 * these small loops early and cheaply, where it compiled the whole batch function (and everything it could inline)
 * after a few batches, at the cost of a batch's worth of CPU.
 */
function admitAll(resources: FhirResource[], e: EngineSetup, b: BatchState, valid: FhirResource[]): void {
  for (let i = 0; i < resources.length; i++) admit(resources[i], e, b, valid);
}

function deidentifyAll(valid: FhirResource[], setup: EngineSetup, batch: BatchState): void {
  for (let i = 0; i < valid.length; i++) deidentifyOne(valid[i], setup, batch);
}

function linkageWith(keys: KeyService, patient: FhirResource, institution: string): string {
  const s = linkageSubjectOf(patient, institution);
  if (!s.nationalId && !s.mrn) {
    if (typeof patient.id !== 'string') {
      throw new TributaryError('Patient has no national ID, MRN or id to link on', {
        code: 'required',
        location: 'Patient.identifier',
        nonRetryable: true,
      });
    }
    return keys.linkageKey({ institution, mrn: `id-${patient.id}` });
  }
  return keys.linkageKey({ institution, nationalId: s.nationalId, mrn: s.mrn });
}

/**
 * One resource of a batch: its output goes to `b.outputs`, or it is quarantined. A function of its own rather than
 * the body of the batch loop: called once per resource, V8 optimizes it within the first batch, where a loop inside
 * the once-per-batch function was only compiled (on stack, at length) after several batches.
 */
function deidentifyOne(raw: FhirResource, e: EngineSetup, b: BatchState): void {
  if (e.referenceData) {
    const refusal = refuseAsReferenceData(raw);
    if (refusal) {
      b.quarantine(raw, refusal.rule, refusal.path, refusal.reason);
      return;
    }
  }
  const ref = patientRefOf(raw);
  let linkage: string | undefined;
  let patient: FhirResource | undefined;
  if (raw.resourceType === 'Patient') {
    try {
      linkage = linkageWith(e.keys, raw, b.ctx.institution);
    } catch (x) {
      const err = toError(x);
      b.quarantine(
        raw,
        'link.unlinkable-patient',
        err instanceof TributaryError ? (err.location ?? 'Patient') : 'Patient',
        err.message,
      );
      return;
    }
    patient = raw;
  } else if (ref) {
    linkage = b.patients.linkageOf(ref);
    patient = b.batchPatients.get(ref)?.raw ?? b.ctx.patientFor?.(ref);
    if (!linkage) {
      b.quarantine(
        raw,
        'link.unresolved-patient',
        'subject',
        'references a Patient that is neither in this batch nor known to linkageFor',
      );
      return;
    }
  }
  // Patient-level identifiers compile once per patient; the resource's own identifiers are matched literally.
  let patientIds = ref ? b.identifierCache.get(ref) : undefined;
  if (!patientIds || raw === patient) {
    const all = patient ? collectIdentifiers(patient) : NO_PATIENT;
    patientIds = {
      identifiers: all.filter((i) => !e.allowTypes.includes(i.type)),
      allowed: e.allowTypes.length
        ? all.filter((i) => e.allowTypes.includes(i.type)).map((i) => normalizeForMatch(i.value))
        : NO_STRINGS,
    };
    if (ref) b.identifierCache.set(ref, patientIds);
  }
  const { identifiers, allowed } = patientIds;
  // A product's own identifiers (NDC, set id) are printed in its label: public, and kept there.
  const literals = raw === patient || e.referenceData ? NO_STRINGS : ownIdentifierLiterals(raw);
  const rctx: ResourceContext = {
    keyService: e.keys,
    institution: b.ctx.institution,
    linkage,
    offset: e.keys.dateOffsetDays(linkage ?? `institution:${b.ctx.institution}`),
    identifierValues: identifiers,
    literalIdentifiers: literals,
    patients: b.patients,
    referenceCache: b.referenceCache,
    referenceDate: e.referenceDate,
    textMode: e.textMode,
    locale: e.locale,
    textKeepTypes: e.textKeepTypes,
    restrictedZip3: e.restrictedZip3,
    ageBandYears: e.ageBandYears,
    topAge: e.topAge,
    counts: b.counts,
    textFindings: b.textFindings,
    changed: { pseudonymized: false, redacted: false, masked: false },
    inContained: false,
  };
  let out: FhirResource;
  try {
    out = e.walker.walkResource(raw, rctx);
  } catch (x) {
    const err = toError(x);
    const te = err instanceof TributaryError ? err : undefined;
    // Our own messages are value-free; anything else is reduced to its type so no input leaks through it.
    b.quarantine(
      raw,
      'engine.error',
      te?.location ?? raw.resourceType,
      te ? err.message : `unexpected ${err.name}`,
    );
    return;
  }
  if (raw === patient && linkage) addPseudonymIdentifier(out, e.keys.pseudonym(linkage));
  const findings = scanResidualPhi(out, identifiers, {
    literals,
    unshiftedDates: e.checkTextDates ? () => unshiftedMonthDays(raw, rctx.offset) : undefined,
    topAge: e.allowTypes.includes('age-over-89') ? undefined : e.topAge,
    referenceDate: e.referenceDate,
    patterns: !e.referenceData,
    allowed,
  });
  if (findings.length) {
    b.quarantine(
      raw,
      findings[0].rule,
      findings[0].path,
      `residual PHI after de-identification (${findings.length} finding(s))`,
      findings,
    );
    return;
  }
  labelSecurity(out, rctx.changed);
  b.outputs.push(out);
}

/** A policy's k-anonymity settings: its k (default 5) and quasi-identifiers (default age band, sex, region). */
function riskSettingsOf(policy: Policy): { k: number; quasiIdentifiers: QuasiIdentifier[] } {
  return {
    k: policy.risk?.k ?? 5,
    quasiIdentifiers: (policy.risk?.quasiIdentifiers ?? ['age-band', 'sex', 'region']) as QuasiIdentifier[],
  };
}

/**
 * A k-anonymity tally with a profile's (or policy file's) settings, for assessing a release without
 * de-identifying it (`tributary deid risk`): no key is needed to count classes.
 */
export function createReleaseRiskTally(options: {
  profile: ProfileName;
  policy?: Policy;
  k?: number;
  referenceDate?: Date;
}): RiskTally {
  const policy = options.policy ?? loadProfile(options.profile);
  const merged = compilePolicy(
    policy,
    options.policy ? `policy ${policy.name}` : `profile ${options.profile}`,
  ).policy;
  const settings = riskSettingsOf(merged);
  return createRiskTally({ ...settings, k: options.k ?? settings.k, referenceDate: options.referenceDate });
}

export function createDeidEngine(options: DeidEngineOptions): DeidEngine {
  const policy = options.policy ?? loadProfile(options.profile);
  const compiled: CompiledPolicy = compilePolicy(
    policy,
    options.policy ? `policy ${policy.name}` : `profile ${options.profile}`,
  );
  const merged = compiled.policy;
  const walker = new FhirWalker(new RuleMatcher(compiled), { scrubKeptText: merged.referenceData !== true });
  const keys = options.keyService;
  const referenceDate = options.referenceDate ?? new Date();
  const allowTypes = merged.gate?.allowTypes ?? [];
  // A policy that keeps dates in text (limited data set, reference data) has no unshifted dates to look for.
  const checkTextDates = !(merged.text?.keepTypes ?? []).includes('date') && merged.referenceData !== true;
  const restrictedZip3 = new Set(merged.generalize?.restrictedZip3 ?? []);

  const { k: riskK, quasiIdentifiers } = riskSettingsOf(merged);

  const linkageOf = (patient: FhirResource, institution: string): string =>
    linkageWith(keys, patient, institution);
  const setup: EngineSetup = {
    keys,
    walker,
    referenceDate,
    allowTypes,
    checkTextDates,
    restrictedZip3,
    textMode: merged.text?.mode ?? 'surrogate',
    locale: merged.text?.locale,
    textKeepTypes: merged.text?.keepTypes,
    ageBandYears: merged.generalize?.ageBandYears ?? 5,
    topAge: merged.generalize?.topAge ?? SAFE_HARBOR_TOP_AGE,
    referenceData: merged.referenceData === true,
  };

  function deidentifyResources(resources: FhirResource[], ctx: DeidBatchContext): DeidBatchResult {
    const counts = new Map<string, number>();
    const textFindings = new Map<string, number>();
    const outputs: FhirResource[] = [];
    const quarantined: QuarantineEntry[] = [];
    const batchPatients: PatientIndex = new Map();
    const quarantine = (r: unknown, rule: string, path: string, reason: string, findings?: Finding[]) => {
      const o = (r && typeof r === 'object' ? r : {}) as { resourceType?: unknown; id?: unknown };
      quarantined.push({
        index: positionOf(resources, r),
        resourceType:
          typeof o.resourceType === 'string' && /^[A-Z][A-Za-z]{1,63}$/.test(o.resourceType)
            ? o.resourceType
            : '(unknown)',
        ...(typeof o.id === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(o.id) ? { id: o.id } : {}),
        rule,
        path,
        reason,
        ...(findings ? { findings } : {}),
      });
    };

    const batch: BatchState = {
      ctx,
      batchPatients,
      patients: new BatchPatients(batchPatients, ctx),
      identifierCache: new Map<string, PatientIdentifiers>(),
      referenceCache: new Map<string, string>(),
      counts,
      textFindings,
      quarantine,
      outputs,
    };
    // Every Patient of the batch is indexed before any resource is de-identified: references may come first.
    const valid: FhirResource[] = [];
    admitAll(resources, setup, batch, valid);
    deidentifyAll(valid, setup, batch);

    const ruleCounts: Record<string, number> = {};
    for (const [k, v] of counts) ruleCounts[k] = v;
    const tf: Record<string, number> = {};
    for (const [k, v] of textFindings) tf[k] = v;
    const report: DeidReport = {
      profile: options.profile,
      policyName: merged.name,
      policyVersion: merged.version,
      keyId: keys.keyId,
      resourcesIn: resources.length,
      resourcesOut: outputs.length,
      quarantined: quarantined.length,
      ruleCounts,
      textFindings: tf,
    };
    return {
      outputs,
      quarantined,
      report,
      provenance: outputs.length ? provenanceFor(outputs, merged, keys) : undefined,
    };
  }

  return {
    policy: merged,
    deidentifyResources,
    linkageOf,
    assessRisk(patients, o = {}) {
      return assessKAnonymity(patients, {
        k: o.k ?? riskK,
        quasiIdentifiers,
        suppress: o.suppress ?? merged.risk?.suppress ?? false,
        referenceDate,
      });
    },
    riskTally: () => createRiskTally({ k: riskK, quasiIdentifiers, referenceDate }),
    suppressesRisk: merged.risk?.suppress ?? false,
  };
}

/** The person's pseudonym as an identifier of their Patient (its id is the institution's; see KeyService.patientId). */
function addPseudonymIdentifier(out: FhirResource, pseudonym: string): void {
  const identifier = { system: PSEUDONYM_SYSTEM, value: pseudonym };
  out.identifier = Array.isArray(out.identifier)
    ? [...(out.identifier as unknown[]), identifier]
    : [identifier];
}

function labelSecurity(
  out: FhirResource,
  changed: { pseudonymized: boolean; redacted: boolean; masked: boolean },
): void {
  const meta = (out.meta && typeof out.meta === 'object' ? out.meta : {}) as Record<string, unknown>;
  const security = Array.isArray(meta.security) ? [...(meta.security as unknown[])] : [];
  if (changed.pseudonymized)
    security.push({ system: SECURITY_SYSTEM, code: 'PSEUDED', display: 'pseudonymized' });
  if (changed.redacted) security.push({ system: SECURITY_SYSTEM, code: 'REDACTED', display: 'redacted' });
  if (changed.masked) security.push({ system: SECURITY_SYSTEM, code: 'MASKED', display: 'masked' });
  meta.security = security;
  out.meta = meta;
}

function provenanceFor(outputs: FhirResource[], policy: Policy, keys: KeyService): FhirResource {
  const targets = outputs.map((o) => ({ reference: `${o.resourceType}/${o.id ?? ''}` }));
  return {
    resourceType: 'Provenance',
    id: keys.hash('provenance', targets.map((t) => t.reference).join('|')).slice(0, 16),
    target: targets,
    recorded: new Date().toISOString(),
    policy: [`urn:tributary:deid-policy:${policy.name}|${policy.version}`],
    activity: {
      coding: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
          code: 'PSEUDED',
          display: 'pseudonymized',
        },
      ],
      text: 'de-identification',
    },
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
              code: 'assembler',
            },
          ],
        },
        who: { display: 'Tributary de-identification engine' },
      },
    ],
    extension: [
      { url: 'urn:tributary:deid-policy-version', valueString: policy.version },
      { url: 'urn:tributary:deid-key-id', valueString: keys.keyId },
    ],
  };
}
