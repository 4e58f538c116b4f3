import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatRunProblems, readRunProblems } from './run-problems';
import { createFileBlobStore, putJson } from './staging';

/** Every shape the steps log, read back as a rule, a reason and a place; other runs' logs left out. */
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'run-problems-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

describe('readRunProblems', () => {
  it("reads each step's quarantine and reject entries of one run", async () => {
    const store = createFileBlobStore({ root, key: { key: crypto.randomBytes(32) } });
    const q = 'quarantine/run-1/inst-a';
    // a file the mapper could not read at all
    await putJson(store, `${q}/ehr/a1`, [
      { file: 'ehr/his/labs.csv', reason: 'ehr/his/labs.csv: not CSV', code: 'structure' },
    ]);
    // a resource the de-identification engine refused
    await putJson(store, `${q}/ehr/a2`, [
      {
        index: 3,
        resourceType: 'Patient',
        rule: 'residual-phi.name',
        path: 'Patient.name[0].family',
        reason: 'a name of the record',
      },
    ]);
    // a resource refused whole (its path is its type), and one that failed FHIR validation
    await putJson(store, `${q}/insurance/a3`, [
      {
        resourceType: 'Coverage',
        rule: 'reference-data.not-a-description',
        path: 'Coverage',
        reason: 'Coverage: not a description',
      },
      {
        resourceType: 'Claim',
        id: 'c1',
        rule: 'fhir-validation',
        issues: [
          {
            severity: 'error',
            code: 'required',
            diagnostics: 'Claim.use: missing',
            expression: ['Claim.use'],
          },
        ],
      },
    ]);
    // DICOM instances refused at de-identification and at denoising
    await putJson(store, `${q}/imaging/a4`, [
      { file: 'imaging/us.dcm', rule: 'burned-in-no-mask-rule', reason: 'imaging/us.dcm: no mask rule' },
      {
        file: 'imaging/mr.dcm',
        rule: 'denoise.not-supported',
        reason: 'not supported: imaging/mr.dcm: JPEG Extended',
      },
    ]);
    await putJson(store, 'rejects/run-1/inst-a/ehr/b1', [
      {
        severity: 'error',
        code: 'required',
        diagnostics: 'OBX-3 observation identifier is empty',
        expression: ['OBX-3'],
      },
    ]);
    // another run's log, and a run whose id starts like this one's
    await putJson(store, 'quarantine/run-2/inst-a/ehr/c1', [
      { file: 'x', rule: 'other', reason: 'other run' },
    ]);
    await putJson(store, 'quarantine/run-10/inst-a/ehr/c1', [
      { file: 'x', rule: 'other', reason: 'other run' },
    ]);

    const problems = await readRunProblems(store, 'run-1');
    expect(problems.quarantined.map((p) => [p.source, p.rule, p.where, p.reason])).toEqual([
      ['ehr', 'unreadable-file.structure', 'ehr/his/labs.csv', 'ehr/his/labs.csv: not CSV'],
      ['ehr', 'residual-phi.name', 'Patient Patient.name[0].family', 'a name of the record'],
      ['imaging', 'burned-in-no-mask-rule', 'imaging/us.dcm', 'imaging/us.dcm: no mask rule'],
      ['imaging', 'denoise.not-supported', 'imaging/mr.dcm', 'not supported: imaging/mr.dcm: JPEG Extended'],
      ['insurance', 'reference-data.not-a-description', 'Coverage', 'Coverage: not a description'],
      ['insurance', 'fhir-validation', 'Claim Claim.use', 'Claim.use: missing'],
    ]);
    expect(problems.quarantined.every((p) => p.institution === 'inst-a')).toBe(true);
    expect(problems.rejected).toEqual([
      {
        institution: 'inst-a',
        source: 'ehr',
        rule: 'required',
        where: 'OBX-3',
        reason: 'OBX-3 observation identifier is empty',
      },
    ]);

    const text = formatRunProblems(problems, 1);
    expect(text.split('\n')).toEqual([
      'quarantined: 6 entries',
      '      1  inst-a/ehr  residual-phi.name',
      '         Patient Patient.name[0].family: a name of the record',
      '      1  inst-a/ehr  unreadable-file.structure',
      '         ehr/his/labs.csv: not CSV',
      '      1  inst-a/imaging  burned-in-no-mask-rule',
      '         imaging/us.dcm: no mask rule',
      '      1  inst-a/imaging  denoise.not-supported',
      '         not supported: imaging/mr.dcm: JPEG Extended',
      '      1  inst-a/insurance  fhir-validation',
      '         Claim Claim.use: Claim.use: missing',
      '      1  inst-a/insurance  reference-data.not-a-description',
      '         Coverage: not a description',
      'rejected: 1 entry',
      '      1  inst-a/ehr  required',
      '         OBX-3 observation identifier is empty',
      '',
    ]);
  });
});
