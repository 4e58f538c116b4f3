// A step thread's entry (activities/step-pool.ts): plain JavaScript so it loads under any parent (tsx, vitest,
// bin/tributary.mjs), then the TypeScript side through tsx, as bin/tributary.mjs does.
import { register } from 'tsx/esm/api';

register();
await import('./step-thread.ts');
