/**
 * Reads a synth output back, independently of how it was written: recounts records per institution and source,
 * and checks that every planted value is where the manifest says. Used by tests and by `tributary synth verify`.
 */
import fs from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { parse as parseCsv } from 'csv-parse/sync';
import { XMLParser } from 'fast-xml-parser';
import { groundTruthSchema, type GroundTruth, type PlantedValue } from '../schemas/ground-truth';
import type { Institution } from '../schemas/institution';
import { institutionRegistrySchema } from '../schemas/institution';
import { parseAtEdge } from '../platform/config';
import { TributaryError } from '../platform/errors';
import { GROUND_TRUTH_FILE } from './generate';

export function readGroundTruth(dir: string): GroundTruth {
  const file = path.join(dir, GROUND_TRUTH_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TributaryError(`${file}: ${(e as Error).message}`, {
      code: 'invalid',
      location: file,
      nonRetryable: true,
    });
  }
  return parseAtEdge(groundTruthSchema, raw, file);
}

export function readSynthInstitutions(dir: string): Institution[] {
  const file = path.join(dir, 'institutions.json');
  return parseAtEdge(institutionRegistrySchema, JSON.parse(fs.readFileSync(file, 'utf8')), file).institutions;
}

/** Every file under dir (relative paths, sorted). */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

const HL7_UNESCAPE: Record<string, string> = {
  F: '|',
  S: '^',
  R: '~',
  E: '\\',
  T: '&',
  X0D: '\r',
  X0A: '\n',
};

export function unescapeHl7(s: string): string {
  return s.replace(/\\(F|S|R|E|T|X0D|X0A)\\/g, (_, k: string) => HL7_UNESCAPE[k]);
}

/** HL7 messages of a feed file: a message starts at each segment beginning with MSH. */
/** A batch file's messages, without its envelope (FHS, BHS, BTS, FTS). */
export function splitHl7Messages(text: string): string[] {
  const segments = text.split(/\r\n?|\n/);
  const messages: string[] = [];
  for (const seg of segments) {
    if (/^[FB][HT]S(\||$)/.test(seg)) continue;
    if (seg.startsWith('MSH|')) messages.push(seg);
    else if (seg !== '' && messages.length) messages[messages.length - 1] += '\r' + seg;
  }
  return messages;
}

export function hl7ControlId(message: string): string | undefined {
  const msh = message.split('\r')[0].split('|');
  return msh[9] || undefined;
}

function readCsvRows(file: string, encoding: string): { header: string[]; rows: string[][] } {
  const text =
    encoding === 'gbk' ? iconv.decode(fs.readFileSync(file), 'gbk') : fs.readFileSync(file, 'utf8');
  const all = parseCsv(text, { relax_column_count: true, bom: true }) as string[][];
  return { header: all[0] ?? [], rows: all.slice(1) };
}

const xmlParser = new XMLParser({ ignoreAttributes: false, processEntities: true });

/** Records per source of one institution, counted from the files: the sources it sends. */
export function countRecords(dir: string, inst: Institution): Record<string, number> {
  const base = path.join(dir, inst.id);
  const files = (sub: string) => listFiles(path.join(base, sub)).map((f) => path.join(base, sub, f));
  const out: Record<string, number> = {};
  const { ehr, wearable, druglabel, insurance } = inst;
  if (ehr?.format === 'fhir-api')
    out.ehr = files('ehr/fhir').reduce(
      (n, f) => n + fs.readFileSync(f, 'utf8').split('\n').filter(Boolean).length,
      0,
    );
  else if (ehr?.format === 'hl7v2')
    out.ehr = files('ehr/hl7v2').reduce((n, f) => n + splitHl7Messages(fs.readFileSync(f, 'utf8')).length, 0);
  else if (ehr) out.ehr = files('ehr/his').reduce((n, f) => n + readCsvRows(f, ehr.encoding).rows.length, 0);
  if (inst.imaging) out.imaging = files('imaging').filter((f) => f.endsWith('.dcm')).length;
  const wf = files('wearable');
  if (wearable?.format === 'openmhealth')
    out.wearable = wf.reduce((n, f) => n + (JSON.parse(fs.readFileSync(f, 'utf8')) as unknown[]).length, 0);
  else if (wearable?.format === 'vendor-wearable')
    out.wearable = wf.reduce(
      (n, f) => n + (JSON.parse(fs.readFileSync(f, 'utf8')) as { samples: unknown[] }).samples.length,
      0,
    );
  else if (wearable)
    out.wearable = wf.reduce((n, f) => {
      const doc = xmlParser.parse(fs.readFileSync(f, 'utf8')) as { HealthData: { Record?: unknown } };
      const rec = doc.HealthData.Record;
      return n + (Array.isArray(rec) ? rec.length : rec ? 1 : 0);
    }, 0);
  const lf = files('druglabel');
  if (druglabel)
    out.druglabel =
      druglabel.format === 'openfda'
        ? (JSON.parse(fs.readFileSync(lf[0], 'utf8')) as { results: unknown[] }).results.length
        : lf.length;
  if (insurance) {
    const cf = files('insurance')[0];
    const cat = JSON.parse(fs.readFileSync(cf, 'utf8')) as { data?: { list: unknown[] }; entry?: unknown[] };
    out.insurance = insurance.format === 'nrdl' ? (cat.data?.list.length ?? 0) : (cat.entry?.length ?? 0);
  }
  return out;
}

function collectStrings(v: unknown, out: string[]): void {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => collectStrings(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => collectStrings(x, out));
}

/** The text a planted value must be found in: the record when the format has addressable records, else the file. */
export class RecordTexts {
  private cache = new Map<string, Map<string, string>>();
  private fileCache = new Map<string, string>();
  constructor(
    private readonly dir: string,
    private readonly encodings: Map<string, string>,
  ) {}

  textOf(p: PlantedValue): string | undefined {
    const abs = path.join(this.dir, p.file);
    if (p.file.endsWith('.ndjson')) return this.records(p.file, () => this.fhirRecords(abs)).get(p.record);
    if (p.file.endsWith('.hl7')) return this.records(p.file, () => this.hl7Records(abs)).get(p.record);
    if (p.file.endsWith('.csv'))
      return this.records(p.file, () =>
        this.csvRecords(abs, this.encodings.get(p.institution) ?? 'utf-8', p.file),
      ).get(`${p.record}\u0000${p.path}`);
    if (!this.fileCache.has(abs)) {
      const bytes = fs.readFileSync(abs);
      // DICOM strings are UTF-8 (ISO_IR 192) or Latin-1; JSON, XML and text are UTF-8.
      this.fileCache.set(
        abs,
        p.file.endsWith('.dcm')
          ? bytes.toString('utf8') + '\n' + bytes.toString('latin1')
          : bytes
              .toString('utf8')
              .replace(/&apos;/g, "'")
              .replace(/&quot;/g, '"')
              .replace(/&lt;/g, '<')
              .replace(/&gt;/g, '>')
              .replace(/&amp;/g, '&'),
      );
    }
    return this.fileCache.get(abs);
  }

  private records(file: string, build: () => Map<string, string>): Map<string, string> {
    let m = this.cache.get(file);
    if (!m) {
      m = build();
      this.cache.set(file, m);
    }
    return m;
  }

  private fhirRecords(abs: string): Map<string, string> {
    const m = new Map<string, string>();
    for (const line of fs.readFileSync(abs, 'utf8').split('\n').filter(Boolean)) {
      const r = JSON.parse(line) as {
        resourceType: string;
        id: string;
        content?: { attachment?: { data?: string } }[];
      };
      const strings: string[] = [];
      collectStrings(r, strings);
      for (const c of r.content ?? [])
        if (c.attachment?.data) strings.push(Buffer.from(c.attachment.data, 'base64').toString('utf8'));
      m.set(`${r.resourceType}/${r.id}`, strings.join('\n'));
    }
    return m;
  }

  private hl7Records(abs: string): Map<string, string> {
    const m = new Map<string, string>();
    splitHl7Messages(fs.readFileSync(abs, 'utf8')).forEach((msg, i) => {
      const text = unescapeHl7(msg);
      m.set(`message#${i + 1}`, text);
      const id = hl7ControlId(msg);
      if (id && !m.has(id)) m.set(id, text);
    });
    return m;
  }

  private csvRecords(abs: string, encoding: string, rel: string): Map<string, string> {
    const m = new Map<string, string>();
    const { header, rows } = readCsvRows(abs, encoding);
    const name = path.basename(rel);
    rows.forEach((row, i) => header.forEach((h, c) => m.set(`${name}#${i + 1}\u0000${h}`, row[c] ?? '')));
    return m;
  }
}

export interface VerifyReport {
  checkedPlanted: number;
  missingPlanted: { index: number; file: string; record: string; path: string; type: string }[];
  countMismatches: { institution: string; source: string; expected: number; found: number }[];
}

/** Check the manifest against the files. Problems are reported by position and location, never by value. */
export function verifySynthOutput(dir: string): VerifyReport {
  const gt = readGroundTruth(dir);
  const institutions = readSynthInstitutions(dir);
  const encodings = new Map(institutions.map((i) => [i.id, i.ehr?.encoding ?? 'utf-8']));
  const texts = new RecordTexts(dir, encodings);
  const missingPlanted: VerifyReport['missingPlanted'] = [];
  gt.planted.forEach((p, index) => {
    if (p.path === 'pixels') {
      if (!gt.burnedIn.some((b) => b.sopInstanceUid === p.record && b.text === p.value))
        missingPlanted.push({ index, file: p.file, record: p.record, path: p.path, type: p.type });
      return;
    }
    const text = texts.textOf(p);
    if (text === undefined || !text.includes(p.value))
      missingPlanted.push({ index, file: p.file, record: p.record, path: p.path, type: p.type });
  });
  const countMismatches: VerifyReport['countMismatches'] = [];
  for (const inst of institutions) {
    const found = countRecords(dir, inst);
    for (const e of gt.expected.filter((x) => x.institution === inst.id)) {
      if (found[e.source] !== e.records)
        countMismatches.push({
          institution: inst.id,
          source: e.source,
          expected: e.records,
          found: found[e.source] ?? 0,
        });
    }
  }
  return { checkedPlanted: gt.planted.length, missingPlanted, countMismatches };
}
