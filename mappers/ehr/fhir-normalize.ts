/**
 * FHIR R4 from hospital APIs (search pages, Bundles, Bulk $export NDJSON) -> the same resources normalized: stable ids
 * (Patient from institution + MRN), every reference rewritten to those ids, code systems canonical, UCUM units on
 * quantities, Patient identifiers in the shared systems. One resource (Bundle entry, NDJSON line) is one record.
 * Input JSON is parsed fresh, so resources are normalized in place (no clones).
 */
import { SYSTEM_ALIASES, UCUM, toUcum } from '../tables/index';
import { SSN_SYSTEM, mrnSystem, patientStableId, stableId } from '../ids';
import { readJsonDocuments } from '../json-input';
import { RecordError, RecordSink } from '../sink';
import type { FhirResource, MapContext, MapResult } from '../types';

type Json = Record<string, unknown>;

const SSN_ALIASES = new Set(['http://hl7.org/fhir/sid/us-ssn', SSN_SYSTEM, 'urn:oid:2.16.840.1.113883.4.1']);
const RELATIVE_REF = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/;
const ABSOLUTE_REF = /^https?:\/\/.+\/([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(\/_history\/[^/]+)?$/;

interface Entry {
  resource: unknown;
  location: string;
  fullUrl?: string;
}

/** Map a Bundle / single resource / JSON array / NDJSON buffer. */
export function mapFhir(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  const entries = readEntries(bytes, sink, ctx.firstLine);
  const normalizer = new FhirNormalizer(ctx);
  // First pass: ids for every resource in this input, so in-file references (urn:uuid fullUrls too) resolve exactly.
  // The stable id computed here is handed to normalize, so each resource is hashed once.
  const ids = entries.map((e) => normalizer.register(e.resource, e.fullUrl));
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    sink.record(e.location, () => [normalizer.normalize(e.resource, e.location, ids[i])]);
  }
  return sink.result;
}

/**
 * Record the stable id of every Patient (with an MRN) in one FHIR input in ctx.patientIds, without mapping anything:
 * run over all inputs of a run first, so references in files read before their Patient's file resolve to it.
 * Unreadable lines are skipped here; mapping reports them.
 */
export function indexFhirPatients(
  bytes: Buffer,
  ctx: MapContext & { patientIds: Map<string, string> },
): void {
  if (!bytes.includes('"Patient"')) return;
  const normalizer = new FhirNormalizer(ctx);
  for (const e of readEntries(bytes, new RecordSink(ctx), ctx.firstLine)) {
    const r = e.resource as Json | null;
    if (r && r.resourceType === 'Patient' && typeof r.id === 'string' && r.id)
      normalizer.register(r, undefined);
  }
}

function readEntries(bytes: Buffer, sink: RecordSink, firstLine?: number): Entry[] {
  return readJsonDocuments(bytes, sink, { firstLine }).flatMap((d) => entriesOf(d.value, d.location));
}

function entriesOf(doc: unknown, path: string): Entry[] {
  if (Array.isArray(doc)) return doc.flatMap((d, i) => entriesOf(d, `${path}[${i}]`));
  const d = doc as Json | null;
  if (d && d.resourceType === 'Bundle' && Array.isArray(d.entry)) {
    return (d.entry as Json[]).map((e, i) => ({
      resource: e?.resource,
      location: `${path === '$' ? '' : `${path}:`}Bundle.entry[${i}]`,
      fullUrl: typeof e?.fullUrl === 'string' ? e.fullUrl : undefined,
    }));
  }
  return [{ resource: doc, location: path }];
}

function mrnOf(patient: Json): string | undefined {
  const ids = patient.identifier;
  if (!Array.isArray(ids)) return undefined;
  for (const id of ids as Json[]) {
    const codings = ((id?.type as Json | undefined)?.coding as Json[] | undefined) ?? [];
    if (codings.some((c) => c?.code === 'MR') && typeof id.value === 'string' && id.value) return id.value;
  }
  return undefined;
}

export class FhirNormalizer {
  /** "Type/sourceId" and fullUrl -> "Type/stableId". */
  private readonly refs = new Map<string, string>();

  constructor(private readonly ctx: MapContext) {}

  private stableIdFor(type: string, sourceId: string, resource?: Json): string {
    if (type === 'Patient') {
      const mrn = resource ? mrnOf(resource) : undefined;
      if (mrn === undefined) {
        const indexed = this.ctx.patientIds?.get(sourceId);
        if (indexed) return indexed;
      }
      const id = patientStableId(this.ctx.institution, mrn ?? sourceId);
      if (mrn !== undefined) this.ctx.patientIds?.set(sourceId, id);
      return id;
    }
    return stableId(this.ctx.institution, type, sourceId);
  }

  /** Record a resource's stable id for reference rewriting; returns that id (undefined when it has no string id). */
  register(resource: unknown, fullUrl: string | undefined): string | undefined {
    const r = resource as Json | null;
    if (!r || typeof r.resourceType !== 'string' || typeof r.id !== 'string') return undefined;
    const id = this.stableIdFor(r.resourceType, r.id, r);
    const target = `${r.resourceType}/${id}`;
    this.refs.set(`${r.resourceType}/${r.id}`, target);
    if (fullUrl) this.refs.set(fullUrl, target);
    return id;
  }

  /** `registeredId` is what register() returned for this same, unmodified resource. */
  normalize(resource: unknown, location: string, registeredId?: string): FhirResource {
    const r = resource as Json | null;
    if (!r || typeof r !== 'object' || Array.isArray(r))
      throw new RecordError('entry is not a JSON object', location, 'structure');
    if (typeof r.resourceType !== 'string')
      throw new RecordError('resourceType is missing or not a string', 'resourceType', 'required');
    if (r.resourceType === 'OperationOutcome')
      throw new RecordError('entry is a server OperationOutcome, not data', 'resourceType', 'not-supported');
    const type = r.resourceType;
    const sourceId = typeof r.id === 'string' && r.id ? r.id : `${this.ctx.sourceFile}#${location}`;
    r.id =
      registeredId !== undefined && typeof r.id === 'string' && r.id
        ? registeredId
        : this.stableIdFor(type, sourceId, r);
    if (type === 'Patient') this.normalizePatient(r);
    this.walk(r, 'root');
    return r as FhirResource;
  }

  private normalizePatient(p: Json): void {
    const ids = (Array.isArray(p.identifier) ? p.identifier : []) as Json[];
    for (const id of ids)
      if (typeof id.system === 'string' && SSN_ALIASES.has(id.system)) id.system = SSN_SYSTEM;
    const mrn = mrnOf(p);
    const system = mrnSystem(this.ctx.institution);
    if (mrn && !ids.some((i) => i.system === system)) {
      ids.push({
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
        system,
        value: mrn,
      });
    }
    p.identifier = ids;
  }

  /** One pass over the tree: references, coding systems, quantities. */
  private walk(node: unknown, key: string): void {
    if (Array.isArray(node)) {
      for (const item of node) this.walk(item, key);
      return;
    }
    if (!node || typeof node !== 'object') return;
    const o = node as Json;
    if (typeof o.reference === 'string') o.reference = this.rewriteReference(o.reference);
    if (typeof o.system === 'string' && typeof o.code === 'string') {
      const canonical = SYSTEM_ALIASES.get(o.system);
      if (canonical) o.system = canonical;
    }
    if (typeof o.value === 'number' && typeof o.unit === 'string' && o.code === undefined && key !== 'root') {
      const code = toUcum(o.unit);
      if (code) {
        o.system = UCUM;
        o.code = code;
      }
    }
    for (const k in o) {
      if (k === 'div' || k === 'reference') continue;
      const v = o[k];
      if (v && typeof v === 'object') this.walk(v, k);
    }
  }

  /** References to resources outside this input, rewritten once each (they repeat on every resource of a patient). */
  private readonly external = new Map<string, string>();

  private rewriteReference(ref: string): string {
    const known = this.refs.get(ref) ?? this.external.get(ref);
    if (known) return known;
    const m = RELATIVE_REF.exec(ref) ?? ABSOLUTE_REF.exec(ref);
    // Conditional references (Type?identifier=...) and contained (#id) stay as they are: they carry no server id.
    const rewritten = m ? `${m[1]}/${this.stableIdFor(m[1], m[2])}` : ref;
    if (this.external.size > 100_000) this.external.clear();
    this.external.set(ref, rewritten);
    return rewritten;
  }
}
