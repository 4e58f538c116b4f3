import { z } from 'zod';

/**
 * How one institution's HIS CSV export is laid out: which file holds each table, its encoding, and which header
 * means which field. Headers differ per hospital on purpose; readers map through this file, never by hard-coding.
 * Data lives in config/his-csv/<institution-id>.json; synth/FORMATS.md describes the fields.
 */
export const hisTables = ['patients', 'visits', 'diagnoses', 'labs', 'prescriptions', 'notes'] as const;
export const hisTableSchema = z.enum(hisTables);
export type HisTable = z.infer<typeof hisTableSchema>;

export const hisFields = {
  patients: ['mrn', 'name', 'sex', 'birthDate', 'nationalId', 'phone', 'address', 'ethnicity', 'insuranceId'],
  visits: ['visitId', 'mrn', 'visitType', 'admitTime', 'dischargeTime', 'department', 'attendingDoctor'],
  diagnoses: ['visitId', 'mrn', 'icd10', 'diagnosisName', 'diagnosisType', 'diagnosisTime'],
  labs: [
    'visitId',
    'mrn',
    'localCode',
    'itemName',
    'value',
    'unit',
    'referenceRange',
    'abnormalFlag',
    'resultTime',
    'loinc',
  ],
  prescriptions: [
    'visitId',
    'mrn',
    'drugCode',
    'drugName',
    'dose',
    'doseUnit',
    'route',
    'frequency',
    'days',
    'prescribingDoctor',
    'orderTime',
  ],
  notes: ['visitId', 'mrn', 'noteType', 'author', 'noteTime', 'text'],
} as const satisfies Record<HisTable, readonly string[]>;

export const hisTableMappingSchema = z.object({
  file: z.string().regex(/^[a-z-]+\.csv$/),
  /** Header text exactly as in the file → field name (see hisFields). */
  columns: z.record(z.string().min(1), z.string().min(1)),
});

export const hisCsvMappingSchema = z
  .object({
    institution: z.string(),
    encoding: z.enum(['utf-8', 'gbk']),
    delimiter: z.string().length(1),
    /** Pattern of every date-time cell: tokens YYYY, M, MM, D, DD, H, HH, mm, ss. Local time, no offset. */
    dateFormat: z.string().min(1),
    /** Pattern of date-only cells (birthDate). */
    dateOnlyFormat: z.string().min(1),
    tables: z.object({
      patients: hisTableMappingSchema,
      visits: hisTableMappingSchema,
      diagnoses: hisTableMappingSchema,
      labs: hisTableMappingSchema,
      prescriptions: hisTableMappingSchema,
      notes: hisTableMappingSchema,
    }),
  })
  .superRefine((m, ctx) => {
    for (const table of hisTables) {
      const allowed = new Set<string>(hisFields[table]);
      const seen = new Set<string>();
      for (const [header, field] of Object.entries(m.tables[table].columns)) {
        if (!allowed.has(field))
          ctx.addIssue({
            code: 'custom',
            path: ['tables', table, 'columns', header],
            message: `unknown field for ${table}`,
          });
        if (seen.has(field))
          ctx.addIssue({
            code: 'custom',
            path: ['tables', table, 'columns', header],
            message: `field mapped twice in ${table}`,
          });
        seen.add(field);
      }
    }
  });
export type HisCsvMapping = z.infer<typeof hisCsvMappingSchema>;
