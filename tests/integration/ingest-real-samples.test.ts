import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatRunProblems, readRunProblems, type RunProblems } from '../../activities/run-problems';
import { openStagingStore } from '../../activities/runtime';
import { formatReconciliation } from '../../cli/commands/ingest';
import { DATA_DIR, sampleFiles } from '../../mappers/test-support/data';
import type { SourceCounts, IngestRunProgress } from '../../schemas/ingest';
import type { InstitutionRegistry } from '../../schemas/institution';
import {
  countDicomFiles,
  publishedResources,
  runOnWorld,
  serveFolder,
  type ServedWorld,
  type WorldRun,
} from './ingest-support';

/**
 * Files nobody in this project wrote, through the whole ingestion on the real Temporal server: the Tianchi check-up
 * export (GBK CSV, 1,000 people), Microsoft's 139 HL7 v2 sample messages with FDA SPL labels and the Da Vinci formulary
 * examples, the Synthea Bulk export served as a FHIR API (13 resource types), and pydicom's test files as a research
 * PACS's drop. Each institution sends only some source kinds, as real ones do. Expected counts come from the files, read here apart from the pipeline; the run must reconcile
 * them (in = published + quarantined + rejected) and refuse what it should for the reasons it should.
 */

const TIANCHI = 'tianchi-diabetes-checkup';
const CONVERTER = 'ms-converter-samples';
const PYDICOM = 'pydicom-samples';
const SYNTHEA = 'synthea-bulk-export';

const registry: InstitutionRegistry = {
  version: 1,
  institutions: [
    {
      // config/his-csv/tianchi-diabetes-checkup.json is its column layout
      id: TIANCHI,
      name: 'Tianchi diabetes check-up export (test file A)',
      locale: 'zh-CN',
      timezone: 'Asia/Shanghai',
      ehr: { format: 'his-csv', encoding: 'gbk' },
    },
    {
      id: CONVERTER,
      name: 'FHIR-Converter HL7 v2 samples, FDA labels and Da Vinci formularies',
      locale: 'en-US',
      timezone: 'America/New_York',
      ehr: { format: 'hl7v2', encoding: 'utf-8' },
      druglabel: { format: 'spl' },
      insurance: { format: 'pdex-formulary' },
    },
    {
      // served as a FHIR R4 API (search paging) by synth serve, from the Bulk export's files
      id: SYNTHEA,
      name: 'Synthea Bulk export, 10 patients',
      locale: 'en-US',
      timezone: 'America/New_York',
      ehr: { format: 'fhir-api', encoding: 'utf-8' },
    },
    {
      id: PYDICOM,
      name: 'pydicom test files as a research PACS drop',
      locale: 'en-US',
      timezone: 'UTC',
      imaging: { modalities: ['CT', 'MR'], manufacturer: 'various' },
    },
  ],
};

/** Copy a sample folder's files under `<served>/<institution>/<sub>/`, sub-folders flattened into the names. */
function place(served: string, institution: string, sub: string, sampleDir: string, ext?: string): string[] {
  const to = path.join(served, institution, sub);
  fs.mkdirSync(to, { recursive: true });
  const files = sampleFiles(sampleDir, ext);
  const root = path.join(DATA_DIR, sampleDir);
  for (const f of files) fs.copyFileSync(f, path.join(to, path.relative(root, f).split(path.sep).join('__')));
  return files;
}

const expected = {
  tianchiRows: 0,
  hl7Messages: 0,
  labels: 0,
  formularyFiles: 0,
  dicomFiles: 0,
  fhirResources: 0,
};

let world: ServedWorld;
let run: WorldRun;
let progress: IngestRunProgress;
let problems: RunProblems;
const runId = `it-real-p${process.pid}`;

beforeAll(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-real-'));
  const served = path.join(dir, 'served');
  fs.mkdirSync(served);
  fs.writeFileSync(path.join(served, 'institutions.json'), JSON.stringify(registry, null, 2));

  const tianchi = path.join(DATA_DIR, 'cn-ehr/tianchi-diabetes-checkup/d_test_A_20180102.csv');
  fs.mkdirSync(path.join(served, TIANCHI, 'ehr/his'), { recursive: true });
  fs.copyFileSync(tianchi, path.join(served, TIANCHI, 'ehr/his/checkups.csv'));
  // Rows: lines after the header that hold anything (the file ends with a newline).
  expected.tianchiRows = fs.readFileSync(tianchi, 'latin1').split(/\r?\n/).slice(1).filter(Boolean).length;

  const hl7 = place(served, CONVERTER, 'ehr/hl7v2', 'hl7v2');
  // Messages: MSH segments at the start of a line (a BOM before the first).
  expected.hl7Messages = hl7.reduce(
    (n, f) => n + (fs.readFileSync(f, 'utf8').match(/^\uFEFF?MSH\|/gm)?.length ?? 0),
    0,
  );
  expected.labels = place(served, CONVERTER, 'druglabel', 'druglabel/spl-xml').length;
  // Each a resource of its own: a plan, a drug, a formulary item (and the guide's example member and coverage).
  expected.formularyFiles = place(served, CONVERTER, 'insurance', 'formulary', '.json').length;
  expected.dicomFiles = place(served, PYDICOM, 'imaging', 'dicom', '.dcm').length;
  // One NDJSON file per type, named by it (Condition.000.ndjson is the server's Condition).
  const fhirDir = path.join(served, SYNTHEA, 'ehr/fhir');
  fs.mkdirSync(fhirDir, { recursive: true });
  for (const f of sampleFiles('fhir/bulk-ndjson-10-patients', '.ndjson').filter(
    (f) => !f.endsWith('log.ndjson'),
  )) {
    const text = fs.readFileSync(f, 'utf8');
    fs.writeFileSync(path.join(fhirDir, `${path.basename(f).split('.')[0]}.ndjson`), text);
    expected.fhirResources += text.split('\n').filter(Boolean).length;
  }

  world = await serveFolder('real', dir, served, { ownRegistry: true });
  run = await runOnWorld(world, { runId });
  progress = run.progress;
  problems = await readRunProblems(openStagingStore(world.config), runId);
  // The report an operator reads (`ingest quarantine`): rules and files, never values.
  console.log(formatRunProblems(problems, 1));
}, 900_000);

afterAll(async () => {
  await run?.stop();
  await world?.cleanup();
});

function countsOf(institution: string, source: string): SourceCounts {
  const s = progress.sources.find((x) => x.institution === institution && x.source === source);
  if (!s?.counts) throw new Error(`no counts for ${institution}/${source}`);
  return s.counts;
}

describe('ingest run over real third-party samples', () => {
  it('runs only the source kinds each institution sends, and every one completes and reconciles', () => {
    const table = formatReconciliation(progress, undefined, registry);
    console.log(table.text);
    const errors = progress.sources
      .filter((s) => s.error)
      .map((s) => `${s.institution}/${s.source}: ${s.error}`);
    expect(run.state, `${table.text}\n${errors.join('\n')}`).toBe('completed');
    expect(progress.sources.map((s) => `${s.institution}/${s.source}`).sort()).toEqual(
      [
        `${CONVERTER}/druglabel`,
        `${CONVERTER}/ehr`,
        `${CONVERTER}/insurance`,
        `${PYDICOM}/imaging`,
        `${SYNTHEA}/ehr`,
        `${TIANCHI}/ehr`,
      ].sort(),
    );
    expect(table.balanced, table.text).toBe(true);
    for (const s of progress.sources) {
      const c = s.counts!;
      expect(c.in, `${s.institution}/${s.source}`).toBe(c.published + c.quarantined + c.rejected);
    }
  });

  it('takes in every record the files hold', () => {
    expect(countsOf(TIANCHI, 'ehr').in).toBe(expected.tianchiRows);
    expect(countsOf(CONVERTER, 'ehr').in).toBe(expected.hl7Messages);
    expect(countsOf(CONVERTER, 'druglabel').in).toBe(expected.labels);
    expect(countsOf(CONVERTER, 'insurance').in).toBe(expected.formularyFiles);
    expect(countsOf(PYDICOM, 'imaging').in).toBe(expected.dicomFiles);
    expect(countsOf(SYNTHEA, 'ehr').in).toBe(expected.fhirResources);
    expect(expected.tianchiRows).toBe(1000);
    expect(expected.hl7Messages).toBeGreaterThanOrEqual(139);
  });

  it('publishes the check-up export whole, and the FHIR outputs hold no one-to-one copy of an input id', () => {
    const tianchi = countsOf(TIANCHI, 'ehr');
    expect(tianchi.published).toBe(expected.tianchiRows);
    const published = publishedResources(progress.outputDir!);
    const patients = [...published.values()].filter((r) => r.resourceType === 'Patient');
    expect(patients.length).toBeGreaterThanOrEqual(expected.tianchiRows);
  });

  it('refuses the formulary examples that describe a person, and publishes every label', () => {
    const insurance = countsOf(CONVERTER, 'insurance');
    expect(insurance.quarantined).toBeGreaterThanOrEqual(2);
    expect(insurance.published).toBeGreaterThan(0);
    const labels = countsOf(CONVERTER, 'druglabel');
    expect(labels.published).toBe(expected.labels);
  });

  it("publishes the PACS drop's clean instances once each, and quarantines the rest with their reasons", () => {
    const imaging = countsOf(PYDICOM, 'imaging');
    expect(imaging.published).toBeGreaterThan(0);
    // Every instance refused is in the run's quarantine log, for a reason this drop holds on purpose.
    const refused = problems.quarantined.filter((p) => p.institution === PYDICOM);
    expect(refused).toHaveLength(imaging.quarantined);
    const rules = new Set(refused.map((p) => p.rule));
    for (const rule of [
      'unreadable', // MR_truncated, no_meta, nested_priv_SQ
      'not-an-instance', // no SOP Instance UID (priv_SQ, UN_sequence)
      'burned-in-no-mask-rule', // ultrasound and secondary capture
      'dicom.duplicate-sop-instance-uid', // MR_small in other transfer syntaxes, other bytes once de-identified
    ])
      expect(rules, rule).toContain(rule);
    // Every pixel syntax the drop holds is decoded: the JPEG Extended 12-bit CT (msanon) was refused so until
    // imaging/jpeg-dct.ts.
    expect(rules).not.toContain('denoise.not-supported');
    // One file per SOP Instance UID, and those are the instances the published ImagingStudies list.
    const dir = path.join(progress.outputDir!, 'dicom', PYDICOM);
    const files = fs.readdirSync(dir).map((f) => f.replace(/\.dcm$/, ''));
    const listed = new Set<string>();
    for (const r of publishedResources(progress.outputDir!).values())
      if (r.resourceType === 'ImagingStudy')
        for (const series of (r as { series?: { instance?: { uid: string }[] }[] }).series ?? [])
          for (const instance of series.instance ?? []) listed.add(instance.uid);
    expect(new Set(files)).toEqual(listed);
    expect(files.length).toBeLessThanOrEqual(imaging.published);
    expect(countDicomFiles(progress.outputDir!)).toBe(files.length);
    // No EHR here: every instance is linked by its own DICOM Patient ID, and the run says so.
    expect(imaging.imagesWithoutPatient).toBeGreaterThanOrEqual(imaging.published);
    const text = formatReconciliation(progress, undefined, registry).text;
    expect(text).toContain(
      `${PYDICOM}/imaging: ${imaging.imagesWithoutPatient} DICOM instance(s) linked by their DICOM Patient ID (or Study UID): ${PYDICOM} sends no EHR`,
    );
    expect(text).not.toContain('once the EHR is in');
  });

  it("says why each record was refused, without a patient's name or identifier", () => {
    expect(problems.rejected.filter((p) => p.institution === CONVERTER && p.source === 'ehr').length).toBe(
      countsOf(CONVERTER, 'ehr').rejected,
    );
    expect(
      problems.quarantined.filter((p) => p.institution === CONVERTER && p.source === 'insurance'),
    ).toHaveLength(countsOf(CONVERTER, 'insurance').quarantined);
    for (const p of [...problems.quarantined, ...problems.rejected]) expect(p.rule).not.toBe('unknown');
    // The samples reuse order and result ids across messages with other content, as real feeds do when they correct a
    // result: the later message's work item replaces the earlier one (nobody has claimed it), counted and named.
    const hl7 = countsOf(CONVERTER, 'ehr');
    expect(hl7.itemsUpdated).toBeGreaterThan(0);
    expect(hl7.itemConflicts).toBe(0);
    const text = formatReconciliation(progress, undefined, registry).text;
    expect(text).toContain(
      `${CONVERTER}/ehr: ${hl7.itemsUpdated} work item(s) replaced by a newer version of the same record`,
    );
    // The HL7 patients' names and identifiers (PID-3, PID-5), read straight from the messages.
    const own = new Set<string>();
    for (const f of sampleFiles('hl7v2'))
      for (const line of fs.readFileSync(f, 'utf8').split(/\r?\n|\r/)) {
        if (!line.startsWith('PID|')) continue;
        const fields = line.split('|');
        for (const v of [
          ...(fields[3] ?? '').split('~').map((x) => x.split('^')[0]),
          ...(fields[5] ?? '').split('^'),
        ])
          if (v.length >= 4 && /[A-Za-z]/.test(v)) own.add(v.toLowerCase());
      }
    expect(own.size).toBeGreaterThan(40);
    const report = JSON.stringify(problems).toLowerCase();
    expect(
      [...own].filter((v) => new RegExp(`\\b${v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`).test(report)),
    ).toEqual([]);
  });
});
