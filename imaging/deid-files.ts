import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { KeyService } from '../deid/key-service';
import { TributaryError } from '../platform/errors';
import { deidOptionNames, type DeidOptionName, type DeidOptions } from './annex-e';
import type { MaskRule } from './burned-in';
import type { FrameDecoders } from './codecs';
import { deidentifyDicom, type DescriptorScrubber, type DicomDeidReport } from './dicom-deid';

/**
 * De-identify a file or a directory tree of DICOM files into `outDir`: outputs named by their new SOP Instance UID,
 * originals that cannot be made safe copied to `outDir/quarantine/` with the reason in `deid-report.json`.
 * Counts reconcile: inputs = deidentified + quarantined + skipped (not DICOM).
 */

export interface DeidFilesInput {
  inPath: string;
  outDir: string;
  keyService: KeyService;
  institution: string;
  options?: DeidOptions;
  maskRules?: MaskRule[];
  scrubDescriptor?: DescriptorScrubber;
  linkageFor?: (patientId: string) => string | undefined;
  /** Decoders for cleaning compressed images (imaging/codecs.ts loadFrameDecoders). */
  decoders?: FrameDecoders;
}

export interface DeidFilesReport {
  options: DeidOptionName[];
  counts: { inputs: number; deidentified: number; quarantined: number; skipped: number };
  files: (
    | { input: string; status: 'ok'; output: string; report: DicomDeidReport }
    | { input: string; status: 'quarantined'; rule: string; reason: string; quarantinedAs: string }
    | { input: string; status: 'skipped'; reason: string }
  )[];
}

/** Kebab-case CLI names of the Annex E options, e.g. `retain-longitudinal-modified`. */
export function parseOptionNames(names: string[]): DeidOptions {
  const options: DeidOptions = {};
  for (const raw of names) {
    if (raw === 'basic') continue;
    const camel = raw.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as DeidOptionName;
    if (!deidOptionNames.includes(camel)) {
      const known = deidOptionNames.map((o) => o.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ');
      throw new TributaryError(
        `unknown de-identification option '${raw.slice(0, 40)}' (known: basic, ${known})`,
        { code: 'invalid', location: '--option', nonRetryable: true },
      );
    }
    options[camel] = true;
  }
  return options;
}

export function listFiles(inPath: string): string[] {
  const stat = fs.statSync(inPath);
  if (stat.isFile()) return [inPath];
  const out: string[] = [];
  for (const entry of fs.readdirSync(inPath, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(path.join(entry.parentPath, entry.name));
  }
  return out.sort();
}

function looksLikeDicom(file: string, bytes: Buffer): boolean {
  return (
    file.toLowerCase().endsWith('.dcm') ||
    (bytes.length > 132 && bytes.toString('latin1', 128, 132) === 'DICM')
  );
}

export function deidentifyDicomFiles(input: DeidFilesInput): DeidFilesReport {
  const files = listFiles(input.inPath);
  const base = fs.statSync(input.inPath).isFile() ? path.dirname(input.inPath) : input.inPath;
  const quarantineDir = path.join(input.outDir, 'quarantine');
  fs.mkdirSync(input.outDir, { recursive: true });
  const report: DeidFilesReport = {
    options: deidOptionNames.filter((o) => input.options?.[o]),
    counts: { inputs: files.length, deidentified: 0, quarantined: 0, skipped: 0 },
    files: [],
  };
  const written = new Set<string>();
  for (const file of files) {
    const rel = path.relative(base, file);
    const bytes = fs.readFileSync(file);
    if (!looksLikeDicom(file, bytes)) {
      report.counts.skipped++;
      report.files.push({
        input: rel,
        status: 'skipped',
        reason: 'not DICOM: no .dcm extension and no DICM prefix',
      });
      continue;
    }
    const r = deidentifyDicom(bytes, {
      keyService: input.keyService,
      institution: input.institution,
      options: input.options,
      maskRules: input.maskRules,
      scrubDescriptor: input.scrubDescriptor,
      linkageFor: input.linkageFor,
      decoders: input.decoders,
      where: rel,
    });
    if (r.status === 'ok') {
      // The same instance can arrive twice (e.g. in two transfer syntaxes): keep both, never overwrite.
      let name = `${r.summary.sopInstanceUid}.dcm`;
      for (let n = 2; written.has(name); n++) name = `${r.summary.sopInstanceUid}-${n}.dcm`;
      written.add(name);
      fs.writeFileSync(path.join(input.outDir, name), r.bytes);
      report.counts.deidentified++;
      report.files.push({ input: rel, status: 'ok', output: name, report: r.report });
    } else {
      fs.mkdirSync(quarantineDir, { recursive: true });
      // Named by content digest: quarantined originals keep their bytes but never their (possibly identifying) names.
      const name = `${crypto.createHash('sha256').update(bytes).digest('hex').slice(0, 24)}.dcm`;
      fs.writeFileSync(path.join(quarantineDir, name), bytes);
      report.counts.quarantined++;
      report.files.push({
        input: rel,
        status: 'quarantined',
        rule: r.rule,
        reason: r.reason,
        quarantinedAs: `quarantine/${name}`,
      });
    }
  }
  fs.writeFileSync(path.join(input.outDir, 'deid-report.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}
