/** The worker's workflowsPath: every workflow the ingest task queue runs. */
export { ingestAllWorkflow, ingestSourceWorkflow } from './ingest';
export { ingestFeedWorkflow } from './feed';
