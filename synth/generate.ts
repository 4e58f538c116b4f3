/**
 * `tributary synth`: generate N patients at each of the first K institutions of the registry, every source in the
 * institution's own format, plus ground-truth.json. Deterministic: same seed, same options → byte-identical files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadInstitutionRegistry } from '../platform/institutions';
import { TributaryError } from '../platform/errors';
import {
  sendsAll,
  sourceKinds,
  type FullInstitution,
  type Institution,
  type InstitutionRegistry,
} from '../schemas/institution';
import type { GroundTruth } from '../schemas/ground-truth';
import { buildWorld } from './model';
import { Sink } from './sink';
import { writeFhirEhr } from './ehr-fhir';
import { writeHl7Ehr } from './ehr-hl7';
import { writeHisEhr } from './ehr-his';
import { writeImaging } from './imaging';
import { writeWearable } from './wearable';
import { writeDrugLabels } from './druglabel';
import { writeInsurance } from './insurance';

export const GROUND_TRUTH_FILE = 'ground-truth.json';

export interface SynthOptions {
  out: string;
  seed: string;
  patients: number;
  /** The first K institutions of the registry, or these ids. Default: all. */
  institutions?: number | string[];
  registry?: InstitutionRegistry;
  /** Share of each institution's patients who also attend an earlier institution of the same locale (0.2). */
  overlapShare?: number;
  /** Replace an earlier generator output in `out` (only a folder holding ground-truth.json is ever removed). */
  force?: boolean;
}

export interface SynthResult {
  groundTruth: GroundTruth;
  files: number;
  bytes: number;
}

export function selectInstitutions(
  registry: InstitutionRegistry,
  which: SynthOptions['institutions'],
): FullInstitution[] {
  const picked = pickInstitutions(registry, which);
  // The generator writes every source kind of each institution it makes, and its ground truth counts them all.
  const partial = picked.find((inst) => !sendsAll(inst));
  if (partial)
    throw new TributaryError(
      `institution ${partial.id} does not send every source kind (${sourceKinds.join(', ')}): synth generates all five`,
      { code: 'invalid', location: '--institutions', nonRetryable: true },
    );
  return picked as FullInstitution[];
}

function pickInstitutions(registry: InstitutionRegistry, which: SynthOptions['institutions']): Institution[] {
  const all = registry.institutions;
  if (which === undefined) return all;
  if (typeof which === 'number') {
    if (!Number.isInteger(which) || which < 1 || which > all.length) {
      throw new TributaryError(`--institutions must be between 1 and ${all.length}`, {
        code: 'invalid',
        location: '--institutions',
        nonRetryable: true,
      });
    }
    return all.slice(0, which);
  }
  return which.map((id) => {
    const inst = all.find((i) => i.id === id);
    if (!inst)
      throw new TributaryError(
        `unknown institution id in --institutions (position ${which.indexOf(id) + 1})`,
        { code: 'invalid', location: '--institutions', nonRetryable: true },
      );
    return inst;
  });
}

function prepareOut(out: string, force: boolean): void {
  if (fs.existsSync(out)) {
    const entries = fs.readdirSync(out);
    if (entries.length > 0) {
      if (!force)
        throw new TributaryError(
          `output folder ${out} is not empty (use --force to replace an earlier synth output)`,
          { code: 'invalid', location: out, nonRetryable: true },
        );
      if (!entries.includes(GROUND_TRUTH_FILE))
        throw new TributaryError(
          `refusing to clear ${out}: it does not hold an earlier synth output (${GROUND_TRUTH_FILE})`,
          { code: 'invalid', location: out, nonRetryable: true },
        );
      fs.rmSync(out, { recursive: true, force: true });
    }
  }
  fs.mkdirSync(out, { recursive: true });
}

export function generateSynth(opts: SynthOptions): SynthResult {
  if (!Number.isInteger(opts.patients) || opts.patients < 1)
    throw new TributaryError('--patients must be a positive integer', {
      code: 'invalid',
      location: '--patients',
      nonRetryable: true,
    });
  if (!opts.seed)
    throw new TributaryError('--seed must not be empty', {
      code: 'invalid',
      location: '--seed',
      nonRetryable: true,
    });
  const registry = opts.registry ?? loadInstitutionRegistry();
  const institutions = selectInstitutions(registry, opts.institutions);
  prepareOut(opts.out, opts.force ?? false);
  const world = buildWorld({
    seed: opts.seed,
    institutions,
    patients: opts.patients,
    overlapShare: opts.overlapShare,
  });
  const sink = new Sink(opts.out);
  for (const inst of institutions) {
    const regs = world.registrations.get(inst.id) ?? [];
    if (inst.ehr.format === 'fhir-api') writeFhirEhr(world, inst.id, regs, sink);
    else if (inst.ehr.format === 'hl7v2') writeHl7Ehr(world, inst.id, regs, sink);
    else writeHisEhr(world, inst.id, regs, sink);
    writeImaging(world, inst.id, regs, sink);
    writeWearable(world, inst.id, regs, sink);
    writeDrugLabels(opts.seed, inst, sink);
    writeInsurance(opts.seed, inst, sink);
  }
  const mrnOf = new Map<string, { institution: string; mrn: string }[]>();
  for (const inst of institutions) {
    for (const reg of world.registrations.get(inst.id) ?? []) {
      mrnOf.set(reg.person.id, [...(mrnOf.get(reg.person.id) ?? []), { institution: inst.id, mrn: reg.mrn }]);
    }
  }
  const groundTruth: GroundTruth = {
    version: 1,
    seed: opts.seed,
    patientsPerInstitution: opts.patients,
    institutions: institutions.map((i) => i.id),
    persons: world.persons.map((p) => ({
      person: p.id,
      nationalId: p.nationalId,
      nationalIdType: p.nationalIdType,
      attends: mrnOf.get(p.id) ?? [],
    })),
    expected: sink.expected,
    planted: sink.planted,
    burnedIn: sink.burnedIn,
    malformedRecords: sink.malformedRecords,
  };
  sink.write(GROUND_TRUTH_FILE, serializeGroundTruth(groundTruth));
  sink.write('institutions.json', JSON.stringify({ version: 1, institutions }, null, 2) + '\n');
  const { files, bytes } = folderSize(opts.out);
  return { groundTruth, files, bytes };
}

/** One array element per line: diff-friendly and streamable, still one JSON document. */
export function serializeGroundTruth(gt: GroundTruth): string {
  const arr = (items: unknown[]) =>
    items.length ? `[\n${items.map((x) => JSON.stringify(x)).join(',\n')}\n]` : '[]';
  return (
    `{"version":${gt.version},"seed":${JSON.stringify(gt.seed)},"patientsPerInstitution":${gt.patientsPerInstitution},` +
    `"institutions":${JSON.stringify(gt.institutions)},\n"persons":${arr(gt.persons)},\n"expected":${arr(gt.expected)},\n` +
    `"burnedIn":${arr(gt.burnedIn)},\n"malformedRecords":${arr(gt.malformedRecords)},\n"planted":${arr(gt.planted)}}\n`
  );
}

export function folderSize(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) {
      files++;
      bytes += fs.statSync(path.join(entry.parentPath, entry.name)).size;
    }
  }
  return { files, bytes };
}
