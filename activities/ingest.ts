import fs from 'node:fs';
import path from 'node:path';
// Lets timers and I/O callbacks run between slices of work: the Temporal worker's workflow tasks share this event loop.
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { patientStableId } from '../mappers/ids';
import { loadHisMapping } from '../synth/ehr-his';
import type { FhirResource } from '../mappers/types';
import { NotSupportedError, TributaryError } from '../platform/errors';
import { writeFileAtomic } from '../platform/files';
import { log } from '../platform/log';
import type { DicomSummary } from '../schemas/dicom-summary';
import type { SourceCounts } from '../schemas/ingest';
import type { Institution, InstitutionRegistry, SourceKind } from '../schemas/institution';
import type { WorkItemPreview } from '../schemas/work-item';
import { heartbeat, withFailureBoundary } from './boundary';
import type { Connectors } from './connectors';
import { packPage, unpackPage } from './pack';
import { deriveStagingKey, digestOf, getJson, putJson, type BlobStore } from './staging';
import type { StepLibrary } from './steps';
import { assessReleaseRisk, writeBulkManifest, type ReleaseRisk } from './publish';
import { createPatientIndex } from './patient-index';
import { prunePreviews, writeStudyPreviews, type PrunePreviewsResult } from './previews';

/**
 * The ingestion activities: thin I/O wrappers that read a staging key, run one library step, write the result
 * under a key derived from the input, and return that key with counts. A retry rewrites the same objects.
 */

export interface IngestDeps {
  store: BlobStore;
  /** Bulk-format output root: `<outputRoot>/<runId>/...`. */
  outputRoot: string;
  /** Where imaging work items' previews are written (the annotation server's preview root); none without it. */
  previewRoot?: string;
  registry: InstitutionRegistry;
  connectors: Connectors;
  steps: StepLibrary;
  /** Every preview ref of every stored work item (QueueStore.previewRefs); undefined without a queue store. */
  previewRefs?: () => Promise<ReadonlySet<string>>;
  /** Sends verified work items to the annotation queues; undefined when routing is not available. */
  route?: (
    items: RoutableResource[],
    ctx: { institution: string; source: SourceKind; receivedAt?: string },
  ) => Promise<{ routed: number; updated: number; conflicts: number }>;
  /** Optional outbound sinks. */
  /** De-identified resources to a FHIR server (activities/fhir-publish.ts: bundles of PUTs within its limits). */
  postToFhirServer?: (fhirServerUrl: string, resources: FhirResource[]) => Promise<void>;
  stow?: (stowUrl: string, instances: Buffer[]) => Promise<void>;
  /**
   * Load per-process state now (FHIR definitions, de-identification engines and, for a process that runs the
   * ingest queue's activities, the step threads and the queue store) rather than inside the first activity, where
   * it blocks the worker's event loop for seconds.
   */
  warmUp?: (options?: { ingest?: boolean }) => Promise<void>;
}

export interface RoutableResource {
  resource: FhirResource;
  /** Stable id of the source record (e.g. `inst:ehr:DocumentReference/abc`). */
  id: string;
  /** Renders an ImagingStudy's previews (activities/previews.ts; refs relative to the preview root), when routed. */
  previews?: () => Promise<WorkItemPreview[]>;
}

/**
 * A page's receipt time, carried to everything staged from it (it orders versions of a work item); no key when the
 * page has none, as pages staged before receipt times were kept have none.
 */
function receivedAtOf(from: { receivedAt?: string }): { receivedAt?: string } {
  return from.receivedAt ? { receivedAt: from.receivedAt } : {};
}

interface StepContext {
  runId: string;
  institution: string;
  source: SourceKind;
}

export interface FetchPageInput extends StepContext {
  endpoint: string;
  cursor?: string;
  since?: string;
  pageSize: number;
}

export interface PageRef {
  rawKey?: string;
  digest?: string;
  nextCursor?: string;
  counts: Partial<SourceCounts>;
}

export interface StepResult {
  batchKey?: string;
  counts: Partial<SourceCounts>;
}

/** A staged batch of FHIR resources and which source record each came from. */
interface ResourceBatch {
  resources: FhirResource[];
  /** Parallel to resources: the source record key (records are kept or quarantined whole). */
  recordOf: string[];
  recordsMapped: number;
  /** Imaging: staged de-identified DICOM instances (the records) that travel with the ImagingStudy resources. */
  dicom?: { key: string; sop: string; file?: string }[];
  /** Record keys already quarantined by an earlier step (verify adds its own). */
  quarantinedRecords?: string[];
  /** Patient stable id → the ids other pages' references to that Patient were mapped to (see patientAliasesOf). */
  patientAliases?: Record<string, string[]>;
  /** When the page was received (PackedPage.receivedAt): orders versions of a work item. */
  receivedAt?: string;
}

/** A step's result and the batch it produced, for the next step to stage or to take in memory. */
interface HandedBatch {
  result: StepResult & { batchKey: string };
  batch: ResourceBatch;
}

interface ImageList {
  /** `file`: the instance's name in its page (absent in lists staged before it was kept), for quarantine logs. */
  images: { key: string; summary: DicomSummary; file?: string }[];
  /** When the study's page was received (PackedPage.receivedAt). */
  receivedAt?: string;
}

export function createIngestActivities(deps: IngestDeps) {
  const { store, steps } = deps;
  const patientIndex = createPatientIndex(store);
  const hisMappings = new Map<string, ReturnType<typeof loadHisMapping>>();
  /** HIS CSV column names differ per institution: config/his-csv/<institution>.json says which is which. */
  const columnMappingFor = (institution: Institution) => {
    if (institution.ehr?.format !== 'his-csv') return undefined;
    let m = hisMappings.get(institution.id);
    if (!m) hisMappings.set(institution.id, (m = loadHisMapping(institution.id)));
    return m;
  };

  function institutionOf(id: string): Institution {
    const inst = deps.registry.institutions.find((i) => i.id === id);
    if (!inst)
      throw new TributaryError(`institution ${id} is not in the registry`, {
        code: 'not-found',
        location: 'institution',
        nonRetryable: true,
      });
    return inst;
  }

  const prefix = (kind: string, ctx: StepContext) => `${kind}/${ctx.runId}/${ctx.institution}/${ctx.source}`;

  async function quarantineLog(ctx: StepContext, fromKey: string, entries: unknown[]): Promise<void> {
    if (entries.length === 0) return;
    await putJson(store, deriveStagingKey(prefix('quarantine', ctx), fromKey), entries);
  }

  /**
   * A run's DICOM files are named by SOP Instance UID, and a drop can hold two instances under one (pydicom's MR_small
   * comes in six transfer syntaxes): the second file would replace the first without a sign. An instance whose UID this
   * run already published (or an earlier one of the batch holds) with other bytes is quarantined; the same bytes again
   * are the same instance sent twice, published once, as a resent HL7 message is. Pages of a source run one after
   * another and file names are per institution, so nothing else writes these files meanwhile.
   */
  async function withoutConflictingInstances(
    ctx: StepContext & { batchKey: string },
    instances: NonNullable<ResourceBatch['dicom']>,
  ): Promise<{ kept: NonNullable<ResourceBatch['dicom']>; conflicts: number }> {
    const dir = path.join(deps.outputRoot, ctx.runId, 'dicom', ctx.institution);
    // Digests only where a UID repeats: reading every instance back would double the step's reads and decryptions.
    const firstOfBatch = new Map<string, { key: string; digest?: string }>();
    const kept: NonNullable<ResourceBatch['dicom']> = [];
    const quarantined: unknown[] = [];
    for (const d of instances) {
      const file = path.join(dir, `${d.sop}.dcm`);
      const earlier = firstOfBatch.get(d.sop);
      if (!earlier && !fs.existsSync(file)) {
        firstOfBatch.set(d.sop, { key: d.key });
        kept.push(d);
        continue;
      }
      const digest = digestOf(await store.get(d.key));
      const theirs = earlier
        ? (earlier.digest ??= digestOf(await store.get(earlier.key)))
        : digestOf(fs.readFileSync(file));
      if (theirs !== digest) {
        quarantined.push({
          file: d.file ?? d.key,
          rule: 'dicom.duplicate-sop-instance-uid',
          reason: 'another instance of this run has its SOP Instance UID, with other content',
        });
        continue;
      }
      if (!earlier) firstOfBatch.set(d.sop, { key: d.key, digest });
      kept.push(d);
    }
    await quarantineLog(ctx, `${ctx.batchKey}:sop-conflicts`, quarantined);
    return { kept, conflicts: quarantined.length };
  }

  /**
   * The page steps on in-memory batches. The activities below stage each step's batch (encrypted) for the next
   * activity to read; processBatch hands it to the next step directly: encrypting, writing, reading and decrypting
   * three intermediate batches per page took about a tenth of the worker's main thread (bench/e2e-ingest.ts under
   * --cpu-prof). The keys are derived the same way on both paths, so quarantine logs and published file names do not
   * depend on the path.
   */
  const pageSteps = {
    async standardize(
      input: StepContext & { rawKey: string },
    ): Promise<{ result: StepResult; batch?: ResourceBatch }> {
      const institution = institutionOf(input.institution);
      const page = unpackPage(await store.get(input.rawKey), input.rawKey);
      const batch: ResourceBatch = {
        resources: [],
        recordOf: [],
        recordsMapped: 0,
        ...receivedAtOf(page),
      };
      let recordsIn = 0;
      let recordsRejected = 0;
      let partsQuarantined = 0;
      const issues: unknown[] = [];
      for (const [i, part] of page.parts.entries()) {
        // Mapping is synchronous CPU work: let the worker's event loop (workflow tasks, heartbeats) run between files.
        if (i > 0) await yieldToEventLoop();
        let result;
        try {
          result = await steps.mapPart(page.format, part.bytes, {
            institution: institution.id,
            sourceFile: part.name,
            timezone: institution.timezone,
            ...(page.format === 'his-csv' ? { columnMapping: columnMappingFor(institution) } : {}),
            ...(part.firstLine !== undefined ? { firstLine: part.firstLine } : {}),
            ...(part.firstRecord !== undefined ? { firstRecord: part.firstRecord } : {}),
            ...(part.hl7File !== undefined ? { hl7File: part.hl7File } : {}),
          });
        } catch (e) {
          if (e instanceof NotSupportedError || !(e instanceof TributaryError) || !e.nonRetryable) throw e;
          // A file the mapper cannot read at all: keep its bytes in quarantine with the reason, go on with the
          // page's other files (counted per file: a page used to be one file).
          await quarantineLog(input, `${input.rawKey}:${part.name}`, [
            { file: part.name, reason: e.message, code: e.code },
          ]);
          log.warn('page quarantined', {
            institution: input.institution,
            source: input.source,
            code: e.code,
          });
          partsQuarantined++;
          continue;
        }
        recordsIn += result.recordsIn;
        recordsRejected += result.recordsRejected;
        batch.recordsMapped += result.recordsMapped;
        issues.push(...result.issues.filter((i) => i.severity === 'error' || i.severity === 'fatal'));
        for (const resource of result.resources) {
          batch.resources.push(resource);
          batch.recordOf.push(recordKeyOf(resource));
        }
        if (page.format === 'fhir')
          batch.patientAliases = { ...batch.patientAliases, ...patientAliasesOf(part.bytes, institution.id) };
      }
      const quarantinedCounts = partsQuarantined ? { pagesQuarantined: partsQuarantined } : {};
      // A file's own count of its records (an HL7 batch trailer) that disagrees with what arrived: not a record of
      // ours to reject, but records may be missing upstream; counted so the run says so.
      const gaps = issues.filter((i) => (i as { code?: string }).code === 'incomplete').length;
      if (partsQuarantined === page.parts.length) return { result: { counts: quarantinedCounts } };
      if (issues.length)
        await putJson(store, deriveStagingKey(prefix('rejects', input), input.rawKey), issues);
      const batchKey = deriveStagingKey(prefix('std', input), input.rawKey);
      return {
        result: {
          batchKey,
          counts: {
            in: recordsIn,
            rejected: recordsRejected,
            ...quarantinedCounts,
            ...(gaps ? { sourceGaps: gaps } : {}),
          },
        },
        batch,
      };
    },

    async deidentify(input: StepContext & { batchKey: string; batch: ResourceBatch }): Promise<HandedBatch> {
      const { batch } = input;
      const institution = institutionOf(input.institution);
      // Index this batch's Patients first, so later batches and other sources (DICOM by MRN) link to them.
      const entries = [];
      for (const r of batch.resources) {
        if (r.resourceType !== 'Patient' || typeof r.id !== 'string') continue;
        try {
          entries.push({
            ref: `Patient/${r.id}`,
            aliases: (batch.patientAliases?.[r.id] ?? []).map((id) => `Patient/${id}`),
            raw: r,
            ...steps.linkPatient(r, institution),
          });
        } catch (e) {
          if (!(e instanceof TributaryError) || !e.nonRetryable) throw e; // unlinkable: the engine quarantines it
        }
      }
      await patientIndex.record(input.institution, entries);
      const outcome = await steps.deidentifyResources(batch.resources, {
        institution,
        source: input.source,
        patients: () => patientIndex.load(input.institution),
      });
      // A quarantine entry names its resource by input position. Its resourceType and id are sanitized for the log
      // ("(unknown)" for a type that is not a FHIR name), so they cannot always find the resource again.
      const positionByKey = new Map(batch.resources.map((r, i) => [`${r.resourceType}/${r.id}`, i]));
      const positions = outcome.quarantined.map(
        (q) => q.index ?? positionByKey.get(`${q.resourceType}/${q.id}`),
      );
      const quarantinedAt = new Set(positions);
      const quarantinedRecords = [
        ...new Set(
          outcome.quarantined.map((q, n) =>
            positions[n] === undefined ? `${q.resourceType}/${q.id}` : batch.recordOf[positions[n]],
          ),
        ),
      ];
      await quarantineLog(input, input.batchKey, outcome.quarantined);
      // Outputs come back in input order minus the quarantined; carry each one's record key by position.
      const keptRecords = batch.resources.map((r, i) => ({ r, i })).filter(({ i }) => !quarantinedAt.has(i));
      if (keptRecords.length !== outcome.outputs.length) {
        throw new TributaryError('de-identification returned a different number of outputs than it kept', {
          code: 'processing',
          nonRetryable: true,
        });
      }
      const out: ResourceBatch = {
        resources: outcome.outputs,
        recordOf: keptRecords.map(({ i }) => batch.recordOf[i]),
        recordsMapped: batch.recordsMapped,
        quarantinedRecords,
        ...receivedAtOf(batch),
      };
      const batchKey = deriveStagingKey(prefix('deid', input), input.batchKey);
      return {
        result: { batchKey, counts: { resourcesQuarantined: outcome.quarantined.length } },
        batch: out,
      };
    },

    /** FHIR validation of every output; a record with an invalid resource is quarantined whole. */
    async verify(input: StepContext & { batchKey: string; batch: ResourceBatch }): Promise<HandedBatch> {
      const { batch } = input;
      const failures: unknown[] = [];
      const badRecords = new Set<string>(batch.dicom ? [] : (batch.quarantinedRecords ?? []));
      const badStudies = new Set<number>();
      const issues = await steps.validateResources(batch.resources);
      for (const [i, resource] of batch.resources.entries()) {
        const errors = issues[i].filter((x) => x.severity === 'error' || x.severity === 'fatal');
        if (errors.length === 0) continue;
        failures.push({
          resourceType: resource.resourceType,
          id: resource.id,
          rule: 'fhir-validation',
          issues: errors.slice(0, 5),
        });
        if (batch.dicom) badStudies.add(i);
        else badRecords.add(batch.recordOf[i]);
      }
      await quarantineLog(input, `${input.batchKey}:verify`, failures);
      const keep = batch.resources.map((_, i) =>
        batch.dicom ? !badStudies.has(i) : !badRecords.has(batch.recordOf[i]),
      );
      const dicom = batch.dicom && (await withoutConflictingInstances(input, batch.dicom));
      const out: ResourceBatch = {
        resources: batch.resources.filter((_, i) => keep[i]),
        recordOf: batch.recordOf.filter((_, i) => keep[i]),
        recordsMapped: batch.recordsMapped,
        dicom: dicom?.kept,
        ...receivedAtOf(batch),
      };
      const batchKey = deriveStagingKey(prefix('verified', input), input.batchKey);
      const withheld = batch.resources.length - out.resources.length;
      if (dicom) {
        // Imaging records are instances: they were gated by DICOM de-identification; a bad ImagingStudy is withheld alone.
        return {
          result: {
            batchKey,
            counts: {
              published: dicom.kept.length,
              quarantined: dicom.conflicts,
              resourcesQuarantined: withheld,
            },
          },
          batch: out,
        };
      }
      return {
        result: {
          batchKey,
          counts: {
            quarantined: badRecords.size,
            published: batch.recordsMapped - badRecords.size,
            resourcesQuarantined: withheld,
          },
        },
        batch: out,
      };
    },

    async publish(
      input: StepContext & {
        batchKey: string;
        batch: ResourceBatch;
        fhirServerUrl?: string;
        stowUrl?: string;
      },
    ): Promise<StepResult> {
      const { batch } = input;
      const runDir = path.join(deps.outputRoot, input.runId);
      const tag = deriveStagingKey('p', input.batchKey).slice(2, 18);
      // A record sent twice (an HL7 message resent byte for byte) maps to the same ids: publish each resource once.
      const unique = new Map<string, FhirResource>();
      for (const r of batch.resources) unique.set(`${r.resourceType}/${r.id}`, r);
      const byType = new Map<string, FhirResource[]>();
      for (const r of unique.values()) byType.set(r.resourceType, [...(byType.get(r.resourceType) ?? []), r]);
      for (const [type, resources] of byType) {
        // One file per batch and type, named from the batch key: a retry rewrites it, never appends twice.
        const file = path.join(runDir, 'fhir', `${type}.${input.institution}.${input.source}.${tag}.ndjson`);
        await writeFileAtomic(file, resources.map((r) => JSON.stringify(r)).join('\n') + '\n');
      }
      let dicomPublished = 0;
      const instances: Buffer[] = [];
      for (const d of batch.dicom ?? []) {
        const bytes = await store.get(d.key);
        await writeFileAtomic(path.join(runDir, 'dicom', input.institution, `${d.sop}.dcm`), bytes);
        if (input.stowUrl) instances.push(bytes);
        dicomPublished++;
      }
      if (input.fhirServerUrl && unique.size) {
        if (!deps.postToFhirServer) throw new NotSupportedError('publishing to a FHIR server');
        await deps.postToFhirServer(input.fhirServerUrl, [...unique.values()]);
      }
      if (input.stowUrl && instances.length) {
        if (!deps.stow) throw new NotSupportedError('STOW-RS to a research PACS');
        await deps.stow(input.stowUrl, instances);
      }
      return { counts: { resourcesPublished: unique.size, dicomPublished } };
    },

    async route(input: StepContext & { batch: ResourceBatch }): Promise<StepResult> {
      if (!deps.route)
        throw new NotSupportedError('routing to annotation queues (annotation/store.ts has not landed)');
      const { batch } = input;
      const root = deps.previewRoot;
      // Published instances by SOP Instance UID, for the ImagingStudies' previews.
      const keyOf = batch.dicom && root ? new Map(batch.dicom.map((d) => [d.sop, d.key])) : undefined;
      const items: RoutableResource[] = [];
      for (const resource of batch.resources) {
        const id = `${input.institution}:${input.source}:${resource.resourceType}/${resource.id}`;
        if (resource.resourceType !== 'ImagingStudy' || !keyOf || !root) {
          items.push({ resource, id });
          continue;
        }
        // The study's published instances, in the order the ImagingStudy lists them.
        const instanceKeys = ((resource.series as { instance?: { uid?: string }[] }[] | undefined) ?? [])
          .flatMap((s) => s.instance ?? [])
          .flatMap((i) => (i.uid && keyOf.has(i.uid) ? [keyOf.get(i.uid)!] : []));
        items.push({
          resource,
          id,
          previews: () =>
            writeStudyPreviews({ store, root, institution: input.institution, itemId: id, instanceKeys }),
        });
      }
      const { routed, updated, conflicts } = await deps.route(items, {
        institution: input.institution,
        source: input.source,
        receivedAt: input.batch.receivedAt,
      });
      return {
        counts: {
          workItems: routed,
          ...(updated ? { itemsUpdated: updated } : {}),
          ...(conflicts ? { itemConflicts: conflicts } : {}),
        },
      };
    },
  };

  const activities = {
    async fetchPage(input: FetchPageInput): Promise<PageRef> {
      const institution = institutionOf(input.institution);
      const page = await deps.connectors.fetchPage({
        endpoint: input.endpoint,
        institution,
        source: input.source,
        cursor: input.cursor,
        since: input.since,
        pageSize: input.pageSize,
        onProgress: (detail) => heartbeat(detail),
      });
      const gaps = page.sourceGaps ? { sourceGaps: page.sourceGaps } : {};
      if (page.parts.length === 0) return { nextCursor: page.nextCursor, counts: gaps };
      // The page's file names are part of the key: a page is defined by where it starts and what it holds.
      const rawKey = deriveStagingKey(
        prefix('raw', input),
        input.cursor ?? 'start',
        input.since ?? '',
        ...page.parts.map((p) => p.name),
      );
      // When it arrived: a later fetch of a record is its newer version (a corrected result replaces a queued item).
      const ref = await store.put(rawKey, packPage({ ...page, receivedAt: new Date().toISOString() }));
      return { rawKey, digest: ref.digest, nextCursor: page.nextCursor, counts: { pages: 1, ...gaps } };
    },

    async standardizeBatch(input: StepContext & { rawKey: string }): Promise<StepResult> {
      const { result, batch } = await pageSteps.standardize(input);
      if (batch) await putJson(store, result.batchKey!, batch);
      return result;
    },

    async deidentifyBatch(input: StepContext & { batchKey: string }): Promise<StepResult> {
      const { result, batch } = await pageSteps.deidentify({
        ...input,
        batch: await getJson<ResourceBatch>(store, input.batchKey),
      });
      await putJson(store, result.batchKey, batch);
      return result;
    },

    async deidentifyImages(
      input: StepContext & { rawKey: string },
    ): Promise<StepResult & { imagesKey: string }> {
      const institution = institutionOf(input.institution);
      const page = unpackPage(await store.get(input.rawKey), input.rawKey);
      const patients = await patientIndex.load(input.institution);
      const images: ImageList['images'] = [];
      const quarantined: unknown[] = [];
      let rejected = 0;
      let withoutPatient = 0;
      for (const [i, part] of page.parts.entries()) {
        // Per-instance results are staged under keys from the input: a retried attempt reuses what is done.
        const resultKey = deriveStagingKey(prefix('imgres', input), input.rawKey, part.name);
        let result:
          | { status: 'ok'; key: string; summary: DicomSummary }
          | { status: 'quarantined'; reason: string; rule: string }
          | { status: 'rejected'; reason: string };
        if (await store.has(resultKey)) {
          result = await getJson(store, resultKey);
        } else {
          try {
            const outcome = await steps.deidentifyDicom(part.bytes, {
              institution,
              patients,
              where: part.name,
            });
            if (outcome.status === 'ok') {
              const key = deriveStagingKey(prefix('img', input), input.rawKey, part.name);
              await store.put(key, outcome.bytes);
              result = { status: 'ok', key, summary: outcome.summary };
            } else {
              result = { status: 'quarantined', reason: outcome.reason, rule: outcome.rule };
            }
          } catch (e) {
            if (e instanceof NotSupportedError || !(e instanceof TributaryError) || !e.nonRetryable) throw e;
            result = { status: 'rejected', reason: e.message };
          }
          await putJson(store, resultKey, result);
        }
        if (result.status === 'ok') {
          images.push({ key: result.key, summary: result.summary, file: part.name });
          if (result.summary.linkedBy !== 'patient-index') withoutPatient++;
        } else if (result.status === 'quarantined')
          quarantined.push({ file: part.name, reason: result.reason, rule: result.rule });
        else rejected++;
        heartbeat({ done: i + 1 });
      }
      await quarantineLog(input, input.rawKey, quarantined);
      const imagesKey = deriveStagingKey(prefix('imgs', input), input.rawKey);
      await putJson(store, imagesKey, {
        images,
        ...receivedAtOf(page),
      } satisfies ImageList);
      return {
        imagesKey,
        counts: {
          in: page.parts.length,
          quarantined: quarantined.length,
          rejected,
          ...(withoutPatient ? { imagesWithoutPatient: withoutPatient } : {}),
        },
      };
    },

    /**
     * An instance this worker cannot denoise (a transfer syntax it does not decode, colour, pixel data that does not
     * parse) is quarantined, not published undenoised, and the study's other instances go on: a PACS drop holds such
     * files, and one failed the whole source. The refusal is staged like a result, so a retried attempt makes the same
     * decision.
     */
    async denoiseImages(
      input: StepContext & { imagesKey: string },
    ): Promise<StepResult & { imagesKey: string }> {
      const list = await getJson<ImageList>(store, input.imagesKey);
      const out: ImageList = { images: [], ...receivedAtOf(list) };
      const quarantined: { file: string; rule: string; reason: string }[] = [];
      for (const [i, image] of list.images.entries()) {
        const key = deriveStagingKey(prefix('den', input), image.key);
        const refusedKey = deriveStagingKey(prefix('denq', input), image.key);
        let refused: (typeof quarantined)[number] | undefined;
        if (await store.has(refusedKey)) refused = await getJson(store, refusedKey);
        else if (!(await store.has(key))) {
          try {
            await store.put(
              key,
              await steps.denoiseDicom(await store.get(image.key), image.file ?? image.key),
            );
          } catch (e) {
            if (!(e instanceof TributaryError) || !e.nonRetryable) throw e;
            refused = {
              file: image.file ?? image.key,
              rule: e instanceof NotSupportedError ? 'denoise.not-supported' : 'denoise.unreadable',
              reason: e.message,
            };
            await putJson(store, refusedKey, refused);
          }
        }
        if (refused) quarantined.push(refused);
        else out.images.push({ key, summary: image.summary, file: image.file });
        heartbeat({ done: i + 1 });
      }
      await quarantineLog(input, `${input.imagesKey}:denoise`, quarantined);
      const imagesKey = deriveStagingKey(prefix('dens', input), input.imagesKey);
      await putJson(store, imagesKey, out);
      return { imagesKey, counts: quarantined.length ? { quarantined: quarantined.length } : {} };
    },

    /**
     * De-identification then denoising of a study's instances in one imaging task: each was its own activity, and the
     * second cost a server round trip and a workflow task per study. Both halves keep their per-instance staged
     * results, so a retried attempt skips what is done.
     */
    async cleanImages(input: StepContext & { rawKey: string }): Promise<StepResult & { imagesKey: string }> {
      const deid = await activities.deidentifyImages(input);
      const clean = await activities.denoiseImages({ ...input, imagesKey: deid.imagesKey });
      const quarantined = (deid.counts.quarantined ?? 0) + (clean.counts.quarantined ?? 0);
      return { imagesKey: clean.imagesKey, counts: { ...deid.counts, quarantined } };
    },

    async standardizeImages(input: StepContext & { imagesKey: string }): Promise<StepResult> {
      const list = await getJson<ImageList>(store, input.imagesKey);
      const institution = institutionOf(input.institution);
      const result = steps.mapImagingStudies(
        list.images.map((i) => i.summary),
        { institution: institution.id, sourceFile: 'imaging', timezone: institution.timezone },
      );
      const batch: ResourceBatch = {
        resources: result.resources,
        // ImagingStudy resources are derived metadata; the records are the instances below.
        recordOf: result.resources.map((r) => `${r.resourceType}/${r.id}`),
        recordsMapped: list.images.length,
        dicom: list.images.map((i) => ({ key: i.key, sop: i.summary.sopInstanceUid, file: i.file })),
        ...receivedAtOf(list),
      };
      const batchKey = deriveStagingKey(prefix('stdimg', input), input.imagesKey);
      await putJson(store, batchKey, batch);
      return { batchKey, counts: {} };
    },

    async verifyBatch(input: StepContext & { batchKey: string }): Promise<StepResult & { batchKey: string }> {
      const { result, batch } = await pageSteps.verify({
        ...input,
        batch: await getJson<ResourceBatch>(store, input.batchKey),
      });
      await putJson(store, result.batchKey, batch);
      return result;
    },

    async publishBatch(
      input: StepContext & { batchKey: string; fhirServerUrl?: string; stowUrl?: string },
    ): Promise<StepResult> {
      return pageSteps.publish({ ...input, batch: await getJson<ResourceBatch>(store, input.batchKey) });
    },

    async routeBatch(input: StepContext & { batchKey: string }): Promise<StepResult> {
      if (!deps.route)
        throw new NotSupportedError('routing to annotation queues (annotation/store.ts has not landed)');
      return pageSteps.route({ ...input, batch: await getJson<ResourceBatch>(store, input.batchKey) });
    },

    /**
     * Describe the run's release: the Bulk manifest (`manifest.json`) and the k-anonymity of its Patients per
     * institution (`risk.json`, the verify step's risk check; reported, not suppressed: the built-in profiles report).
     */
    async writeRunManifest(input: {
      runId: string;
    }): Promise<{ outputDir: string; files: number; risk: ReleaseRisk }> {
      const runDir = path.join(deps.outputRoot, input.runId);
      const files = await writeBulkManifest(runDir, { onFile: (done) => heartbeat({ done }) });
      const risk = await assessReleaseRisk(runDir, {
        institutions: deps.registry.institutions.map((i) => i.id),
        tallyFor: (id) => steps.riskTally(institutionOf(id)),
        onFile: (done) => heartbeat({ done: files + done }),
      });
      return { outputDir: runDir, files, risk };
    },

    /**
     * Remove the preview versions no stored work item refers to (activities/previews.ts prunePreviews), leaving those
     * younger than the grace period: a concurrent run's items may not be stored yet. Without a preview root or a
     * queue store there is nothing to prune.
     */
    async prunePreviewVersions(input: { graceMinutes: number }): Promise<PrunePreviewsResult | undefined> {
      if (!deps.previewRoot || !deps.previewRefs) return undefined;
      // The refs are read before the walk: a version stored after this is younger than the grace period.
      const referenced = await deps.previewRefs();
      return prunePreviews({
        root: deps.previewRoot,
        referenced,
        graceMs: input.graceMinutes * 60_000,
        onFolder: (done) => heartbeat({ done }),
      });
    },

    async loadWatermark(input: { institution: string; source: SourceKind }): Promise<{ since?: string }> {
      const key = `watermarks/${input.institution}/${input.source}`;
      if (!(await store.has(key))) return {};
      return { since: (await getJson<{ since: string }>(store, key)).since };
    },

    async saveWatermark(input: { institution: string; source: SourceKind; since: string }): Promise<void> {
      await putJson(store, `watermarks/${input.institution}/${input.source}`, { since: input.since });
    },
  };
  const bounded = withFailureBoundary(activities);
  // The in-memory steps under their activities' names: a failure inside processBatch names the step, as before.
  const handed = withFailureBoundary({
    standardizeBatch: pageSteps.standardize,
    deidentifyBatch: pageSteps.deidentify,
    verifyBatch: pageSteps.verify,
    publishBatch: pageSteps.publish,
    routeBatch: pageSteps.route,
  });
  return {
    ...bounded,
    /**
     * A file-drop or API page's steps after the pull (standardize, de-identify, verify, publish, route) in one call:
     * as one local activity each, every step cost the workflow an activation, a marker in history and a trip through
     * the SDK, about a fifth of the CPU the steps themselves use. Each step hands its batch to the next in memory;
     * nothing between the raw page and the outputs is staged, so a retry starts again from the raw page and rewrites
     * the same quarantine logs and output files. The steps' counts come back one by one, for the workflow to add in
     * the order it did.
     */
    async processBatch(
      input: StepContext & { rawKey: string; fhirServerUrl?: string; stowUrl?: string; route?: boolean },
    ): Promise<{ steps: Partial<SourceCounts>[] }> {
      const ctx = { runId: input.runId, institution: input.institution, source: input.source };
      const steps: Partial<SourceCounts>[] = [];
      const std = await handed.standardizeBatch({ ...ctx, rawKey: input.rawKey });
      steps.push(std.result.counts);
      if (!std.batch) return { steps };
      const deid = await handed.deidentifyBatch({ ...ctx, batchKey: std.result.batchKey!, batch: std.batch });
      steps.push(deid.result.counts);
      const verified = await handed.verifyBatch({
        ...ctx,
        batchKey: deid.result.batchKey,
        batch: deid.batch,
      });
      steps.push(verified.result.counts);
      const published = await handed.publishBatch({
        ...ctx,
        batchKey: verified.result.batchKey,
        batch: verified.batch,
        fhirServerUrl: input.fhirServerUrl,
        stowUrl: input.stowUrl,
      });
      steps.push(published.counts);
      if (input.route) steps.push((await handed.routeBatch({ ...ctx, batch: verified.batch })).counts);
      return { steps };
    },
  };
}

export type IngestActivities = ReturnType<typeof createIngestActivities>;

/** The record a resource came from: the mapper's `meta.source` when it says, else the resource itself. */
function recordKeyOf(resource: FhirResource): string {
  const source = (resource.meta as { source?: unknown } | undefined)?.source;
  return typeof source === 'string' && source ? source : `${resource.resourceType}/${resource.id}`;
}

/**
 * The FHIR mapper gives a Patient the id patientStableId(institution, MRN), but it can only know the MRN when the
 * Patient is in the same page: a reference from a later page (`Patient/pt-0001`) becomes
 * patientStableId(institution, 'pt-0001'). Paged pulls always split them, so the Patient page records that second
 * id as an alias in the patient index, and later pages link through it. (Reported to the mappers owner: a
 * cross-batch reference map in MapContext would make this unnecessary.)
 */
function patientAliasesOf(ndjson: Buffer, institution: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of ndjson.toString('utf8').split('\n')) {
    if (!line.includes('"Patient"')) continue;
    let r: {
      resourceType?: unknown;
      id?: unknown;
      identifier?: { type?: { coding?: { code?: unknown }[] }; value?: unknown }[];
    };
    try {
      r = JSON.parse(line);
    } catch {
      continue; // the mapper rejects and reports the line
    }
    if (r.resourceType !== 'Patient' || typeof r.id !== 'string' || !Array.isArray(r.identifier)) continue;
    const mrn = r.identifier.find(
      (i) => i?.type?.coding?.some((c) => c?.code === 'MR') && typeof i.value === 'string' && i.value,
    )?.value as string | undefined;
    if (!mrn) continue;
    const stable = patientStableId(institution, mrn);
    const alias = patientStableId(institution, r.id);
    if (alias !== stable) out[stable] = [alias];
  }
  return out;
}
