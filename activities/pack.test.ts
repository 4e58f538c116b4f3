import { describe, expect, it } from 'vitest';
import { TributaryError } from '../platform/errors';
import { packPage, unpackPage } from './pack';

describe('packPage / unpackPage', () => {
  it('keeps each part’s bytes and where a piece of a larger file starts (its first line and record)', () => {
    const page = {
      format: 'hl7v2',
      sourceFile: 'ehr/hl7/adt.hl7',
      parts: [
        {
          name: 'ehr/hl7/adt.hl7',
          bytes: Buffer.from('MSH|^~\\&|A\rPID|1\r'),
          firstLine: 605,
          firstRecord: 201,
        },
        { name: 'whole.hl7', bytes: Buffer.from([0, 0xff, 0x0d]) },
      ],
    };
    const back = unpackPage(packPage(page), 'raw/key');
    expect(back).toEqual(page);
    expect('firstLine' in back.parts[1]).toBe(false);
  });

  it('refuses bytes that are not a packed page, naming the key', () => {
    const packed = packPage({
      format: 'fhir',
      sourceFile: 'f',
      parts: [{ name: 'f', bytes: Buffer.from('{}') }],
    });
    for (const bad of [packed.subarray(0, packed.length - 1), Buffer.from([0, 0, 0])]) {
      const e = (() => {
        try {
          unpackPage(bad, 'raw/key');
        } catch (err) {
          return err;
        }
      })();
      expect(e).toBeInstanceOf(TributaryError);
      expect((e as TributaryError).message).toBe('raw/key: not a packed page');
    }
  });
});
