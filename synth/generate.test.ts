import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync } from 'node:child_process';
import iconv from 'iconv-lite';
import { parse as parseCsv } from 'csv-parse/sync';
import { XMLValidator } from 'fast-xml-parser';
import dicomParser from 'dicom-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSynth } from './generate';
import { listFiles, readGroundTruth, splitHl7Messages, verifySynthOutput } from './verify';
import { isValidResidentId } from './identity';
import { loadHisMapping } from './ehr-his';
import { validateFhirResource } from '../mappers/validate';
import { collectFeedMessages } from './push';
import type { GroundTruth } from '../schemas/ground-truth';

const PATIENTS = 4;
let root: string;
let dirA: string;
let gt: GroundTruth;

function hashTree(dir: string): Map<string, string> {
  return new Map(
    listFiles(dir).map((f) => [
      f,
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(path.join(dir, f)))
        .digest('hex'),
    ]),
  );
}

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'synth-test-'));
  dirA = path.join(root, 'a');
  generateSynth({ out: dirA, seed: 'unit-seed', patients: PATIENTS });
  gt = readGroundTruth(dirA);
});

afterAll(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe('determinism', () => {
  it('writes byte-identical output for the same seed, and different output for another seed', () => {
    const dirB = path.join(root, 'b');
    const dirC = path.join(root, 'c');
    generateSynth({ out: dirB, seed: 'unit-seed', patients: PATIENTS });
    generateSynth({ out: dirC, seed: 'other-seed', patients: PATIENTS });
    const a = hashTree(dirA);
    const b = hashTree(dirB);
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [f, h] of a) expect(b.get(f), f).toBe(h);
    const c = hashTree(dirC);
    expect(c.get('ground-truth.json')).not.toBe(a.get('ground-truth.json'));
  });

  it('refuses a non-empty folder without --force and only clears earlier synth output', () => {
    expect(() => generateSynth({ out: dirA, seed: 'unit-seed', patients: 1 })).toThrow(/not empty/);
    const other = path.join(root, 'not-synth');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'keep.txt'), 'x');
    expect(() => generateSynth({ out: other, seed: 's', patients: 1, force: true })).toThrow(
      /does not hold an earlier synth output/,
    );
    expect(fs.existsSync(path.join(other, 'keep.txt'))).toBe(true);
  });
});

describe('ground truth', () => {
  it('covers all 18 institutions and every source of each', () => {
    expect(gt.institutions).toHaveLength(18);
    for (const inst of gt.institutions) {
      const sources = gt.expected
        .filter((e) => e.institution === inst)
        .map((e) => e.source)
        .sort();
      expect(sources).toEqual(['druglabel', 'ehr', 'imaging', 'insurance', 'wearable']);
    }
  });

  it('matches the files: every planted value is in its record, every expected count is what the files hold', () => {
    const report = verifySynthOutput(dirA);
    expect(report.checkedPlanted).toBeGreaterThan(1000);
    expect(report.missingPlanted).toEqual([]);
    expect(report.countMismatches).toEqual([]);
  });

  it('plants every protected-value type the brief names', () => {
    const types = new Set(gt.planted.map((p) => p.type));
    for (const t of [
      'name',
      'national-id',
      'mrn',
      'phone',
      'email',
      'address',
      'postal-code',
      'date',
      'birth-date',
      'url',
      'device-serial',
      'hospital',
      'doctor',
      'accession',
      'uid',
    ]) {
      expect(types.has(t as never), t).toBe(true);
    }
    const values = gt.planted.map((p) => p.value);
    expect(
      values.some((v) => /[０-９]{5}/.test(v)),
      'full-width digits',
    ).toBe(true);
    expect(
      values.some((v) => /^\d{6} \d{8} \d{3}[\dX]$/.test(v)),
      'resident ID split by spaces',
    ).toBe(true);
    expect(
      values.some((v) => /^\d{4}年\d{1,2}月\d{1,2}日$/.test(v)),
      '2024年3月5日',
    ).toBe(true);
    expect(
      values.some((v) => /^[A-Z][a-z]{2} \d{1,2}$/.test(v)),
      'Mar 5',
    ).toBe(true);
  });

  it('lists malformed records, and they are malformed in the files', () => {
    expect(gt.malformedRecords.length).toBeGreaterThanOrEqual(18);
    for (const e of gt.expected)
      expect(
        gt.malformedRecords.filter((m) => m.institution === e.institution && m.source === e.source),
      ).toHaveLength(e.malformed);
    const hl7 = gt.malformedRecords.find((m) => m.file.endsWith('.hl7'));
    expect(hl7).toBeDefined();
    const msgs = splitHl7Messages(fs.readFileSync(path.join(dirA, hl7!.file), 'utf8'));
    const n = Number(hl7!.record.replace('message#', ''));
    expect(msgs[n - 1].split('|').length).toBeLessThan(10);
  });
});

describe('linkable patients across institutions', () => {
  it('has persons at two or three institutions with one national ID and different MRNs', () => {
    const multi = gt.persons.filter((p) => p.attends.length >= 2);
    expect(multi.length).toBeGreaterThan(0);
    expect(Math.max(...gt.persons.map((p) => p.attends.length))).toBeLessThanOrEqual(3);
    for (const p of multi) {
      expect(new Set(p.attends.map((a) => a.institution)).size).toBe(p.attends.length);
      expect(new Set(p.attends.map((a) => a.mrn)).size).toBe(p.attends.length);
    }
    for (const p of gt.persons) {
      if (p.nationalIdType === 'cn-resident-id') expect(isValidResidentId(p.nationalId!)).toBe(true);
      else expect(p.nationalId).toMatch(/^\d{3}-\d{2}-\d{4}$/);
    }
  });

  it('writes the same national ID in each institution’s own record of a shared person', () => {
    const multi = gt.persons.filter((p) => p.attends.length >= 2);
    for (const p of multi) {
      const ids = gt.planted.filter(
        (x) =>
          x.person === p.person &&
          x.type === 'national-id' &&
          x.source === 'ehr' &&
          !/note|OBX|text|内容|Note Text|attachment/.test(x.path),
      );
      const institutions = new Set(ids.map((x) => x.institution));
      expect(institutions.size).toBe(p.attends.length);
      for (const x of ids) expect(x.value).toBe(p.nationalId);
    }
  });
});

describe('formats parse with independent parsers', () => {
  it('FHIR resources validate (except the one planted malformed per institution)', () => {
    const malformed = new Set(gt.malformedRecords.map((m) => m.record));
    let checked = 0;
    for (const f of listFiles(dirA).filter((x) => x.endsWith('.ndjson'))) {
      for (const line of fs.readFileSync(path.join(dirA, f), 'utf8').split('\n').filter(Boolean)) {
        const r = JSON.parse(line);
        const issues = validateFhirResource(r).filter(
          (i) => i.severity === 'error' || i.severity === 'fatal',
        );
        if (malformed.has(`${r.resourceType}/${r.id}`))
          expect(issues.length, `${r.resourceType}/${r.id}`).toBeGreaterThan(0);
        else
          expect(
            issues.map(
              (i) =>
                `${r.resourceType}/${r.id} ${i.code} ${(i.expression ?? []).join(',')} ${i.diagnostics ?? ''}`,
            ),
          ).toEqual([]);
        checked++;
      }
    }
    for (const f of listFiles(dirA).filter((x) => x.endsWith('formulary-bundle.json'))) {
      const bundle = JSON.parse(fs.readFileSync(path.join(dirA, f), 'utf8'));
      expect(validateFhirResource(bundle).filter((i) => i.severity === 'error')).toEqual([]);
      checked++;
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('DICOM files dump with dcmtk and parse with dicom-parser', () => {
    const dcms = listFiles(dirA).filter((x) => x.endsWith('.dcm'));
    expect(dcms.length).toBeGreaterThanOrEqual(18);
    // dcmdump over every file at once (one process): exit status 0 means every file parsed.
    const out = execFileSync('dcmdump', ['-q', '+L', ...dcms.map((f) => path.join(dirA, f))], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    expect(out.match(/\(0010,0010\) PN/g)?.length).toBe(dcms.length);
    for (const f of dcms) {
      const ds = dicomParser.parseDicom(new Uint8Array(fs.readFileSync(path.join(dirA, f))));
      expect(ds.string('x00020010')).toBe('1.2.840.10008.1.2.1');
      expect(ds.elements.x7fe00010).toBeDefined();
    }
  });

  it('burns the patient name into every ultrasound frame inside the recorded box', () => {
    expect(gt.burnedIn.length).toBeGreaterThan(0);
    for (const b of gt.burnedIn) {
      const bytes = fs.readFileSync(path.join(dirA, b.file));
      const ds = dicomParser.parseDicom(new Uint8Array(bytes));
      const rows = ds.uint16('x00280010')!;
      const cols = ds.uint16('x00280011')!;
      const px = ds.elements.x7fe00010;
      for (const f of b.frames) {
        let inBox = 0;
        let outside = 0;
        for (let y = 0; y < rows; y++) {
          for (let x = 0; x < cols; x++) {
            if (bytes[px.dataOffset + f * rows * cols + y * cols + x] !== 255) continue;
            if (x >= b.box.x && x < b.box.x + b.box.width && y >= b.box.y && y < b.box.y + b.box.height)
              inBox++;
            else outside++;
          }
        }
        expect(inBox).toBeGreaterThan(20);
        expect(outside).toBe(0);
      }
    }
  });

  it('SPL and Apple Health XML are well-formed', () => {
    const xmls = listFiles(dirA).filter((x) => x.endsWith('.xml'));
    expect(xmls.some((x) => x.includes('/spl/'))).toBe(true);
    expect(xmls.some((x) => x.endsWith('export.xml'))).toBe(true);
    for (const f of xmls)
      expect(XMLValidator.validate(fs.readFileSync(path.join(dirA, f), 'utf8')), f).toBe(true);
  });

  it('HIS CSV files decode in their declared encoding and carry the mapped headers', () => {
    for (const inst of [
      'bj-union-east',
      'cd-huaxi-west',
      'wh-tongji-south',
      'nj-gulou-east',
      'pinecrest-regional',
    ]) {
      const mapping = loadHisMapping(inst);
      for (const table of Object.values(mapping.tables)) {
        const bytes = fs.readFileSync(path.join(dirA, inst, 'ehr/his', table.file));
        if (mapping.encoding === 'gbk')
          expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toThrow();
        const text = mapping.encoding === 'gbk' ? iconv.decode(bytes, 'gbk') : bytes.toString('utf8');
        expect(text).not.toContain('\ufffd');
        const rows = parseCsv(text, { relax_column_count: true }) as string[][];
        expect(rows[0]).toEqual(Object.keys(table.columns));
      }
    }
  });

  it('Chinese labels carry the required sections and a 国药准字 approval number', () => {
    const labels = listFiles(dirA).filter((x) => x.includes('/druglabel/cn/'));
    expect(labels.length).toBeGreaterThan(0);
    for (const f of labels) {
      const t = fs.readFileSync(path.join(dirA, f), 'utf8');
      for (const s of [
        '【药品名称】',
        '【成份】',
        '【适应症】',
        '【用法用量】',
        '【不良反应】',
        '【禁忌】',
        '【批准文号】',
      ])
        expect(t).toContain(s);
      expect(t).toMatch(/国药准字[HJSZ]\d{8}/);
    }
  });
});

describe('feeds to push', () => {
  it('holds every HL7 message, FHIR resource and file of the institutions, with stable ids', () => {
    const msgs = collectFeedMessages(dirA);
    const sum = (pred: (e: GroundTruth['expected'][number]) => boolean) =>
      gt.expected.filter(pred).reduce((n, e) => n + e.records, 0);
    const byTopic = (t: string) => msgs.filter((m) => m.topic === t).length;
    expect(byTopic('hl7v2')).toBe(sum((e) => e.format === 'hl7v2'));
    expect(byTopic('fhir')).toBe(sum((e) => e.format === 'fhir-api'));
    expect(byTopic('wearable')).toBe(listFiles(dirA).filter((f) => f.split('/')[1] === 'wearable').length);
    expect(byTopic('insurance')).toBe(18);
    expect(new Set(msgs.map((m) => m.messageId)).size).toBe(msgs.length);
    const hl7 = msgs.find((m) => m.topic === 'hl7v2')!;
    expect(hl7.value.toString('utf8').startsWith('MSH|^~\\&|')).toBe(true);
    expect(hl7.value.toString('utf8').endsWith('\r')).toBe(true);
  });
});
