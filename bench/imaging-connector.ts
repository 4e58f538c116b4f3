/**
 * Imaging pull: file drops vs DICOMweb (QIDO + WADO-RS per instance through synth serve's per-institution roots
 * over the real Orthanc), connector only (no Temporal, no pixel work). Prints per-mode medians and the ratio.
 *
 *   npx tsx bench/imaging-connector.ts [--patients 5] [--institutions 6] [--repeat 3]
 *
 * Needs the local stack's Orthanc (ORTHANC_URL). The generated studies are STOWed there (the seed names the
 * parameters: generator study UIDs depend on seed, institution and ordinal, and Orthanc's WADO-RS answers 404 for
 * a study UID it holds under two patients; a re-run with the same parameters stores the same instances again).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createConnectors } from '../activities/connectors';
import type { ImagingMode } from '../schemas/ingest';
import { loadConfig } from '../platform/config';
import { loadInstitutionRegistry } from '../platform/institutions';
import { generateSynth } from '../synth/generate';
import { uploadStudiesToOrthanc } from '../synth/orthanc-upload';
import { startSynthServer } from '../synth/serve';
import { median } from './median';

const { values } = parseArgs({
  options: {
    patients: { type: 'string', default: '5' },
    institutions: { type: 'string', default: '6' },
    repeat: { type: 'string', default: '3' },
  },
});
const registry = loadInstitutionRegistry();
const ids = registry.institutions.slice(0, Number(values.institutions)).map((i) => i.id);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-imaging-'));
const config = loadConfig();

try {
  generateSynth({
    out: dir,
    seed: `bench-imaging-connector-${values.patients}-${values.institutions}`,
    patients: Number(values.patients),
    institutions: ids,
  });
  const uploaded = await uploadStudiesToOrthanc({ dir, orthancUrl: config.orthanc.url, institutions: ids });
  const server = await startSynthServer({ dir, port: 0, rateLimit: false, orthancUrl: config.orthanc.url });
  process.stdout.write(
    `${ids.length} institutions, ${uploaded.studies} studies, ${uploaded.instances} instances (Orthanc ${config.orthanc.url})\n`,
  );

  async function pullAll(
    mode: ImagingMode,
  ): Promise<{ ms: number; studies: number; instances: number; bytes: number }> {
    const connectors = createConnectors({ imagingMode: mode, ratePerSecond: 10_000 });
    const start = performance.now();
    let studies = 0;
    let instances = 0;
    let bytes = 0;
    for (const id of ids) {
      const institution = registry.institutions.find((i) => i.id === id)!;
      let cursor: string | undefined;
      do {
        const page = await connectors.fetchPage({
          endpoint: server.url,
          institution,
          source: 'imaging',
          cursor,
          pageSize: 500,
        });
        if (page.parts.length) studies++;
        instances += page.parts.length;
        bytes += page.parts.reduce((n, p) => n + p.bytes.length, 0);
        cursor = page.nextCursor;
      } while (cursor);
    }
    return { ms: performance.now() - start, studies, instances, bytes };
  }

  const results: Record<ImagingMode, number[]> = { files: [], dicomweb: [] };
  for (let r = 0; r < Number(values.repeat); r++) {
    for (const mode of ['files', 'dicomweb'] as const) {
      const res = await pullAll(mode);
      results[mode].push(res.ms);
      process.stdout.write(
        `  ${mode.padEnd(8)} run ${r + 1}: ${res.ms.toFixed(0)} ms, ${res.studies} studies, ${res.instances} instances, ${(res.bytes / 1e6).toFixed(1)} MB\n`,
      );
    }
  }
  const f = median(results.files);
  const d = median(results.dicomweb);
  process.stdout.write(
    `median: files ${f.toFixed(0)} ms (${((uploaded.instances / f) * 1000).toFixed(0)} instances/s), dicomweb ${d.toFixed(0)} ms (${((uploaded.instances / d) * 1000).toFixed(0)} instances/s); dicomweb/files ${(d / f).toFixed(2)}\n`,
  );
  await server.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
