import path from 'node:path';
import type { Config } from '../platform/config';
import { loadInstitutionRegistry } from '../platform/institutions';
import { createConnectors } from './connectors';
import { createIngestActivities, type IngestDeps } from './ingest';
import { createFileBlobStore, loadStagingKey } from './staging';
import { createStepLibrary } from './steps';

export interface IngestPaths {
  staging: string;
  output: string;
}

export function ingestPaths(config: Config): IngestPaths {
  return { staging: path.join(config.paths.data, 'staging'), output: path.join(config.paths.data, 'out') };
}

/** Everything the ingestion activities need, from configuration: used by the worker, the demo and the bench. */
export function createIngestDeps(config: Config, options: { ratePerSecond?: number; fetch?: typeof fetch } = {}): IngestDeps {
  const paths = ingestPaths(config);
  return {
    store: createFileBlobStore({ root: paths.staging, key: loadStagingKey(config) }),
    outputRoot: paths.output,
    registry: loadInstitutionRegistry(),
    connectors: createConnectors({ ratePerSecond: options.ratePerSecond, fetch: options.fetch }),
    steps: createStepLibrary(),
  };
}

export function createIngestActivitiesFromConfig(config: Config, options?: Parameters<typeof createIngestDeps>[1]) {
  return createIngestActivities(createIngestDeps(config, options));
}
