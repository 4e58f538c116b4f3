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
    private readonly raw: string,
    private readonly fieldSep: string,
    /** 1-based line of the segment in the file. */
    readonly line: number,
    /** 1-based position of the segment in its message. */
    readonly index: number,
    preset?: string[],
  ) {
    this.split = preset;
  }

  /** fields[n] is the raw text of field n (for MSH, fields[1] is the field separator and fields[2] the encoding chars). */
  get fields(): string[] {
    this.split ??= this.raw.split(this.fieldSep);
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

const SEGMENT_SPLIT = /\r\n|\r|\n/;
const SEGMENT_NAME = /^[A-Z][A-Z0-9]{2}$/;

/** MSH-18 value -> iconv-lite encoding name. Unknown values fall back to UTF-8 and are reported by the caller. */
const CHARSETS: Record<string, string> = {
  '': 'utf-8',
  ASCII: 'utf-8',
  'UNICODE UTF-8': 'utf-8',
  'UNICODE': 'utf-8',
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
  if (start < 0) return { encoding: 'utf-8', declared: '', known: true };
  let end = start;
  while (end < bytes.length && end - start < 4096 && bytes[end] !== 0x0d && bytes[end] !== 0x0a) end++;
  const msh = bytes.toString('latin1', start, end);
  const fs = msh[3] ?? '|';
  const declared = (msh.split(fs)[17] ?? '').split(msh[4] ?? '^')[0].split(msh[5] ?? '~')[0].trim().toUpperCase();
  const encoding = CHARSETS[declared];
  return { encoding: encoding ?? 'utf-8', declared, known: encoding !== undefined };
}

export function decodeHl7(bytes: Buffer): { text: string; declared: string; known: boolean } {
  const cs = detectHl7Charset(bytes);
  let text = cs.encoding === 'utf-8' ? bytes.toString('utf8') : iconv.decode(bytes, cs.encoding);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return { text, declared: cs.declared, known: cs.known };
}

/** Split decoded text into messages. Lines before the first MSH (and MLLP framing bytes) are returned as orphans. */
export function splitMessages(text: string): { messages: Hl7Message[]; orphanLines: number[]; badLines: number[] } {
  const lines = text.split(SEGMENT_SPLIT);
  const messages: Hl7Message[] = [];
  const orphanLines: number[] = [];
  const badLines: number[] = [];
  let current: Hl7Message | undefined;
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (line.length === 0) continue;
    // MLLP framing (VT ... FS) and stray whitespace around segments.
    if (line.charCodeAt(0) === 0x0b) line = line.slice(1);
    if (line.charCodeAt(line.length - 1) === 0x1c) line = line.slice(0, -1);
    if (line.trim().length === 0) continue;
    if (line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (line.startsWith('MSH') && line.length >= 8) {
      const fieldSep = line[3];
      const enc = line.slice(4, line.indexOf(fieldSep, 4) > 0 ? line.indexOf(fieldSep, 4) : 8);
      const delimiters: Delimiters = {
        field: fieldSep,
        component: enc[0] ?? '^',
        repetition: enc[1] ?? '~',
        escape: enc[2] ?? '\\',
        subcomponent: enc[3] ?? '&',
      };
      const parts = line.split(fieldSep);
      // parts[0]='MSH', parts[1]=encoding chars: shift so fields[n] is MSH-n.
      const fields = ['MSH', fieldSep, ...parts.slice(1)];
      current = { segments: [new Segment('MSH', line, fieldSep, i + 1, 1, fields)], delimiters, line: i + 1, ordinal: messages.length + 1 };
      messages.push(current);
      continue;
    }
    if (!current) {
      orphanLines.push(i + 1);
      continue;
    }
    const name = line.slice(0, 3);
    const sep = current.delimiters.field;
    if (!SEGMENT_NAME.test(name) || (line.length > 3 && line[3] !== sep)) {
      badLines.push(i + 1);
      current.segments.push(new Segment('???', line, sep, i + 1, current.segments.length + 1));
      continue;
    }
    current.segments.push(new Segment(name, line, sep, i + 1, current.segments.length + 1));
  }
  return { messages, orphanLines, badLines };
}

/** Reading values out of one message with its own delimiters. */
export class Hl7Reader {
  constructor(readonly d: Delimiters) {}

  reps(raw: string | undefined): string[] {
    if (!raw) return [];
    return raw.split(this.d.repetition);
  }

  comps(raw: string | undefined): string[] {
    if (!raw) return [];
    return raw.split(this.d.component);
  }

  subs(raw: string | undefined): string[] {
    if (!raw) return [];
    return raw.split(this.d.subcomponent);
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
    const rep = raw.indexOf(this.d.repetition) >= 0 ? raw.slice(0, raw.indexOf(this.d.repetition)) : raw;
    const comp = rep.indexOf(this.d.component) >= 0 ? rep.slice(0, rep.indexOf(this.d.component)) : rep;
    const sub = comp.indexOf(this.d.subcomponent) >= 0 ? comp.slice(0, comp.indexOf(this.d.subcomponent)) : comp;
    return this.text(sub);
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

function hexToText(hex: string): string {
  if (hex.length % 2 !== 0 || !/^[0-9A-Fa-f]*$/.test(hex)) return '';
  return Buffer.from(hex, 'hex').toString('utf8');
}

/** Segments by name, in order. */
export function segmentsNamed(msg: Hl7Message, name: string): Segment[] {
  return msg.segments.filter((s) => s.name === name);
}
