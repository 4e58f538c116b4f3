#!/usr/bin/env node
// Runs the TypeScript CLI through tsx so `npx tributary` works straight after `npm ci`, with no build step.
import { register } from 'tsx/esm/api';

// `tributary ... | head` closes the pipe early: that is the reader's choice, not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
register();
const { main } = await import('../cli/main.ts');
await main(process.argv);
