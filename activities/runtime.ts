import path from 'node:path';
import { loadRoutingRules } from '../annotation/routing';
import { openQueueStore, type QueueStore } from '../annotation/store';
import { createKeyService, loadDeidKey } from '../deid/key-service';
import { createDicomWebClient } from '../imaging/dicomweb';
import { TributaryError, toError } from '../platform/errors';
import type { Config } from '../platform/config';
import { loadInstitutionRegistry } from '../platform/institutions';
import { log } from '../platform/log';
import type { FhirMode, ImagingMode } from '../schemas/ingest';
import { publishToFhirServer } from './fhir-publish';
import { createConnectors } from './connectors';
import { createIngestActivities, type IngestDeps } from './ingest';
import { createRouter } from './route';
import { createFileBlobStore, loadStagingKey, type BlobStore } from './staging';
import { createStepPool, defaultStepThreads } from './step-pool';
import { createStepLibrary } from './steps';

export interface IngestPaths {
  staging: string;
  output: string;
  queues: string;
  /** Work item previews (PNG), where the annotation server resolves their refs. */
  previews: string;
}

export function ingestPaths(config: Config): IngestPaths {
  return {
    staging: path.join(config.paths.data, 'staging'),
    output: path.join(config.paths.data, 'out'),
    queues: path.join(config.paths.data, 'queues'),
    previews: path.join(config.paths.data, 'previews'),
  };
}

/**
 * The encrypted staging store the ingest workers use, for another process of the same configuration: the Kafka bridge
 * writes feed pages where the page steps look for them, and `ingest quarantine` reads a run's logs.
 */
export function openStagingStore(config: Config): BlobStore {
  return createFileBlobStore({ root: ingestPaths(config).staging, key: loadStagingKey(config) });
}

export interface IngestDepsOptions {
  ratePerSecond?: number;
  fetch?: typeof fetch;
  /** PostgreSQL schema for the queue tables (tests and benchmarks isolate themselves). */
  queueSchema?: string;
  /** File drops: files per page (connectors.ts DEFAULT_FILES_PER_PAGE). */
  filesPerPage?: number;
  /** FHIR-API institutions: search paging (default) or Bulk `$export` (connectors.ts). */
  fhirMode?: FhirMode;
  /** Imaging: file drops (default) or the PACS by DICOMweb QIDO/WADO (connectors.ts). */
  imagingMode?: ImagingMode;
  /**
   * Worker threads for mapping, validation and de-identification (activities/step-pool.ts); 0 runs them on the main
   * thread. Default: $TRIBUTARY_STEP_THREADS, else one per core beyond the first.
   */
  stepThreads?: number;
}

export interface RuntimeIngestDeps extends IngestDeps {
  warmUp(options?: { ingest?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** Where the annotation queues live: DATABASE_URL's PostgreSQL when set, else embedded PGlite under the data folder. */
export function queueStoreLocation(
  config: Config,
  schema?: string,
): { databaseUrl: string; schema?: string } | { dataDir: string; schema?: string } {
  return config.database.external
    ? { databaseUrl: config.database.url, schema }
    : { dataDir: ingestPaths(config).queues, schema };
}

/** Everything the ingestion activities need, from configuration: used by the worker, the demo and the bench. */
export function createIngestDeps(config: Config, options: IngestDepsOptions = {}): RuntimeIngestDeps {
  const paths = ingestPaths(config);
  const registry = loadInstitutionRegistry(config.env.TRIBUTARY_INSTITUTIONS);
  const deidKey = loadDeidKey(config, { generateLocal: !config.temporal.external });
  // The queue store opens on first use: a worker that never routes never touches the database.
  let queues: Promise<QueueStore> | undefined;
  const openQueues = () =>
    (queues ??= openQueueStore(queueStoreLocation(config, options.queueSchema)).catch((e: unknown) => {
      queues = undefined; // a failed open (database not up yet) is retried by the next activity, not cached
      throw e;
    }));
  let router: ReturnType<typeof createRouter> | undefined;
  let warm: Promise<void> | undefined;
  const threads = options.stepThreads ?? config.env.TRIBUTARY_STEP_THREADS ?? defaultStepThreads();
  const stagingKey = loadStagingKey(config);
  const steps = createStepLibrary({
    keyService: createKeyService(deidKey),
    pool:
      threads > 0
        ? createStepPool(threads, {
            keys: {
              deid: { key: deidKey.key, keyId: deidKey.keyId },
              staging: { root: paths.staging, key: stagingKey.key },
            },
          })
        : undefined,
  });
  return {
    store: createFileBlobStore({ root: paths.staging, key: stagingKey }),
    outputRoot: paths.output,
    previewRoot: paths.previews,
    registry,
    connectors: createConnectors({
      ratePerSecond: options.ratePerSecond,
      fetch: options.fetch,
      filesPerPage: options.filesPerPage,
      maxFileBytes: config.env.TRIBUTARY_MAX_FILE_MB * 2 ** 20,
      pageBytes: Math.max(1, Math.round(config.env.TRIBUTARY_PAGE_MB * 2 ** 20)),
      fhirMode: options.fhirMode,
      imagingMode: options.imagingMode,
    }),
    steps,
    warmUp({ ingest = true } = {}) {
      warm ??= Promise.resolve().then(() => steps.warmUp?.({ threads: ingest }));
      if (!ingest) return warm;
      return warm.then(async () => {
        try {
          await openQueues();
        } catch (e) {
          // Not fatal at start: routeBatch opens it again (and fails, retryably, if it still cannot).
          log.warn('queue store not opened at warm-up', { error: toError(e).name });
        }
      });
    },
    previewRefs: async () => (await openQueues()).previewRefs(),
    async route(items, ctx) {
      router ??= createRouter({
        store: await openQueues(),
        rules: loadRoutingRules(),
        keyId: deidKey.keyId,
        institutions: registry.institutions,
      });
      return router(items, ctx);
    },
    postToFhirServer: (url, resources) =>
      publishToFhirServer(url, resources, {
        maxEntries: config.env.TRIBUTARY_FHIR_BUNDLE_MAX,
        bundleType: config.env.TRIBUTARY_FHIR_BUNDLE_TYPE,
      }),
    async stow(stowUrl, instances) {
      const result = await createDicomWebClient(stowUrl).storeInstances(instances);
      if (result.failed.length > 0) {
        throw new TributaryError(
          `STOW-RS: ${result.failed.length} of ${instances.length} instances refused by the research PACS`,
          { code: 'processing' },
        );
      }
    },
    async close() {
      await steps.close?.();
      if (queues) await (await queues).close();
    },
  };
}

export function createIngestActivitiesFromConfig(config: Config, options?: IngestDepsOptions) {
  return createIngestActivities(createIngestDeps(config, options));
}
