/**
 * HL7 v2 parsing: bytes -> messages -> segments -> fields. Delimiters come from each message's MSH; text is decoded
 * per MSH-18 (UTF-8, GB 18030/GBK, 8859/1). Values are unescaped only when read, so unused fields cost nothing.
 */
import iconv from 'iconv-lite';

export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

/** One segment. Fields are split on first use: most segments of a message (IN1, GT1, PRT, NK1...) are never read. */
export class Segment {
  private split: string[] | undefined;

  constructor(
    readonly name: string,
    /** The decoded file; the segment is text[start, end). Kept as offsets so unread segments allocate no string. */
    private readonly text: string,
    private readonly start: number,
    private readonly end: number,
    private readonly fieldSep: string,
    /** 1-based line of the segment in the file. */
    readonly line: number,
    /** 1-based position of the segment in its message. */
    readonly index: number,
    /** The MSH that starts a message: its field separator is MSH-1, so raw field k is MSH-(k+1). */
    private readonly header = false,
  ) {}

  /** starts[k]: offset of raw field k, filled as far as reads have gone (reads come in any order). */
  private starts: number[] | undefined;

  /**
   * fields[n] without splitting the segment: a PV1 has 50-odd fields and the mapper reads four. Same value as
   * fields[n] (undefined past the last field).
   */
  field(n: number): string | undefined {
    if (this.split) return this.split[n];
    if (this.header) {
      if (n <= 1) return n === 0 ? 'MSH' : this.fieldSep;
      n--;
    }
    const text = this.text;
    const sep = this.fieldSep;
    const end = this.end;
    const starts = (this.starts ??= [this.start]);
    while (starts.length <= n) {
      const i = text.indexOf(sep, starts[starts.length - 1]);
      if (i < 0 || i >= end) return undefined;
      starts.push(i + 1);
    }
    const pos = starts[n];
    const e = text.indexOf(sep, pos);
    return text.slice(pos, e < 0 || e > end ? end : e);
  }

  /** fields[n] is the raw text of field n (for MSH, fields[1] is the field separator and fields[2] the encoding chars). */
  get fields(): string[] {
    if (!this.split) {
      const split = this.text.slice(this.start, this.end).split(this.fieldSep);
      if (this.header) {
        // fields[0]='MSH', fields[1]=the field separator, fields[2]=encoding chars: fields[n] is MSH-n.
        split[0] = this.fieldSep;
        split.unshift('MSH');
      }
      this.split = split;
    }
    return this.split;
  }
}

export interface Hl7Message {
  segments: Segment[];
  delimiters: Delimiters;
  /** 1-based line where MSH starts. */
  line: number;
  /** Messages in the file before this one + 1. */
  ordinal: number;
}

/** MSH-18 value -> iconv-lite encoding name. Unknown values fall back to UTF-8 and are reported by the caller. */
const CHARSETS: Record<string, string> = {
  '': 'utf-8',
  ASCII: 'utf-8',
  'UNICODE UTF-8': 'utf-8',
  UNICODE: 'utf-8',
  'UTF-8': 'utf-8',
  '8859/1': 'latin1',
  'GB 18030-2000': 'gb18030',
  'GB 18030': 'gb18030',
  GB18030: 'gb18030',
  GBK: 'gbk',
  'CNS 11643-1992': 'big5',
  BIG5: 'big5',
};

/** Encoding named by the first MSH-18 in the file (read as ASCII: delimiters and charset names are ASCII). */
export function detectHl7Charset(bytes: Buffer): { encoding: string; declared: string; known: boolean } {
  const start = bytes.indexOf('MSH');
  if (start < 0) return charsetNamed('');
  let end = start;
  while (end < bytes.length && end - start < 4096 && bytes[end] !== 0x0d && bytes[end] !== 0x0a) end++;
  const msh = bytes.toString('latin1', start, end);
  const fs = msh[3] ?? '|';
  const declared = (msh.split(fs)[17] ?? '')
    .split(msh[4] ?? '^')[0]
    .split(msh[5] ?? '~')[0]
    .trim()
    .toUpperCase();
  return charsetNamed(declared);
}

/** An MSH-18 value's encoding; unknown values decode as UTF-8 and say so (`known`). */
function charsetNamed(declared: string): { encoding: string; declared: string; known: boolean } {
  const encoding = CHARSETS[declared];
  return { encoding: encoding ?? 'utf-8', declared, known: encoding !== undefined };
}

/**
 * Bytes to text in the character set the first MSH-18 names, or `declared` when given: a piece of a larger file is
 * decoded as the whole file is, with its first message's MSH-18.
 */
export function decodeHl7(
  bytes: Buffer,
  declared?: string,
): { text: string; declared: string; known: boolean } {
  const cs = declared === undefined ? detectHl7Charset(bytes) : charsetNamed(declared);
  let text = cs.encoding === 'utf-8' ? bytes.toString('utf8') : iconv.decode(bytes, cs.encoding);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { text, declared: cs.declared, known: cs.known };
}

/** Segment names are few: one shared string per name instead of a fresh 3-character string per segment. */
const segmentNames = new Map<number, string>();

function segmentName(text: string, at: number): string {
  const key = (text.charCodeAt(at) << 16) | (text.charCodeAt(at + 1) << 8) | text.charCodeAt(at + 2);
  let name = segmentNames.get(key);
  if (name === undefined) {
    name = text.slice(at, at + 3);
    if (segmentNames.size < 4096) segmentNames.set(key, name);
  }
  return name;
}

const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
const isUpperOrDigit = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39);

/**
 * Reads decoded text one message at a time, so a message's segments die young instead of a whole file's lines and
 * segments living until the last message is mapped. Lines end at CR LF, CR or LF. The batch envelope (FHS, BHS, BTS,
 * FTS: HL7 v2 2.10.3) is kept in `envelope`, never taken for a message's segment. Other lines outside a message
 * (and MLLP framing bytes) are orphans; lines inside a message whose name is not a segment name are bad lines (kept
 * as '???' segments). The lists are complete once next() has returned undefined.
 */
export class MessageScanner {
  readonly orphanLines: number[] = [];
  readonly badLines: number[] = [];
  readonly envelope: EnvelopeSegment[] = [];
  private pos = 0;
  private lineNo: number;
  private nextCr: number;
  private nextLf: number;
  private ordinal: number;
  /** The MSH that ended the previous message: it starts the next one. */
  private pending: Hl7Message | undefined;
  /** Bounds of the line read by readLine(). */
  private ls = 0;
  private le = 0;

  /**
   * `at`: where `text` starts in its file when it is a piece of a larger one (a file drop split into pages), so lines
   * and message ordinals are the file's: its first line and the ordinal of its first message.
   */
  constructor(
    private readonly text: string,
    at: { firstLine?: number; firstMessage?: number } = {},
  ) {
    this.nextCr = text.indexOf('\r');
    this.nextLf = text.indexOf('\n');
    this.lineNo = (at.firstLine ?? 1) - 1;
    this.ordinal = (at.firstMessage ?? 1) - 1;
  }

  private readLine(): boolean {
    const text = this.text;
    const pos = this.pos;
    if (pos > text.length) return false;
    if (this.nextCr >= 0 && this.nextCr < pos) this.nextCr = text.indexOf('\r', pos);
    if (this.nextLf >= 0 && this.nextLf < pos) this.nextLf = text.indexOf('\n', pos);
    const cr = this.nextCr;
    const lf = this.nextLf;
    const sep = cr < 0 ? lf : lf < 0 ? cr : cr < lf ? cr : lf;
    this.lineNo++;
    this.ls = pos;
    if (sep < 0) {
      this.le = text.length;
      this.pos = text.length + 1;
    } else {
      this.le = sep;
      this.pos = sep === cr && lf === sep + 1 ? sep + 2 : sep + 1;
    }
    return true;
  }

  next(): Hl7Message | undefined {
    const text = this.text;
    let current = this.pending;
    this.pending = undefined;
    while (this.readLine()) {
      let s = this.ls;
      let e = this.le;
      if (s === e) continue;
      // MLLP framing (VT ... FS) and stray whitespace around segments.
      if (text.charCodeAt(s) === 0x0b) s++;
      if (e > s && text.charCodeAt(e - 1) === 0x1c) e--;
      const c0 = text.charCodeAt(s);
      // Printable ASCII first: not whitespace, so no trimmed copy is needed to know the line is not blank.
      if (!(c0 > 0x20 && c0 < 0x7f) && text.slice(s, e).trim().length === 0) continue;
      if (c0 === 0xfeff) s++;
      const line = this.lineNo;
      const envelope = envelopeSegment(text, s, e, line, this.ordinal);
      if (envelope) {
        // A batch header or trailer ends the message before it.
        this.envelope.push(envelope);
        if (current) return current;
        continue;
      }
      if (e - s >= 8 && text.startsWith('MSH', s)) {
        const msh = this.startMessage(s, e, line);
        if (current) {
          this.pending = msh;
          return current;
        }
        current = msh;
        continue;
      }
      if (!current) {
        this.orphanLines.push(line);
        continue;
      }
      const sep = current.delimiters.field;
      const segments = current.segments;
      const len = e - s;
      if (
        len < 3 ||
        !isUpper(text.charCodeAt(s)) ||
        !isUpperOrDigit(text.charCodeAt(s + 1)) ||
        !isUpperOrDigit(text.charCodeAt(s + 2)) ||
        (len > 3 && text.charCodeAt(s + 3) !== sep.charCodeAt(0))
      ) {
        this.badLines.push(line);
        segments.push(new Segment('???', text, s, e, sep, line, segments.length + 1));
        continue;
      }
      segments.push(new Segment(segmentName(text, s), text, s, e, sep, line, segments.length + 1));
    }
    return current;
  }

  private startMessage(s: number, e: number, lineNo: number): Hl7Message {
    const text = this.text;
    const fieldSep = text[s + 3];
    const encEnd = text.indexOf(fieldSep, s + 4);
    const enc = text.slice(s + 4, encEnd >= 0 && encEnd < e ? encEnd : s + 8);
    const delimiters: Delimiters = {
      field: fieldSep,
      component: enc[0] ?? '^',
      repetition: enc[1] ?? '~',
      escape: enc[2] ?? '\\',
      subcomponent: enc[3] ?? '&',
    };
    return {
      segments: [new Segment('MSH', text, s, e, fieldSep, lineNo, 1, true)],
      delimiters,
      line: lineNo,
      ordinal: ++this.ordinal,
    };
  }
}

/** A batch or file header or trailer, where it is, and how many messages the text had started before it. */
export interface EnvelopeSegment {
  name: 'FHS' | 'BHS' | 'BTS' | 'FTS';
  line: number;
  /** Ordinal of the last message started before this line (the scanner's count, from `firstMessage`). */
  messagesBefore: number;
  /** BTS-1 (batch message count) or FTS-1 (file batch count), when it is a number. */
  count?: number;
}

function envelopeSegment(
  text: string,
  s: number,
  e: number,
  line: number,
  messagesBefore: number,
): EnvelopeSegment | undefined {
  // [FB][HT]S is exactly FHS, FTS, BHS, BTS: decided on character codes, as every segment line passes here.
  if (e - s < 3) return undefined;
  const c0 = text.charCodeAt(s);
  const c1 = text.charCodeAt(s + 1);
  if ((c0 !== 0x46 && c0 !== 0x42) || (c1 !== 0x48 && c1 !== 0x54) || text.charCodeAt(s + 2) !== 0x53)
    return undefined;
  const name = text.slice(s, s + 3);
  const sep = text[s + 3];
  // FHS and BHS carry their delimiters as MSH does; a trailer is its name alone or name + separator + fields.
  if (e - s > 3 && (sep === undefined || isUpperOrDigit(sep.charCodeAt(0)))) return undefined;
  const segment: EnvelopeSegment = { name: name as EnvelopeSegment['name'], line, messagesBefore };
  if (name === 'BTS' || name === 'FTS') {
    const end = text.indexOf(sep, s + 4);
    const first = e - s > 4 ? text.slice(s + 4, end >= 0 && end < e ? end : e).trim() : '';
    if (/^\d{1,9}$/.test(first)) segment.count = Number(first);
  }
  return segment;
}

/**
 * Where a batch's trailer disagrees with what it closes: BTS-1 against the messages since its BHS, FTS-1 against the
 * batches since FHS. In a piece of a larger file, `before` says what was open where the piece starts (the messages
 * of the open batch and the batches of the open file before it); a trailer whose header is neither in the text nor
 * in `before` is not checked.
 */
export function checkEnvelope(
  envelope: EnvelopeSegment[],
  before: { firstMessage?: number; batchMessages?: number; fileBatches?: number } = {},
): { line: number; message: string }[] {
  const problems: { line: number; message: string }[] = [];
  // Ordinals count from firstMessage: the open batch began batchMessages messages before this text's first.
  let batchStart =
    before.batchMessages === undefined ? undefined : (before.firstMessage ?? 1) - 1 - before.batchMessages;
  let batches = before.fileBatches;
  for (const seg of envelope) {
    if (seg.name === 'FHS') batches = 0;
    else if (seg.name === 'BHS') {
      batchStart = seg.messagesBefore;
      if (batches !== undefined) batches++;
    } else if (seg.name === 'BTS') {
      const held = batchStart === undefined ? undefined : seg.messagesBefore - batchStart;
      if (seg.count !== undefined && held !== undefined && held !== seg.count)
        problems.push({
          line: seg.line,
          message: `batch trailer BTS-1 counts ${seg.count} message(s); the batch holds ${held}: messages are missing or extra`,
        });
      batchStart = undefined;
    } else {
      if (seg.count !== undefined && batches !== undefined && batches !== seg.count)
        problems.push({
          line: seg.line,
          message: `file trailer FTS-1 counts ${seg.count} batch(es); the file holds ${batches}: batches are missing or extra`,
        });
      batches = undefined;
    }
  }
  return problems;
}

/** Reading values out of one message with its own delimiters. */
export class Hl7Reader {
  constructor(readonly d: Delimiters) {}

  reps(raw: string | undefined): string[] {
    if (!raw) return [];
    return splitOn(raw, this.d.repetition);
  }

  comps(raw: string | undefined): string[] {
    if (!raw) return [];
    return splitOn(raw, this.d.component);
  }

  subs(raw: string | undefined): string[] {
    if (!raw) return [];
    return splitOn(raw, this.d.subcomponent);
  }

  /** The first repetition, raw (reps(raw)[0] without splitting the others off). */
  firstRep(raw: string | undefined): string | undefined {
    if (!raw) return undefined;
    const i = raw.indexOf(this.d.repetition);
    return i < 0 ? raw : raw.slice(0, i);
  }

  /** Component n (0-based), raw: comps(raw)[n] without splitting the whole value. */
  comp(raw: string | undefined, n: number): string | undefined {
    if (!raw) return undefined;
    const d = this.d.component;
    let start = 0;
    for (let k = 0; k < n; k++) {
      const i = raw.indexOf(d, start);
      if (i < 0) return undefined;
      start = i + 1;
    }
    const end = raw.indexOf(d, start);
    return end < 0 ? (start === 0 ? raw : raw.slice(start)) : raw.slice(start, end);
  }

  /** The first subcomponent, raw: subs(raw)[0]. */
  firstSub(raw: string | undefined): string | undefined {
    if (!raw) return undefined;
    const i = raw.indexOf(this.d.subcomponent);
    return i < 0 ? raw : raw.slice(0, i);
  }

  /** Unescaped text of a component (or subcomponent) value; '' for empty or HL7 null ("""). */
  text(raw: string | undefined): string {
    if (!raw || raw === '""') return '';
    if (raw.indexOf(this.d.escape) < 0) return raw;
    return this.unescape(raw);
  }

  /** First component, first repetition, unescaped. */
  first(raw: string | undefined): string {
    if (!raw) return '';
    let end = raw.indexOf(this.d.repetition);
    const rep = end >= 0 ? raw.slice(0, end) : raw;
    end = rep.indexOf(this.d.component);
    const comp = end >= 0 ? rep.slice(0, end) : rep;
    end = comp.indexOf(this.d.subcomponent);
    return this.text(end >= 0 ? comp.slice(0, end) : comp);
  }

  unescape(raw: string): string {
    const e = this.d.escape;
    let out = '';
    let i = 0;
    while (i < raw.length) {
      const start = raw.indexOf(e, i);
      if (start < 0) {
        out += raw.slice(i);
        break;
      }
      out += raw.slice(i, start);
      const end = raw.indexOf(e, start + 1);
      if (end < 0) {
        // A lone escape character is kept as text (senders do this), not an error.
        out += raw.slice(start);
        break;
      }
      const seq = raw.slice(start + 1, end);
      switch (seq[0]) {
        case 'F':
          out += this.d.field;
          break;
        case 'S':
          out += this.d.component;
          break;
        case 'T':
          out += this.d.subcomponent;
          break;
        case 'R':
          out += this.d.repetition;
          break;
        case 'E':
          out += e;
          break;
        case 'X':
          out += hexToText(seq.slice(1));
          break;
        case '.':
          if (seq === '.br') out += '\n';
          else if (seq.startsWith('.sp')) out += '\n';
          break;
        case 'H':
        case 'N':
          // highlight on/off: formatting only.
          break;
        default:
          // Charset switches (\C..\, \M..\) and unknown sequences are dropped: they carry no text.
          break;
      }
      i = end + 1;
    }
    return out;
  }
}

/** raw.split(d). Most values hold no delimiter at all: indexOf answers that without split's runtime call. */
function splitOn(raw: string, d: string): string[] {
  return raw.indexOf(d) < 0 ? [raw] : raw.split(d);
}

function hexToText(hex: string): string {
  if (hex.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(hex)) return '';
  return Buffer.from(hex, 'hex').toString('utf8');
}

/** Segments by name, in order. */
export function segmentsNamed(msg: Hl7Message, name: string): Segment[] {
  return msg.segments.filter((s) => s.name === name);
}
