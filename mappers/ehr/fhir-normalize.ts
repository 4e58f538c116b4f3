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
  const entries = readEntries(bytes, sink);
  const normalizer = new FhirNormalizer(ctx);
  // First pass: ids for every resource in this input, so in-file references (urn:uuid fullUrls too) resolve exactly.
  for (const e of entries) normalizer.register(e.resource, e.fullUrl);
  for (const e of entries) {
    sink.record(e.location, () => [normalizer.normalize(e.resource, e.location)]);
  }
  return sink.result;
}

function readEntries(bytes: Buffer, sink: RecordSink): Entry[] {
  return readJsonDocuments(bytes, sink).flatMap((d) => entriesOf(d.value, d.location));
}

function entriesOf(doc: unknown, path: string): Entry[] {
  if (Array.isArray(doc)) return doc.flatMap((d, i) => entriesOf(d, `${path}[${i}]`));
  const d = doc as Json | null;
  if (d && d.resourceType === 'Bundle' && Array.isArray(d.entry)) {
    return (d.entry as Json[]).map((e, i) => ({ resource: e?.resource, location: `${path === '$' ? '' : `${path}:`}Bundle.entry[${i}]`, fullUrl: typeof e?.fullUrl === 'string' ? e.fullUrl : undefined }));
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
      return patientStableId(this.ctx.institution, mrn ?? sourceId);
    }
    return stableId(this.ctx.institution, type, sourceId);
  }

  register(resource: unknown, fullUrl: string | undefined): void {
    const r = resource as Json | null;
    if (!r || typeof r.resourceType !== 'string' || typeof r.id !== 'string') return;
    const target = `${r.resourceType}/${this.stableIdFor(r.resourceType, r.id, r)}`;
    this.refs.set(`${r.resourceType}/${r.id}`, target);
    if (fullUrl) this.refs.set(fullUrl, target);
  }

  normalize(resource: unknown, location: string): FhirResource {
    const r = resource as Json | null;
    if (!r || typeof r !== 'object' || Array.isArray(r)) throw new RecordError('entry is not a JSON object', location, 'structure');
    if (typeof r.resourceType !== 'string') throw new RecordError('resourceType is missing or not a string', 'resourceType', 'required');
    if (r.resourceType === 'OperationOutcome') throw new RecordError('entry is a server OperationOutcome, not data', 'resourceType', 'not-supported');
    const type = r.resourceType;
    const sourceId = typeof r.id === 'string' && r.id ? r.id : `${this.ctx.sourceFile}#${location}`;
    r.id = this.stableIdFor(type, sourceId, r);
    if (type === 'Patient') this.normalizePatient(r);
    this.walk(r, 'root');
    return r as FhirResource;
  }

  private normalizePatient(p: Json): void {
    const ids = (Array.isArray(p.identifier) ? p.identifier : []) as Json[];
    for (const id of ids) if (typeof id.system === 'string' && SSN_ALIASES.has(id.system)) id.system = SSN_SYSTEM;
    const mrn = mrnOf(p);
    const system = mrnSystem(this.ctx.institution);
    if (mrn && !ids.some((i) => i.system === system)) {
      ids.push({ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system, value: mrn });
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

  private rewriteReference(ref: string): string {
    const known = this.refs.get(ref);
    if (known) return known;
    const m = RELATIVE_REF.exec(ref) ?? ABSOLUTE_REF.exec(ref);
    if (m) return `${m[1]}/${this.stableIdFor(m[1], m[2])}`;
    // Conditional references (Type?identifier=...) and contained (#id) stay as they are: they carry no server id.
    return ref;
  }
}
