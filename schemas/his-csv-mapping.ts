import { z } from 'zod';

/**
 * How one institution's HIS CSV export is laid out: which file holds each table, its encoding, and which header
 * means which field. Headers differ per hospital on purpose; readers map through this file, never by hard-coding.
 * Data lives in config/his-csv/<institution-id>.json; synth/FORMATS.md describes the fields.
 *
 * Two shapes of table. A "long" table (patients … notes) has one fact per row. The "wide" check-up table (checkups)
 * has one visit per row and one result per column, so besides `columns` it names each result column in `results`.
 * An institution maps the tables its export has: any non-empty subset.
 */
export const hisLongTables = ['patients', 'visits', 'diagnoses', 'labs', 'prescriptions', 'notes'] as const;
export type HisLongTable = (typeof hisLongTables)[number];
export const hisTables = [...hisLongTables, 'checkups'] as const;
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
  checkups: ['mrn', 'sex', 'age', 'checkupDate', 'visitId'],
} as const satisfies Record<HisTable, readonly string[]>;

/** Fields without which no row of the table can be mapped: a mapping that leaves one out is refused up front. */
const requiredFields: Partial<Record<HisTable, readonly string[]>> = { checkups: ['mrn', 'checkupDate'] };

export const hisTableMappingSchema = z.object({
  file: z.string().regex(/^[a-z-]+\.csv$/),
  /** Header text exactly as in the file → field name (see hisFields). */
  columns: z.record(z.string().min(1), z.string().min(1)),
});

/**
 * LOINC's mod-10 check digit (the Luhn scheme over the code's digits and its check digit). It cannot tell a right
 * code from a wrong one, only catch a mistyped one before it reaches every Observation.
 */
function loincCheckDigitOk(code: string): boolean {
  const digits = code.replace('-', '');
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) d = d * 2 > 9 ? d * 2 - 9 : d * 2;
    sum += d;
  }
  return sum % 10 === 0;
}

/** One result column of a check-up table: what was measured, as the hospital codes it. */
export const hisCheckupResultSchema = z.strictObject({
  /** The hospital's local code for the test (Observation.code, system urn:tributary:<institution>:lab-codes). */
  code: z.string().min(1),
  /** Name of the test; the header is used when absent. */
  display: z.string().min(1).optional(),
  /** Only a code known to mean this test: a wrong LOINC code is worse than none. */
  loinc: z
    .string()
    .regex(/^\d{1,7}-\d$/, 'LOINC code must look like 1920-8')
    .refine(loincCheckDigitOk, 'LOINC check digit is wrong')
    .optional(),
  /** Unit of every value in the column (UCUM where mappers/tables/ucum-units.json knows it); absent = unitless. */
  unit: z.string().min(1).optional(),
});

export const hisCheckupTableMappingSchema = hisTableMappingSchema.extend({
  /** Result header exactly as in the file → the test it holds. An empty cell is a test not done. */
  results: z.record(z.string().min(1), hisCheckupResultSchema),
  /** Encounter.type text of every check-up visit (default "health check-up"). */
  encounterType: z.string().min(1).optional(),
});

export const hisCsvMappingSchema = z
  .object({
    institution: z.string(),
    encoding: z.enum(['utf-8', 'gbk']),
    delimiter: z.string().length(1),
    /** Pattern of every date-time cell: tokens YYYY, M, MM, D, DD, H, HH, mm, ss. Local time, no offset. */
    dateFormat: z.string().min(1),
    /** Pattern of date-only cells (birthDate, checkupDate). */
    dateOnlyFormat: z.string().min(1),
    tables: z.strictObject({
      patients: hisTableMappingSchema.optional(),
      visits: hisTableMappingSchema.optional(),
      diagnoses: hisTableMappingSchema.optional(),
      labs: hisTableMappingSchema.optional(),
      prescriptions: hisTableMappingSchema.optional(),
      notes: hisTableMappingSchema.optional(),
      checkups: hisCheckupTableMappingSchema.optional(),
    }),
  })
  .superRefine((m, ctx) => {
    if (!hisTables.some((t) => m.tables[t]))
      ctx.addIssue({
        code: 'custom',
        path: ['tables'],
        message: `maps no table: name at least one of ${hisTables.join(', ')} (only the tables the export has)`,
      });
    for (const table of hisTables) {
      const tm = m.tables[table];
      if (!tm) continue;
      const allowed = new Set<string>(hisFields[table]);
      const seen = new Set<string>();
      for (const [header, field] of Object.entries(tm.columns)) {
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
      for (const field of requiredFields[table] ?? [])
        if (!seen.has(field))
          ctx.addIssue({
            code: 'custom',
            path: ['tables', table, 'columns'],
            message: `${table} must map a header to ${field}`,
          });
    }
    const checkups = m.tables.checkups;
    if (checkups) {
      const results = Object.entries(checkups.results);
      if (results.length === 0)
        ctx.addIssue({
          code: 'custom',
          path: ['tables', 'checkups', 'results'],
          message: 'checkups maps no result column',
        });
      const codes = new Map<string, string>();
      for (const [header, result] of results) {
        // A header in both would be read twice, as a field and as a result; csv headers cannot tell which is meant.
        if (Object.hasOwn(checkups.columns, header))
          ctx.addIssue({
            code: 'custom',
            path: ['tables', 'checkups', 'results', header],
            message: `header "${header}" of checkups is mapped both in columns and in results`,
          });
        // Two columns with one local code would give their Observations the same id.
        const other = codes.get(result.code);
        if (other !== undefined)
          ctx.addIssue({
            code: 'custom',
            path: ['tables', 'checkups', 'results', header, 'code'],
            message: `local code of checkups result "${header}" is already used by "${other}"`,
          });
        codes.set(result.code, header);
      }
    }
  });
export type HisCsvMapping = z.infer<typeof hisCsvMappingSchema>;
export type HisTableMapping = z.infer<typeof hisTableMappingSchema>;
export type HisCheckupTableMapping = z.infer<typeof hisCheckupTableMappingSchema>;
