import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { expectReconciled } from '../test-support/data';
import type { MapContext } from '../types';
import { mapAppleHealthStream } from './apple-health';
import { FlatXmlScanner, XmlScanError } from './xml-scan';

type Event = ['open', string, Record<string, string>, number] | ['close', string];

/** Scan `xml` delivered in the given chunk sizes (cycled); returns the events or the error. */
function scan(
  xml: string | Buffer,
  chunkSizes: number[] = [1 << 20],
  maxMarkupBytes?: number,
): { events: Event[]; error?: XmlScanError } {
  const bytes = typeof xml === 'string' ? Buffer.from(xml) : xml;
  const events: Event[] = [];
  const s = new FlatXmlScanner(
    {
      open: (name, attrs, line) => events.push(['open', name, { ...attrs }, line]),
      close: (name) => events.push(['close', name]),
    },
    { maxMarkupBytes },
  );
  try {
    let pos = 0;
    for (let k = 0; pos < bytes.length; k++) {
      const n = chunkSizes[k % chunkSizes.length];
      // Copies, so a scanner that kept a reference to an old chunk would see it change.
      s.write(Buffer.from(bytes.subarray(pos, pos + n)));
      pos += n;
    }
    s.end();
  } catch (e) {
    if (e instanceof XmlScanError) return { events, error: e };
    throw e;
  }
  return { events };
}

const DOC = `\uFEFF<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!-- HealthKit Export Version: 3 ] > -->
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
<!ATTLIST Record
  type          CDATA #REQUIRED
  note          CDATA "a ] > quoted default"
>
]>
<HealthData locale="zh_CN">
 <!-- a comment with <Record type="fake"/> inside -->
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="王的手表" device="&lt;&lt;HKDevice: 0x1&gt;, name:Apple Watch&gt;" value="72" note='single &quot;quoted&quot; &amp; &#x41;&#66;'/>
 <Record
   type="HKQuantityTypeIdentifierStepCount"
   value="multi
line	tab"
 >
  <MetadataEntry key="HKWasUserEntered" value="1"/>
  <![CDATA[ <not-a-tag/> & ]]>
 </Record>
 <Workout workoutActivityType="HKWorkoutActivityTypeRunning" duration = "12.5" />
</HealthData>
`;

const EXPECTED: Event[] = [
  ['open', 'HealthData', { locale: 'zh_CN' }, 10],
  [
    'open',
    'Record',
    {
      type: 'HKQuantityTypeIdentifierHeartRate',
      sourceName: '王的手表',
      device: '<<HKDevice: 0x1>, name:Apple Watch>',
      value: '72',
      note: 'single "quoted" & AB',
    },
    12,
  ],
  ['close', 'Record'],
  // A multi-line tag is reported at the line of its closing '>'; literal newline/tab in a value become spaces.
  ['open', 'Record', { type: 'HKQuantityTypeIdentifierStepCount', value: 'multi line tab' }, 17],
  ['open', 'MetadataEntry', { key: 'HKWasUserEntered', value: '1' }, 18],
  ['close', 'MetadataEntry'],
  ['close', 'Record'],
  ['open', 'Workout', { workoutActivityType: 'HKWorkoutActivityTypeRunning', duration: '12.5' }, 21],
  ['close', 'Workout'],
  ['close', 'HealthData'],
];

describe('FlatXmlScanner', () => {
  it('reports elements, decoded attributes and lines, skipping BOM, PI, DOCTYPE subset, comments and CDATA', () => {
    const r = scan(DOC);
    expect(r.error).toBeUndefined();
    expect(r.events).toEqual(EXPECTED);
  });

  it('gives the same events for every split of the input into two chunks, and for 1-3 byte chunks', () => {
    const bytes = Buffer.from(DOC);
    for (let cut = 1; cut < bytes.length; cut++) {
      const r = scan(bytes, [cut, bytes.length]);
      expect({ cut, error: r.error?.message, events: r.events }).toEqual({
        cut,
        error: undefined,
        events: EXPECTED,
      });
    }
    for (const sizes of [[1], [2], [3], [1, 2, 5]]) expect(scan(bytes, sizes).events).toEqual(EXPECTED);
  });

  it('rejects malformed input with the reason, line, column and byte offset', () => {
    const cases: [string, RegExp, number, number][] = [
      // [document, reason, line, byte offset of the problem]
      ['<a>\n <b></a>', /unexpected close tag/, 2, 11], // at the '>', as saxes reported it
      ['<a x="1" x="2"/>', /duplicate attribute/, 1, 9],
      ['<a x="1"y="2"/>', /no whitespace between attributes/, 1, 8],
      ['<a x=1/>', /unquoted attribute value/, 1, 5],
      ['<a x="<"/>', /disallowed character/, 1, 6],
      ['<a x="&bogus;"/>', /undefined entity/, 1, 6],
      ['<a x="&#0;"/>', /not a valid XML character/, 1, 6],
      ['<a x="&amp"/>', /not terminated/, 1, 6],
      ['<a/><b/>', /outside of root/, 1, 4],
      ['text<a/>', /outside of root/, 1, 0],
      ['<a>', /unclosed tag/, 1, 3],
      ['<a x="1"', /end of input/, 1, 0],
      ['', /no root element/, 1, 0],
      ['<a>\n<!-- never closed', /end of input/, 2, 4],
    ];
    for (const [doc, reason, line, offset] of cases) {
      const r = scan(doc);
      expect({ doc, message: r.error?.message }).toEqual({ doc, message: expect.stringMatching(reason) });
      expect({ doc, line: r.error?.line, offset: r.error?.offset }).toEqual({ doc, line, offset });
      expect(r.error?.column).toBeGreaterThanOrEqual(1);
      // The same error wherever the chunks split.
      expect(scan(doc, [1]).error?.offset).toBe(offset);
    }
  });

  it('does not expand DTD entities: a billion-laughs document fails at the first reference', () => {
    const bomb = `<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>\n<lolz>&lol3;</lolz>`;
    const r = scan(bomb);
    expect(r.error?.message).toMatch(/undefined entity/);
    expect(r.error?.offset).toBe(bomb.indexOf('&lol3;</lolz>'));
    expect(r.events.map((e) => e[1])).toEqual(['lolz']);
  });

  it('rejects a single element larger than the markup limit without buffering past it', () => {
    const huge = `<HealthData><Record value="${'x'.repeat(300_000)}"/></HealthData>`;
    const r = scan(huge, [4096], 64 * 1024);
    expect(r.error?.message).toMatch(/markup larger than 65536 bytes/);
    expect(r.error?.offset).toBe('<HealthData>'.length);
    // Under the limit the same element is fine, across many chunks.
    expect(scan(huge, [4096], 1024 * 1024).events[1]).toEqual([
      'open',
      'Record',
      { value: 'x'.repeat(300_000) },
      1,
    ]);
  });

  it('keeps UTF-8 characters cut by a chunk boundary intact', () => {
    const doc = '<a n="数据"/>';
    const bytes = Buffer.from(doc);
    for (let cut = 1; cut < bytes.length; cut++)
      expect(scan(bytes, [cut, 100]).events[0]).toEqual(['open', 'a', { n: '数据' }, 1]);
  });
});

describe('mapAppleHealthStream on hostile input', () => {
  const ctx: MapContext = {
    institution: 'test-inst',
    sourceFile: 'export.xml',
    subjectMrn: 'M1',
    validate: false,
  };
  const record = (v: number): string =>
    `<Record type="HKQuantityTypeIdentifierStepCount" sourceName="W" unit="count" startDate="2024-01-01 08:00:0${v} +0000" endDate="2024-01-01 08:01:00 +0000" value="${v}"/>`;

  it('maps what came before a 50 MB single element and reports it fatal with line and byte offset', async () => {
    const head = Buffer.from(
      `<HealthData>\n${record(1)}\n${record(2)}\n<Record type="HKQuantityTypeIdentifierStepCount" value="`,
    );
    const filler = Buffer.alloc(50 * 1024 * 1024, 0x61);
    const r = await mapAppleHealthStream(Readable.from([head, filler, Buffer.from('"/></HealthData>')]), ctx);
    expectReconciled(r);
    expect(r.recordsMapped).toBe(2);
    const fatal = r.issues.find((i) => i.severity === 'fatal');
    expect(fatal?.location).toEqual(['export.xml:line 4 column 1']);
    expect(fatal?.diagnostics).toMatch(
      new RegExp(`markup larger than \\d+ bytes\\) at byte offset ${head.lastIndexOf('<Record')}`),
    );
  });

  it('reconciles the same records when the export arrives in 7-byte chunks', async () => {
    const doc = Buffer.from(`<HealthData>\n${record(1)}\n${record(2)}\n${record(3)}\n</HealthData>\n`);
    const chunks: Buffer[] = [];
    for (let i = 0; i < doc.length; i += 7) chunks.push(doc.subarray(i, i + 7));
    const whole = await mapAppleHealthStream(Readable.from([doc]), ctx);
    const split = await mapAppleHealthStream(Readable.from(chunks), ctx);
    expectReconciled(split);
    expect(split.recordsMapped).toBe(3);
    expect(split).toEqual(whole);
  });
});

describe('FlatXmlScanner with skipAttributes (structure only, for cutting a file into pieces)', () => {
  /** Elements as [event, name, line, start offset], delivered in two chunks cut at `cut`. */
  function structure(bytes: Buffer, skipAttributes: boolean, cut = bytes.length) {
    const events: (string | number)[][] = [];
    const s = new FlatXmlScanner(
      {
        open: (name, attrs, line, start) => {
          if (skipAttributes) expect(Object.keys(attrs)).toEqual([]);
          events.push(['open', name, line, start]);
        },
        close: (name) => events.push(['close', name]),
      },
      { skipAttributes },
    );
    s.write(Buffer.from(bytes.subarray(0, cut)));
    s.write(Buffer.from(bytes.subarray(cut)));
    s.end();
    return events;
  }

  it('reports the elements, lines and offsets the full scan does, for every split of the input', () => {
    // A raw '>' and an apostrophe inside double-quoted values, and a '"' inside single quotes.
    const doc = DOC.replace('value="72"', `value="7>2" owner="Jo's watch" x='a"b'`);
    const bytes = Buffer.from(doc);
    const full = structure(bytes, false);
    expect(full.filter((e) => e[0] === 'open').map((e) => e[1])).toEqual([
      'HealthData',
      'Record',
      'Record',
      'MetadataEntry',
      'Workout',
    ]);
    for (let cut = 1; cut < bytes.length; cut++) expect(structure(bytes, true, cut)).toEqual(full);
  });

  it('still refuses tags that do not nest', () => {
    expect(() => structure(Buffer.from('<a><b></a></b>'), true)).toThrow(XmlScanError);
  });
});
