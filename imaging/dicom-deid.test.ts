import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAnnexETable } from './annex-e';
import type { MaskRegion } from './burned-in';
import { lookupTag } from './dicom-dictionary';
import { loadFrameDecoders } from './codecs';
import { deidentifyDicom, shiftDicomDate } from './dicom-deid';
import { findNode, readAscii } from './dicom-model';
import { readDicom } from './dicom-read';
import { decodeFrames, readPixelInfo } from './pixels';
import { summarizeDicom } from './dicom-summary';
import { writePart10, type DicomElementInput } from './dicom-write';
import { SAMPLE_DIR, dcmdump, sampleFiles, testKeyService } from './test-support';

const keyService = testKeyService();
const INSTITUTION = 'riverside-general';
const MRN = 'MRN-PHI-0042';
const STUDY_UID = '1.2.826.0.1.3680043.10.777.1';

interface Planted {
  tag: string;
  value: string;
}

/** A file with a distinct PHI value in every Annex E attribute whose VR can carry a searchable one, nested sequences,
 * private tags and a UTF-8 name. Dates are 800 days apart so no shifted date (|offset| <= 365) can equal another. */
function phiFile(sop: string): { bytes: Buffer; planted: Planted[] } {
  const planted: Planted[] = [];
  const elements: DicomElementInput[] = [
    { tag: '(0008,0005)', vr: 'CS', value: 'ISO_IR 192' },
    { tag: '(0008,0016)', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
    { tag: '(0008,0018)', vr: 'UI', value: sop },
    { tag: '(0008,0060)', vr: 'CS', value: 'CT' },
    { tag: '(0020,000D)', vr: 'UI', value: STUDY_UID },
    { tag: '(0010,0010)', vr: 'PN', value: '张^伟=Zhang^Wei' },
    { tag: '(0010,0020)', vr: 'LO', value: MRN },
    { tag: '(0009,0010)', vr: 'LO', value: 'PHICREATORX' },
    { tag: '(0009,1001)', vr: 'LO', value: 'PHIPRIVATEVALUEX' },
    { tag: '(0009,1002)', vr: 'SQ', value: [[{ tag: '(0010,1001)', vr: 'PN', value: 'PHIPRIVSEQNAME' }]] },
  ];
  planted.push(
    { tag: '(0010,0010)', value: '张^伟' },
    { tag: '(0010,0010)', value: 'Zhang^Wei' },
    { tag: '(0010,0020)', value: MRN },
  );
  planted.push(
    { tag: '(0009,0010)', value: 'PHICREATORX' },
    { tag: '(0009,1001)', value: 'PHIPRIVATEVALUEX' },
    { tag: '(0009,1002)', value: 'PHIPRIVSEQNAME' },
  );
  const skip = new Set(['00100010', '00100020', '0020000d', '00080018']);
  let i = 0;
  for (const row of loadAnnexETable().attributes) {
    if (
      !/^[0-9a-f]{8}$/.test(row.tag) ||
      skip.has(row.tag) ||
      row.tag.startsWith('0000') ||
      row.tag.startsWith('fff')
    )
      continue;
    const vr = lookupTag('x' + row.tag)?.vr;
    if (!vr) continue;
    i++;
    const tag = `(${row.tag.slice(0, 4)},${row.tag.slice(4)})`;
    const token = `PHI${String(i).padStart(3, '0')}Q`;
    switch (vr) {
      case 'PN':
        elements.push({ tag, vr, value: `${token}^Given` });
        planted.push({ tag, value: token });
        break;
      case 'LO':
      case 'SH':
      case 'LT':
      case 'ST':
      case 'UT':
      case 'UC':
      case 'CS':
      case 'AE':
        elements.push({ tag, vr, value: token });
        planted.push({ tag, value: token });
        break;
      case 'DA': {
        const d = new Date(Date.UTC(1900, 0, 1) + i * 800 * 86_400_000)
          .toISOString()
          .slice(0, 10)
          .replace(/-/g, '');
        elements.push({ tag, vr, value: d });
        planted.push({ tag, value: d });
        break;
      }
      case 'DT': {
        const d = new Date(Date.UTC(1900, 0, 1) + i * 800 * 86_400_000)
          .toISOString()
          .slice(0, 10)
          .replace(/-/g, '');
        elements.push({ tag, vr, value: `${d}101500` });
        planted.push({ tag, value: d });
        break;
      }
      case 'UI': {
        const uid = `1.2.826.0.1.3680043.10.555.${i}`;
        elements.push({ tag, vr, value: uid });
        planted.push({ tag, value: uid });
        break;
      }
      case 'SQ':
        // PHI two levels down: the table applies at every depth.
        elements.push({
          tag,
          vr,
          value: [
            [
              { tag: '(0008,0080)', vr: 'LO', value: `${token}INST` },
              {
                tag: '(0040,A730)',
                vr: 'SQ',
                value: [
                  [
                    { tag: '(0040,A123)', vr: 'PN', value: `${token}DEEP` },
                    { tag: '(0011,0010)', vr: 'LO', value: `${token}PRIV` },
                  ],
                ],
              },
            ],
          ],
        });
        planted.push(
          { tag, value: `${token}INST` },
          { tag, value: `${token}DEEP` },
          { tag, value: `${token}PRIV` },
        );
        break;
      default:
        break; // numeric and binary values are not searchable as text
    }
  }
  return { bytes: writePart10({ elements }), planted };
}

function encodings(value: string): Buffer[] {
  const forms = new Set([value, value.toUpperCase(), value.replace(/\^/g, ' ')]);
  if (/^\d{8}$/.test(value)) forms.add(`${value.slice(0, 4)}-${value.slice(4, 6)}-${value.slice(6)}`);
  return [...forms].flatMap((f) => [
    Buffer.from(f, 'utf8'),
    Buffer.from(f, 'latin1'),
    Buffer.from(f, 'utf16le'),
  ]);
}

describe('deidentifyDicom on generated PHI', () => {
  const a = phiFile('1.2.826.0.1.3680043.10.777.1.1');
  const b = phiFile('1.2.826.0.1.3680043.10.777.1.2');
  const ra = deidentifyDicom(a.bytes, { keyService, institution: INSTITUTION, where: 'a.dcm' });
  const rb = deidentifyDicom(b.bytes, { keyService, institution: INSTITUTION, where: 'b.dcm' });

  it('plants more than 300 values across the table, sequences and private tags', () => {
    expect(a.planted.length).toBeGreaterThan(300);
  });

  it('leaves no planted value anywhere in the output bytes, in any of its encodings', () => {
    expect(ra.status).toBe('ok');
    if (ra.status !== 'ok') return;
    const leaks = a.planted
      .filter((p) => encodings(p.value).some((e) => ra.bytes.includes(e)))
      .map((p) => p.tag);
    expect(leaks).toEqual([]);
  });

  it('writes output dcmdump reads, with the de-identification attributes', () => {
    if (ra.status !== 'ok') throw new Error('expected ok');
    const dump = dcmdump(ra.bytes);
    expect(dump).toContain('(0012,0062) CS [YES]');
    expect(dump).toContain('(0028,0303) CS [MODIFIED]');
    expect(dump).toMatch(/\(0008,0100\) SH \[113100\]/);
    expect(dump).toMatch(/\(0008,0100\) SH \[113107\]/);
  });

  it('uses the key service: pseudonym, UIDs and date offset match what the FHIR side derives', () => {
    if (ra.status !== 'ok' || rb.status !== 'ok') throw new Error('expected ok');
    const linkage = keyService.linkageKey({ institution: INSTITUTION, mrn: MRN });
    expect(ra.summary.patientId).toBe(keyService.pseudonym(linkage));
    expect(ra.summary.studyInstanceUid).toBe(keyService.uid(STUDY_UID));
    expect(rb.summary.studyInstanceUid).toBe(ra.summary.studyInstanceUid);
    expect(rb.summary.sopInstanceUid).not.toBe(ra.summary.sopInstanceUid);
    // The Patient an ImagingStudy names: the one the FHIR side publishes for this linkage at this institution.
    expect(ra.summary.patientResourceId).toBe(keyService.patientId(INSTITUTION, linkage));
    expect(ra.summary.linkedBy).toBe('patient-id');
    // the summary read back from the output file agrees with the one returned (the file holds no Patient resource id)
    expect({
      ...summarizeDicom(ra.bytes),
      patientResourceId: ra.summary.patientResourceId,
      linkedBy: 'patient-id',
    }).toEqual(ra.summary);
    const nodes = readDicom(ra.bytes).nodes;
    const studyDate = a.planted.find((p) => p.tag === '(0008,0020)')!.value;
    expect(readAscii(nodes, 'x00080020')).toBe(
      shiftDicomDate(studyDate, 'DA', keyService.dateOffsetDays(linkage)),
    );
  });

  it('follows linkageFor when the patient index resolves the MRN', () => {
    const linkage = keyService.linkageKey({ institution: 'other', nationalId: '110101199003071234' });
    const r = deidentifyDicom(a.bytes, { keyService, institution: INSTITUTION, linkageFor: () => linkage });
    if (r.status !== 'ok') throw new Error('expected ok');
    expect(r.summary.patientId).toBe(keyService.pseudonym(linkage));
    expect(r.report.linkedBy).toBe('patient-index');
    expect(r.summary).toMatchObject({
      linkedBy: 'patient-index',
      patientResourceId: keyService.patientId(INSTITUTION, linkage),
    });
  });

  it('keeps full dates with Retain Longitudinal Full Dates and UIDs with Retain UIDs', () => {
    const r = deidentifyDicom(a.bytes, {
      keyService,
      institution: INSTITUTION,
      options: { retainLongitudinalFull: true, retainUids: true },
    });
    if (r.status !== 'ok') throw new Error('expected ok');
    const nodes = readDicom(r.bytes).nodes;
    expect(readAscii(nodes, 'x00080020')).toBe(a.planted.find((p) => p.tag === '(0008,0020)')!.value);
    expect(readAscii(nodes, 'x0020000d')).toBe(STUDY_UID);
    expect(readAscii(nodes, 'x00280303')).toBe('UNMODIFIED');
  });

  it('scrubs descriptors through the given scrubber instead of removing them', () => {
    const seen: string[][] = [];
    const r = deidentifyDicom(a.bytes, {
      keyService,
      institution: INSTITUTION,
      scrubDescriptor: (text, c) => {
        seen.push(c.identifiers);
        return `[clean ${text.length}]`;
      },
    });
    if (r.status !== 'ok') throw new Error('expected ok');
    const nodes = readDicom(r.bytes).nodes;
    expect(findNode(nodes, 'x00081030')?.bytes?.toString('latin1').trim()).toMatch(/^\[clean \d+\]$/);
    expect(seen[0]).toContain(MRN);
    expect(r.report.descriptors).toBe('scrubbed');
  });
});

describe('shiftDicomDate', () => {
  it('shifts DA and the date part of DT across month and year ends, and refuses partial dates', () => {
    expect(shiftDicomDate('20231231', 'DA', 1)).toBe('20240101');
    expect(shiftDicomDate('20240301', 'DA', -1)).toBe('20240229');
    expect(shiftDicomDate('20240301101500.5+0800', 'DT', 10)).toBe('20240311101500.5+0800');
    expect(shiftDicomDate('2024', 'DT', 10)).toBeUndefined();
    expect(shiftDicomDate('2024-03-01', 'DA', 1)).toBeUndefined();
  });

  it("top-codes a kept Patient's Age above 89 (Retain Patient Characteristics), and removes it otherwise", () => {
    const withAge = (age: string) =>
      writePart10({
        elements: [
          { tag: '(0008,0016)', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
          { tag: '(0008,0018)', vr: 'UI', value: '1.2.826.0.1.3680043.10.777.20' },
          { tag: '(0008,0060)', vr: 'CS', value: 'OT' },
          { tag: '(0010,0020)', vr: 'LO', value: MRN },
          { tag: '(0010,1010)', vr: 'AS', value: age },
          { tag: '(0020,000D)', vr: 'UI', value: STUDY_UID },
          { tag: '(0020,000E)', vr: 'UI', value: `${STUDY_UID}.20` },
        ],
      });
    const ageOut = (age: string, retain: boolean) => {
      const r = deidentifyDicom(withAge(age), {
        keyService,
        institution: INSTITUTION,
        options: retain ? { retainPatientCharacteristics: true } : undefined,
      });
      if (r.status !== 'ok') throw new Error(`expected ok for ${age}`);
      return readAscii(readDicom(r.bytes).nodes, 'x00101010');
    };
    expect(ageOut('093Y', true)).toBe('090Y');
    expect(ageOut('090Y', true)).toBe('090Y');
    expect(ageOut('089Y', true)).toBe('089Y');
    expect(ageOut('052W', true)).toBe('052W');
    expect(ageOut('999M', true)).toBe('999M'); // 83 years in months: under the top, kept
    expect(ageOut('93 years', true) ?? '').toBe('');
    expect(ageOut('093Y', false)).toBeUndefined();
  });
});

describe('burned-in text', () => {
  const rows = 480;
  const columns = 640;
  function usCine(manufacturer: string, size = { rows, columns }, burnedIn = 'YES'): Buffer {
    const frame = Buffer.alloc(size.rows * size.columns, 40);
    for (let y = 10; y < 30; y++) frame.fill(255, y * size.columns + 20, y * size.columns + 200); // "text"
    const frames = Buffer.concat([frame, frame, frame]);
    return writePart10({
      elements: [
        { tag: '(0008,0016)', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.3.1' },
        { tag: '(0008,0018)', vr: 'UI', value: '1.2.826.0.1.3680043.10.777.9' },
        { tag: '(0008,0060)', vr: 'CS', value: 'US' },
        { tag: '(0008,0070)', vr: 'LO', value: manufacturer },
        { tag: '(0010,0020)', vr: 'LO', value: MRN },
        { tag: '(0020,000D)', vr: 'UI', value: STUDY_UID },
        { tag: '(0020,000E)', vr: 'UI', value: `${STUDY_UID}.5` },
        { tag: '(0028,0002)', vr: 'US', value: 1 },
        { tag: '(0028,0004)', vr: 'CS', value: 'MONOCHROME2' },
        { tag: '(0028,0008)', vr: 'IS', value: '3' },
        { tag: '(0028,0010)', vr: 'US', value: size.rows },
        { tag: '(0028,0011)', vr: 'US', value: size.columns },
        { tag: '(0028,0100)', vr: 'US', value: 8 },
        { tag: '(0028,0101)', vr: 'US', value: 8 },
        { tag: '(0028,0102)', vr: 'US', value: 7 },
        { tag: '(0028,0103)', vr: 'US', value: 0 },
        { tag: '(0028,0301)', vr: 'CS', value: burnedIn },
        { tag: '(7FE0,0010)', vr: 'OB', value: frames },
      ],
    });
  }

  it('masks the rule regions in every frame, keeps every other pixel, and sets BurnedInAnnotation NO', () => {
    const input = usCine('SIEMENS');
    const r = deidentifyDicom(input, { keyService, institution: INSTITUTION });
    if (r.status !== 'ok') throw new Error(`expected ok, got ${r.rule}`);
    expect(r.report.pixels).toMatchObject({ status: 'masked', rule: 'us-header-band-480x640', frames: 3 });
    const before = findNode(readDicom(input).nodes, 'x7fe00010')!.bytes!;
    const nodes = readDicom(r.bytes).nodes;
    const after = findNode(nodes, 'x7fe00010')!.bytes!;
    expect(after.length).toBe(before.length);
    const size = rows * columns;
    let wrong = 0;
    for (let f = 0; f < 3; f++) {
      for (let y = 0; y < rows; y++) {
        for (let x = 0; x < columns; x++) {
          const i = f * size + y * columns + x;
          if (after[i] !== (y < 64 ? 0 : before[i])) wrong++;
        }
      }
    }
    expect(wrong).toBe(0);
    expect(before.subarray(0, 64 * columns).some((v) => v !== 0)).toBe(true); // the box did hold text
    expect(readAscii(nodes, 'x00280301')).toBe('NO');
    dcmdump(r.bytes);
  });

  it('quarantines an ultrasound image no rule covers, and any at-risk image when Clean Pixel Data is off', () => {
    const odd = deidentifyDicom(usCine('SIEMENS', { rows: 100, columns: 120 }), {
      keyService,
      institution: INSTITUTION,
    });
    expect(odd).toMatchObject({ status: 'quarantined', rule: 'burned-in-no-mask-rule' });
    const off = deidentifyDicom(usCine('SIEMENS', { rows, columns }, 'NO'), {
      keyService,
      institution: INSTITUTION,
      options: {},
    });
    expect(off).toMatchObject({ status: 'quarantined', rule: 'burned-in-text' });
  });

  it('quarantines compressed pixel data it cannot decode when cleaning is required', () => {
    const bytes = fs.readFileSync(path.join(SAMPLE_DIR, 'extra/dicognito_burned_in_yes.dcm'));
    const everything = [{ id: 'all', regions: [{ x: 0, y: 0, width: 10, height: 10 }] }];
    const r = deidentifyDicom(bytes, { keyService, institution: INSTITUTION, maskRules: everything });
    expect(r).toMatchObject({ status: 'quarantined', rule: 'burned-in-undecodable' });
  });

  it('with the decoders, cleans that JPEG 2000 image by its mask rule and writes it uncompressed', async () => {
    const bytes = fs.readFileSync(path.join(SAMPLE_DIR, 'extra/dicognito_burned_in_yes.dcm'));
    const decoders = await loadFrameDecoders();
    const source = readDicom(bytes);
    const info = readPixelInfo(source.nodes)!;
    const [before] = decodeFrames(source.nodes, source.transferSyntaxUid, info, 'source', decoders);
    const bpp = info.bitsAllocated / 8;
    const at = (x: number, y: number) => (y * info.columns + x) * bpp;
    // A box around the image's first non-black pixel, so there is something to clean.
    let first = 0;
    while (first < before.length && before[first] === 0) first++;
    const fx = Math.floor(first / bpp) % info.columns;
    const fy = Math.floor(first / bpp / info.columns);
    const box = { x: Math.max(0, fx - 2), y: Math.max(0, fy - 2), width: 8, height: 8 };
    const r = deidentifyDicom(bytes, {
      keyService,
      institution: INSTITUTION,
      maskRules: [{ id: 'box', regions: [box] }],
      decoders,
    });
    if (r.status !== 'ok') throw new Error(`${r.rule}: ${r.reason}`);
    expect(r.report.pixels).toMatchObject({ status: 'masked', rule: 'box', frames: 1 });
    expect(r.report.transferSyntaxUid).toBe('1.2.840.10008.1.2.1');
    const out = readDicom(r.bytes);
    expect(readAscii(out.nodes, 'x00280301')).toBe('NO');
    const [after] = decodeFrames(out.nodes, out.transferSyntaxUid, info, 'output');
    let inBoxNonZero = 0;
    let outsideChanged = 0;
    for (let y = 0; y < info.rows; y++)
      for (let x = 0; x < info.columns; x++) {
        const pixel = after.subarray(at(x, y), at(x, y) + bpp);
        const inBox = x >= box.x && x < box.x + box.width && y >= box.y && y < box.y + box.height;
        if (inBox) inBoxNonZero += pixel.some((v) => v !== 0) ? 1 : 0;
        else if (!pixel.equals(before.subarray(at(x, y), at(x, y) + bpp))) outsideChanged++;
      }
    expect(first).toBeLessThan(before.length);
    expect(inBoxNonZero).toBe(0);
    expect(outsideChanged).toBe(0);
  });
  /** A colour sample cleaned with one mask band across its top; its frames as written, uncompressed RGB. */
  async function maskTopBand(file: string, box: MaskRegion, frames: number): Promise<Buffer[]> {
    const r = deidentifyDicom(fs.readFileSync(path.join(SAMPLE_DIR, file)), {
      keyService,
      institution: INSTITUTION,
      maskRules: [{ id: 'top-band', regions: [box] }],
      decoders: await loadFrameDecoders(),
    });
    if (r.status !== 'ok') throw new Error(`${r.rule}: ${r.reason}`);
    expect(r.report.pixels).toMatchObject({ status: 'masked', rule: 'top-band', frames });
    const out = readDicom(r.bytes);
    const info = readPixelInfo(out.nodes)!;
    expect([info.photometric, info.samplesPerPixel, info.planarConfiguration]).toEqual(['RGB', 3, 0]);
    return decodeFrames(out.nodes, out.transferSyntaxUid, info, 'output');
  }

  it('with the decoders, cleans a JPEG Baseline colour ultrasound cine in every frame, written as uncompressed RGB', async () => {
    const frames = await maskTopBand('examples_ybr_color.dcm', { x: 0, y: 0, width: 320, height: 24 }, 30);
    expect(frames).toHaveLength(30);
    for (const f of frames) {
      expect(f.subarray(0, 320 * 24 * 3).every((v) => v === 0)).toBe(true);
      expect(f.subarray(320 * 24 * 3).some((v) => v !== 0)).toBe(true);
    }
  });

  it('with the decoders, cleans a colour JPEG 2000 ultrasound (YBR_RCT), written as uncompressed RGB', async () => {
    // Quarantined as not supported before 2026-12-06, mask rule or not: no colour JPEG 2000 decoder was wired in.
    const [frame] = await maskTopBand('examples_jpeg2k.dcm', { x: 0, y: 0, width: 640, height: 40 }, 1);
    expect(frame.subarray(0, 640 * 40 * 3).every((v) => v === 0)).toBe(true);
    // Below the band, the pixels pydicom decodes (pylibjpeg-openjpeg 2.6.0): row 240, column 213 is [250, 88, 0].
    const at = (240 * 640 + 213) * 3;
    expect([...frame.subarray(at, at + 3)]).toEqual([250, 88, 0]);
  });
});

describe('deidentifyDicom on every real sample file', () => {
  const results = sampleFiles().map((f) => {
    const bytes = fs.readFileSync(path.join(SAMPLE_DIR, f));
    return { f, bytes, r: deidentifyDicom(bytes, { keyService, institution: INSTITUTION, where: f }) };
  });

  it('de-identifies or quarantines each with a reason', () => {
    expect(results.length).toBe(45);
    for (const { r } of results) {
      if (r.status === 'quarantined') {
        expect(r.reason.length).toBeGreaterThan(10);
        expect(r.rule).toMatch(/^[a-z-]+$/);
      }
    }
    expect(results.filter((x) => x.r.status === 'ok').length).toBeGreaterThanOrEqual(15);
  });

  it('writes outputs dcmdump reads, with pixel data bit-identical where no pixel step applied', () => {
    for (const { f, bytes, r } of results) {
      if (r.status !== 'ok') continue;
      expect(() => dcmdump(r.bytes, ['-q']), f).not.toThrow();
      const before = readDicom(bytes);
      const pixelsBefore = findNode(before.nodes, 'x7fe00010');
      if (!pixelsBefore) continue;
      expect(r.report.pixels.status, f).toBe('unchanged');
      const pixelsAfter = findNode(readDicom(r.bytes).nodes, 'x7fe00010')!;
      if (pixelsBefore.encapsulated) {
        expect(
          Buffer.concat(pixelsAfter.encapsulated!.fragments).equals(
            Buffer.concat(pixelsBefore.encapsulated.fragments),
          ),
          f,
        ).toBe(true);
      } else {
        // Big-endian sources are rewritten little endian: same values, swapped bytes (read back normalized).
        expect(pixelsAfter.bytes!.equals(pixelsBefore.bytes!), f).toBe(true);
        if (before.sourceTransferSyntaxUid !== '1.2.840.10008.1.2.2') {
          expect(r.bytes.includes(pixelsBefore.bytes!), f).toBe(true);
        }
      }
    }
  });

  it('leaves no original patient name, ID or instance UID in the output bytes', () => {
    for (const { f, bytes, r } of results) {
      if (r.status !== 'ok') continue;
      const nodes = readDicom(bytes).nodes;
      for (const tag of ['x00100010', 'x00100020', 'x00080018', 'x0020000d']) {
        const v = findNode(nodes, tag)
          ?.bytes?.toString('latin1')
          .replace(/[\0 ]+$/, '');
        // short values (e.g. a Patient ID of '0010') occur in any binary data by chance
        if (v && v.length >= 6) expect(r.bytes.includes(Buffer.from(v, 'latin1')), `${f} ${tag}`).toBe(false);
      }
    }
  });
});

describe('Clean Descriptors through the deid text scrubber', () => {
  it("removes the patient's own name and MRN from a description and keeps the clinical words", async () => {
    const { createDescriptorScrubber } = await import('./descriptor-scrubber');
    const bytes = writePart10({
      elements: [
        { tag: '(0008,0016)', vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
        { tag: '(0008,0018)', vr: 'UI', value: '1.2.826.0.1.3680043.10.777.77' },
        { tag: '(0008,1030)', vr: 'LO', value: 'CT CHEST for Okonkwo MRN-PHI-0042' },
        { tag: '(0010,0010)', vr: 'PN', value: 'Okonkwo^Adaeze' },
        { tag: '(0010,0020)', vr: 'LO', value: MRN },
        { tag: '(0020,000D)', vr: 'UI', value: STUDY_UID },
        { tag: '(0020,000E)', vr: 'UI', value: `${STUDY_UID}.2` },
      ],
    });
    const r = deidentifyDicom(bytes, {
      keyService,
      institution: INSTITUTION,
      scrubDescriptor: createDescriptorScrubber(keyService),
    });
    if (r.status !== 'ok') throw new Error('expected ok');
    expect(r.summary.studyDescription).toContain('CT CHEST');
    expect(r.bytes.includes(Buffer.from('Okonkwo'))).toBe(false);
    expect(r.bytes.includes(Buffer.from(MRN))).toBe(false);
  });
});
