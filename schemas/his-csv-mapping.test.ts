import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { hisCsvMappingSchema, hisLongTables } from './his-csv-mapping';

const configDir = new URL('../config/his-csv/', import.meta.url);
const base = {
  institution: 'x',
  encoding: 'gbk',
  delimiter: ',',
  dateFormat: 'DD/MM/YYYY',
  dateOnlyFormat: 'DD/MM/YYYY',
};
const checkups = {
  file: 'checkups.csv',
  columns: { id: 'mrn', 性别: 'sex', 年龄: 'age', 体检日期: 'checkupDate' },
  results: { '*天门冬氨酸氨基转换酶': { code: 'AST', loinc: '1920-8', unit: 'U/L' }, 血糖: { code: 'GLU' } },
};

/** The issues as a person reads them: path, then message. */
function problems(input: unknown): string[] {
  const r = hisCsvMappingSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('hisCsvMappingSchema', () => {
  it('still reads every institution mapping in config/his-csv, each with the tables it had', () => {
    for (const name of fs.readdirSync(configDir).filter((f) => f.endsWith('.json'))) {
      const raw = JSON.parse(fs.readFileSync(new URL(name, configDir), 'utf8'));
      expect(problems(raw), name).toEqual([]);
      const parsed = hisCsvMappingSchema.parse(raw);
      expect(Object.keys(parsed.tables).sort(), name).toEqual(Object.keys(raw.tables).sort());
      if (name !== 'tianchi-diabetes-checkup.json')
        expect(Object.keys(parsed.tables).sort()).toEqual([...hisLongTables].sort());
    }
  });

  it('accepts a mapping with only the check-up table', () => {
    expect(problems({ ...base, tables: { checkups } })).toEqual([]);
  });

  it('refuses a mapping with no table, saying which tables it may name', () => {
    const msgs = problems({ ...base, tables: {} });
    expect(msgs).toHaveLength(1);
    expect(msgs[0]).toMatch(/^tables: maps no table: name at least one of patients, .*checkups/);
  });

  it('refuses a misspelled table name rather than dropping the table', () => {
    expect(problems({ ...base, tables: { checkup: checkups } }).join('\n')).toMatch(/checkup/);
  });

  it('names the table and header of each mistake in a check-up table', () => {
    const msgs = problems({
      ...base,
      tables: {
        checkups: {
          ...checkups,
          columns: { ...checkups.columns, 编号: 'mrn', 身高: 'height' },
          results: {
            ...checkups.results,
            年龄: { code: 'AGE' },
            空腹血糖: { code: 'GLU' },
            白蛋白: { code: 'ALB', loinc: '1751-8' },
          },
        },
      },
    });
    expect(msgs).toEqual(
      expect.arrayContaining([
        'tables.checkups.columns.编号: field mapped twice in checkups',
        'tables.checkups.columns.身高: unknown field for checkups',
        'tables.checkups.results.年龄: header "年龄" of checkups is mapped both in columns and in results',
        'tables.checkups.results.空腹血糖.code: local code of checkups result "空腹血糖" is already used by "血糖"',
        'tables.checkups.results.白蛋白.loinc: LOINC check digit is wrong',
      ]),
    );
    expect(msgs).toHaveLength(5);
  });

  it('refuses a check-up table that cannot identify a row or holds no result', () => {
    const msgs = problems({
      ...base,
      tables: { checkups: { ...checkups, columns: { 性别: 'sex' }, results: {} } },
    });
    expect(msgs).toEqual([
      'tables.checkups.columns: checkups must map a header to mrn',
      'tables.checkups.columns: checkups must map a header to checkupDate',
      'tables.checkups.results: checkups maps no result column',
    ]);
  });
});
