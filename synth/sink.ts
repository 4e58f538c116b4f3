/** Where generated files go, and the manifest of what was planted in them. */
import fs from 'node:fs';
import path from 'node:path';
import type {
  PhiType,
  PlantedValue,
  ExpectedCount,
  BurnedInText,
  MalformedRecord,
} from '../schemas/ground-truth';
import type { SourceKind } from '../schemas/institution';

export class Sink {
  readonly planted: PlantedValue[] = [];
  readonly expected: ExpectedCount[] = [];
  readonly burnedIn: BurnedInText[] = [];
  readonly malformedRecords: MalformedRecord[] = [];
  private readonly dirs = new Set<string>();
  private readonly plantedKeys = new Set<string>();

  constructor(readonly outDir: string) {}

  write(rel: string, data: string | Uint8Array): void {
    const abs = path.join(this.outDir, rel);
    const dir = path.dirname(abs);
    if (!this.dirs.has(dir)) {
      fs.mkdirSync(dir, { recursive: true });
      this.dirs.add(dir);
    }
    fs.writeFileSync(abs, data);
  }

  plant(
    p: {
      institution: string;
      source: SourceKind;
      file: string;
      record: string;
      path: string;
      person: string;
    },
    value: string | undefined,
    type: PhiType,
  ): void {
    if (!value) return;
    // A value repeating for the same person, file and path (PID in every message, MRN on every lab row) is
    // listed once, on the first record it appears in: the manifest stays proportional to what is distinct.
    const key = `${p.file}\u0000${p.person}\u0000${p.path}\u0000${type}\u0000${value}`;
    if (this.plantedKeys.has(key)) return;
    this.plantedKeys.add(key);
    this.planted.push({
      value,
      type,
      institution: p.institution,
      source: p.source,
      file: p.file,
      record: p.record,
      path: p.path,
      person: p.person,
    });
  }

  count(e: Omit<ExpectedCount, 'duplicates'> & { duplicates?: number }): void {
    this.expected.push({ duplicates: 0, ...e });
  }

  malformed(m: MalformedRecord): void {
    this.malformedRecords.push(m);
  }
}

/** A planting context bound to one record. */
export function at(
  sink: Sink,
  base: { institution: string; source: SourceKind; file: string; record: string; person: string },
) {
  return (p: string, value: string | undefined, type: PhiType) =>
    sink.plant({ ...base, path: p }, value, type);
}
