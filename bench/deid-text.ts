/**
 * Free-text scrubbing throughput on one core, MB/s (UTF-8 bytes in): English clinical notes (the Synthea
 * DocumentReference sample) and generated English/Chinese notes dense with PHI (deid/fixtures).
 *
 *   npx tsx bench/deid-text.ts [--runs 7]
 *
 * Medians over runs, by CPU time of this process.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { createKeyService } from '../deid/key-service';
import { clearTextScrubberCaches, scrubText } from '../deid/text-scrubber';
import { generateNotes } from '../deid/fixtures/records';
import { median } from './median';
import { SYNTHEA_BULK_DIR } from './samples';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1] ?? 7) || 7;
const keyService = createKeyService({ key: crypto.randomBytes(32), keyId: 'bench' });

const synthea = path.join(SYNTHEA_BULK_DIR, 'DocumentReference.000.first40.ndjson');
const sets: Record<string, string[]> = {
  'synthea-notes-en': fs
    .readFileSync(synthea, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => Buffer.from(JSON.parse(l).content[0].attachment.data, 'base64').toString('utf8')),
  'generated-notes-en': generateNotes(600, 3)
    .filter((n) => n.locale === 'en')
    .map((n) => n.text),
  'generated-notes-zh': generateNotes(600, 3)
    .filter((n) => n.locale === 'zh')
    .map((n) => n.text),
};

const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};
const out: Record<string, unknown> = {};
for (const [name, texts] of Object.entries(sets)) {
  const bytes = texts.reduce((a, t) => a + Buffer.byteLength(t), 0);
  const times: number[] = [];
  let findings = 0;
  for (let r = 0; r < runs + 1; r++) {
    const c0 = cpuMs();
    let f = 0;
    // repeat small sets so each run handles at least ~1 MB
    const reps = Math.max(1, Math.ceil(1e6 / bytes));
    // Each repetition starts cold: short strings' detector results are remembered per process.
    for (let k = 0; k < reps; k++, clearTextScrubberCaches())
      for (const t of texts) f += scrubText(t, { keyService, linkage: `p${k % 7}` }).findings.length;
    if (r > 0) times.push((cpuMs() - c0) / reps);
    findings = f / reps;
  }
  out[name] = {
    texts: texts.length,
    megabytes: +(bytes / 1e6).toFixed(3),
    findingsPerSet: findings,
    mbPerSecCpu: +(bytes / 1e6 / (median(times) / 1000)).toFixed(2),
  };
}
console.log(JSON.stringify({ runs, ...out }, null, 2));
