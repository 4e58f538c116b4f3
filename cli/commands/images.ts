import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { toError } from '../../platform/errors';
import { denoiseDicom, loadDenoiseConfig } from '../../imaging/denoise';
import { listFiles } from '../../imaging/deid-files';
import { renderPreviews } from '../../imaging/preview';

/** Quarantined originals still carry PHI: never denoise or preview them. */
function dicomFilesOutsideQuarantine(inPath: string): string[] {
  return listFiles(inPath).filter(
    (f) => f.endsWith('.dcm') && !path.relative(inPath, f).split(path.sep).includes('quarantine'),
  );
}

/** `tributary images denoise|preview`: run on de-identified DICOM files (outputs carry no names from the input). */
export function registerImages(program: Command): void {
  const images = program
    .command('images')
    .description('denoise DICOM images at full bit depth; render PNG previews for annotators');

  images
    .command('denoise')
    .description(
      'median or gaussian denoising per modality (config/dicom/denoise.json); writes derived DICOM files',
    )
    .requiredOption('--in <path>', 'a DICOM file or a directory of them')
    .requiredOption('--out <dir>', 'output directory: <new SOP Instance UID>.dcm and denoise-report.json')
    .option('--config <file>', 'per-modality denoising configuration')
    .addHelpText('after', '\nExample:\n  npx tributary images denoise --in out/dicom --out out/denoised')
    .action(async (opts: { in: string; out: string; config?: string }) => {
      const config = loadDenoiseConfig(opts.config);
      fs.mkdirSync(opts.out, { recursive: true });
      const files = dicomFilesOutsideQuarantine(opts.in);
      const results: unknown[] = [];
      let failed = 0;
      let skipped = 0;
      for (const file of files) {
        const rel = path.relative(fs.statSync(opts.in).isFile() ? path.dirname(opts.in) : opts.in, file);
        try {
          const r = await denoiseDicom(fs.readFileSync(file), { config, where: rel });
          if (r.provenance.noPixelData) {
            skipped++;
            results.push({ input: rel, status: 'skipped', reason: 'no pixel data' });
            continue;
          }
          const name = `${r.provenance.sopInstanceUid}.dcm`;
          fs.writeFileSync(path.join(opts.out, name), r.bytes);
          results.push({ input: rel, status: 'ok', output: name, provenance: r.provenance });
        } catch (e) {
          failed++;
          results.push({ input: rel, status: 'failed', reason: toError(e).message });
        }
      }
      fs.writeFileSync(
        path.join(opts.out, 'denoise-report.json'),
        JSON.stringify({ files: results }, null, 2) + '\n',
      );
      process.stdout.write(
        `${files.length} files: ${files.length - failed - skipped} denoised, ${skipped} without pixel data, ${failed} failed; report: ${opts.out}/denoise-report.json\n`,
      );
      if (failed) process.exitCode = 3;
    });

  images
    .command('preview')
    .description('windowed 8-bit PNG previews with CLAHE (a few frames of multi-frame images)')
    .requiredOption('--in <path>', 'a DICOM file or a directory of them')
    .requiredOption('--out <dir>', 'output directory: <SOP Instance UID>-<frame>.png')
    .option('--frames <n>', 'at most this many frames per image', '4')
    .option('--no-clahe', 'window only, no contrast enhancement')
    .addHelpText(
      'after',
      '\nExample:\n  npx tributary images preview --in out/dicom --out out/previews --frames 2',
    )
    .action(async (opts: { in: string; out: string; frames: string; clahe: boolean }) => {
      fs.mkdirSync(opts.out, { recursive: true });
      const files = dicomFilesOutsideQuarantine(opts.in);
      let written = 0;
      let failed = 0;
      for (const file of files) {
        const rel = path.relative(fs.statSync(opts.in).isFile() ? path.dirname(opts.in) : opts.in, file);
        try {
          const pngs = await renderPreviews(fs.readFileSync(file), {
            maxFrames: Number(opts.frames),
            clahe: opts.clahe,
            where: rel,
          });
          const stem = path.basename(file, '.dcm');
          pngs.forEach((p, i) => fs.writeFileSync(path.join(opts.out, `${stem}-${i + 1}.png`), p));
          written += pngs.length;
        } catch (e) {
          failed++;
          process.stderr.write(`tributary: ${toError(e).message}\n`);
        }
      }
      process.stdout.write(`${files.length} files: ${written} previews written, ${failed} failed\n`);
      if (failed) process.exitCode = 3;
    });
}
