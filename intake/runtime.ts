import { ingestPaths } from '../activities/runtime';
import { createFileBlobStore, loadStagingKey, type BlobStore } from '../activities/staging';
import type { Config } from '../platform/config';

/** The staging store the ingest workers read: the bridge writes feed pages where the page steps look for them. */
export function openIntakeStore(config: Config): BlobStore {
  return createFileBlobStore({ root: ingestPaths(config).staging, key: loadStagingKey(config) });
}
