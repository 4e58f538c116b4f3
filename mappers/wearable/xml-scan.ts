/**
 * A byte-level streaming scanner for flat, attribute-only XML such as Apple Health export.xml (a long run of
 * `<Record .../>` elements, a few with MetadataEntry children). It reports start tags (name, decoded attributes, the
 * line of the tag's closing `>`) and end tags, and checks well-formedness: tag nesting, attribute syntax, duplicate
 * attributes, entity references, a single root. It skips comments, CDATA, processing instructions and the DOCTYPE
 * with its internal subset. Entities declared in a DTD are never expanded: a reference to one is an error, so an
 * entity-expansion bomb costs nothing. General-purpose parsers (saxes) spend most of their time on per-character
 * state machines and string building for features this format never uses; this one decodes attribute values with one
 * slice each.
 *
 * Input arrives as Buffer chunks in any split: a construct cut by a chunk boundary is kept (from its `<`) and scanned
 * again with the next chunk. A single construct larger than maxMarkupBytes is rejected, so memory stays bounded.
 */

export interface XmlScanHandler {
  /** `start`: the absolute byte offset of the tag's `<` in the stream. */
  open(name: string, attrs: Record<string, string>, line: number, start: number): void;
  close(name: string): void;
}

/** A well-formedness error: where (line, 1-based column in bytes, absolute byte offset) and a value-free reason. */
export class XmlScanError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
    readonly offset: number,
  ) {
    super(message);
    this.name = 'XmlScanError';
  }
}

const LT = 0x3c;
const GT = 0x3e;
const AMP = 0x26;
const SLASH = 0x2f;
const EQ = 0x3d;
const QUOT = 0x22;
const APOS = 0x27;
const BANG = 0x21;
const QMARK = 0x3f;
const NL = 0x0a;
const SEMI = 0x3b;

const COMMENT_END = Buffer.from('-->');
const CDATA_END = Buffer.from(']]>');
const PI_END = Buffer.from('?>');
const CDATA_START = Buffer.from('[CDATA[');
const DOCTYPE = Buffer.from('DOCTYPE');

/** Returned by a construct scanner when the buffer ends before the construct does. */
const INCOMPLETE = -1;

function isSpace(b: number): boolean {
  return b === 0x20 || b === 0x0a || b === 0x09 || b === 0x0d;
}

/** Name bytes: ASCII letters, digits, '_', ':', '-', '.', and any non-ASCII byte (UTF-8 name characters). */
const NAME_BYTE = new Uint8Array(256);
for (let b = 0; b < 256; b++) {
  const c = String.fromCharCode(b);
  if (/[A-Za-z0-9_:.-]/.test(c) || b >= 0x80) NAME_BYTE[b] = /[0-9.-]/.test(c) ? 2 : 1;
}

/** The attributes a structure-only scan reports: none (frozen, so a handler cannot keep state in it). */
const NO_ATTRIBUTES: Record<string, string> = Object.freeze({}) as Record<string, string>;

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const WHITESPACE = /[\t\n\r]/g;
const CONTROL = /[\t\n\r]/;

function isNameStart(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c === 0x5f || c === 0x3a || c >= 0x80;
}

function isNameChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x3a ||
    c === 0x2d ||
    c === 0x2e ||
    c >= 0x80
  );
}

export interface XmlScanOptions {
  /** Largest single tag, comment, DOCTYPE, CDATA section or PI held in memory (default 16 MiB). */
  maxMarkupBytes?: number;
  /**
   * Report elements without their attributes (an empty object) and without checking them: for a reader that needs
   * only the element structure (where top-level elements start, to cut a file into pieces), at a fraction of the
   * cost. Nesting is still checked; lines are still counted.
   */
  skipAttributes?: boolean;
}

export class FlatXmlScanner {
  private buf: Buffer = Buffer.alloc(0);
  /** Absolute byte offset of buf[0] in the stream. */
  private base = 0;
  /** 1-based line at buf[pos], and the absolute offset where that line starts. */
  private line = 1;
  private lineStart = 0;
  private readonly stack: string[] = [];
  private seenRoot = false;
  private rootClosed = false;
  private started = false;
  private readonly maxMarkup: number;
  private readonly names: (string | undefined)[] = new Array<string | undefined>(1024).fill(undefined);
  private lastEntityRaw = '';
  private lastEntityDecoded = '';

  constructor(
    private readonly handler: XmlScanHandler,
    options: XmlScanOptions = {},
  ) {
    this.maxMarkup = options.maxMarkupBytes ?? 16 * 1024 * 1024;
    this.skipAttributes = options.skipAttributes === true;
  }

  private readonly skipAttributes: boolean;

  /** Where the scanner stands: line, 1-based byte column and absolute byte offset of the next unread construct. */
  get position(): { line: number; column: number; offset: number } {
    return { line: this.line, column: Math.max(1, this.base - this.lineStart + 1), offset: this.base };
  }

  write(chunk: Buffer): void {
    if (this.buf.length === 0) this.buf = chunk;
    else this.buf = Buffer.concat([this.buf, chunk]);
    this.scan(false);
  }

  /** End of input: anything left open is an error. */
  end(): void {
    this.scan(true);
    if (this.buf.length > 0) this.fail('unexpected end of input inside markup', 0);
    if (!this.seenRoot) this.fail('document has no root element', 0);
    if (this.stack.length) this.fail('unclosed tag at end of input', 0);
  }

  private fail(message: string, pos: number): never {
    // Column is 1-based in bytes on the line; pos is the byte where the problem was found.
    const offset = this.base + pos;
    throw new XmlScanError(message, this.line, Math.max(1, offset - this.lineStart + 1), offset);
  }

  /** Scan complete constructs; keep the unfinished tail in this.buf. */
  private scan(final: boolean): void {
    const buf = this.buf;
    const len = buf.length;
    let pos = 0;
    if (!this.started) {
      if (len < 3 && !final) return;
      this.started = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
    }
    while (pos < len) {
      if (buf[pos] !== LT) {
        const next = this.text(buf, pos, len, final);
        // No progress: an entity reference cut by the chunk boundary.
        if (next === pos) break;
        pos = next;
        continue;
      }
      if (pos + 1 >= len) break;
      const b = buf[pos + 1];
      let next: number;
      if (b === SLASH) next = this.endTag(buf, pos, len);
      else if (b === BANG) next = this.bang(buf, pos, len);
      else if (b === QMARK) next = this.skipTo(buf, pos, len, PI_END);
      else next = this.startTag(buf, pos);
      if (next === INCOMPLETE) {
        if (len - pos > this.maxMarkup) this.fail(`markup larger than ${this.maxMarkup} bytes`, pos);
        break;
      }
      pos = next;
    }
    this.base += pos;
    this.buf = pos >= len ? Buffer.alloc(0) : buf.subarray(pos);
    if (final && this.buf.length > 0) this.fail('unexpected end of input inside markup', 0);
  }

  /** Character data up to the next '<'. Outside the root only whitespace is allowed. Returns the next position. */
  private text(buf: Buffer, pos: number, len: number, final: boolean): number {
    let end = buf.indexOf(LT, pos);
    if (end < 0) end = len;
    const inRoot = this.stack.length > 0;
    for (let p = pos; p < end; p++) {
      const b = buf[p];
      if (b === NL) {
        this.line++;
        this.lineStart = this.base + p + 1;
      } else if (b === AMP) {
        if (!inRoot) this.fail('text data outside of root node.', p);
        const semi = this.findSemi(buf, p, end);
        if (semi < 0) {
          if (end === len && !final) return p;
          this.fail('entity reference is not terminated', p);
        }
        this.entity(buf, p + 1, semi, p);
        p = semi;
      } else if (!inRoot && !isSpace(b)) this.fail('text data outside of root node.', p);
    }
    return end;
  }

  private findSemi(buf: Buffer, amp: number, end: number): number {
    const limit = Math.min(end, amp + 40);
    for (let p = amp + 1; p < limit; p++) if (buf[p] === SEMI) return p;
    if (limit < end) this.fail('entity reference is not terminated', amp);
    return -1;
  }

  /** Decode one entity reference (name between start and semi); undefined and DTD-declared entities are errors. */
  private entity(buf: Buffer, start: number, semi: number, amp: number): string {
    const name = buf.toString('latin1', start, semi);
    const predefined = PREDEFINED[name];
    if (predefined !== undefined) return predefined;
    if (name.charCodeAt(0) === 0x23) {
      const hex = name.charCodeAt(1) === 0x78;
      const digits = name.slice(hex ? 2 : 1);
      const code =
        digits && (hex ? /^[0-9A-Fa-f]+$/ : /^[0-9]+$/).test(digits) ? parseInt(digits, hex ? 16 : 10) : NaN;
      if (!(
        code === 0x9 ||
        code === 0xa ||
        code === 0xd ||
        (code >= 0x20 && code <= 0xd7ff) ||
        (code >= 0xe000 && code <= 0xfffd) ||
        (code >= 0x10000 && code <= 0x10ffff)
      )) {
        this.fail('character reference is not a valid XML character', amp);
      }
      return String.fromCodePoint(code);
    }
    // Entities declared in the DTD are deliberately not expanded (entity-expansion bombs).
    this.fail('undefined entity (DTD entities are not expanded)', amp);
  }

  /**
   * `<name attr="v" ...>` or `.../>`. The tag is decoded to a string once (one native call) and parsed with string
   * operations: on this workload, one Buffer->string call per attribute cost more than the parsing itself.
   */
  private startTag(buf: Buffer, pos: number): number {
    if (this.skipAttributes) return this.startTagStructure(buf, pos);
    let gt = buf.indexOf(GT, pos);
    for (;;) {
      if (gt < 0) return INCOMPLETE;
      const tag = buf.toString('utf8', pos, gt + 1);
      const r = this.parseStartTag(tag, buf, pos);
      if (r === 0) return gt + 1;
      // A '>' inside a quoted value: the tag goes on to a later '>'.
      gt = buf.indexOf(GT, gt + 1);
    }
  }

  /**
   * A start tag's name and nesting only (skipAttributes): its end is the first `>` outside a quoted value, found on
   * the bytes without decoding the tag.
   */
  private startTagStructure(buf: Buffer, pos: number): number {
    const n = buf.length;
    let quote = 0;
    let newlines = 0;
    let lastNewline = -1;
    let gt = -1;
    for (let i = pos + 1; i < n; i++) {
      const b = buf[i];
      if (b === NL) {
        newlines++;
        lastNewline = i;
      } else if (quote !== 0) {
        if (b === quote) quote = 0;
      } else if (b === QUOT || b === APOS) quote = b;
      else if (b === GT) {
        gt = i;
        break;
      }
    }
    if (gt < 0) return INCOMPLETE;
    let e = pos + 1;
    if (!isNameStart(buf[e])) this.fail('element name does not start with a name character', pos + 1);
    // As endTag reads a name, so the two always agree on nesting.
    while (e < gt && NAME_BYTE[buf[e]] !== 0) e++;
    const decoded = decodeName(buf, pos + 1, e);
    const name = this.internName(decoded, 0, decoded.length);
    if (this.rootClosed) this.fail('text data outside of root node.', pos);
    if (newlines) {
      this.line += newlines;
      this.lineStart = this.base + lastNewline + 1;
    }
    const selfClosing = buf[gt - 1] === SLASH;
    if (this.stack.length === 0) {
      if (this.seenRoot) this.fail('text data outside of root node.', pos);
      this.seenRoot = true;
    }
    this.handler.open(name, NO_ATTRIBUTES, this.line, this.base + pos);
    if (selfClosing) {
      this.handler.close(name);
      if (this.stack.length === 0) this.rootClosed = true;
    } else this.stack.push(name);
    return gt + 1;
  }

  /** 0 when the tag was complete and reported; 1 when `tag` ends inside a quoted attribute value. */
  private parseStartTag(tag: string, buf: Buffer, pos: number): number {
    const n = tag.length;
    let line = this.line;
    let lineStart = this.lineStart;
    let i = 1;
    if (!isNameStart(tag.charCodeAt(i)))
      this.failInTag('element name does not start with a name character', tag, pos, i, line, lineStart);
    while (isNameChar(tag.charCodeAt(i))) i++;
    const name = this.internName(tag, 1, i);
    if (this.rootClosed) this.failInTag('text data outside of root node.', tag, pos, 0, line, lineStart);
    const attrs: Record<string, string> = {};
    // Whole-tag checks (three native scans) so the common attribute value needs only a slice.
    const hasLt = tag.indexOf('<', 1) >= 0;
    const hasAmp = tag.indexOf('&') >= 0;
    const hasCtl = CONTROL.test(tag);
    for (;;) {
      const wsStart = i;
      let c = tag.charCodeAt(i);
      while (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) {
        if (c === NL) {
          line++;
          lineStart = this.base + pos + Buffer.byteLength(tag.slice(0, i + 1));
        }
        c = tag.charCodeAt(++i);
      }
      if (c === GT || c === SLASH) {
        const selfClosing = c === SLASH;
        if (selfClosing && i + 1 !== n - 1)
          this.failInTag('forward slash in opening tag not followed by >', tag, pos, i, line, lineStart);
        this.line = line;
        this.lineStart = lineStart;
        if (this.stack.length === 0) {
          if (this.seenRoot) this.failInTag('text data outside of root node.', tag, pos, 0, line, lineStart);
          this.seenRoot = true;
        }
        this.handler.open(name, attrs, line, this.base + pos);
        if (selfClosing) {
          this.handler.close(name);
          if (this.stack.length === 0) this.rootClosed = true;
        } else this.stack.push(name);
        return 0;
      }
      if (i === wsStart) this.failInTag('no whitespace between attributes', tag, pos, i, line, lineStart);
      const nameStart = i;
      if (!isNameStart(c))
        this.failInTag('attribute name does not start with a name character', tag, pos, i, line, lineStart);
      while (isNameChar(tag.charCodeAt(i))) i++;
      const key = this.internName(tag, nameStart, i);
      while (isSpace(tag.charCodeAt(i))) {
        if (tag.charCodeAt(i) === NL) {
          line++;
          lineStart = this.base + pos + Buffer.byteLength(tag.slice(0, i + 1));
        }
        i++;
      }
      if (tag.charCodeAt(i) !== EQ) this.failInTag('attribute without value', tag, pos, i, line, lineStart);
      i++;
      while (isSpace(tag.charCodeAt(i))) {
        if (tag.charCodeAt(i) === NL) {
          line++;
          lineStart = this.base + pos + Buffer.byteLength(tag.slice(0, i + 1));
        }
        i++;
      }
      const quote = tag.charCodeAt(i);
      if (quote !== QUOT && quote !== APOS)
        this.failInTag('unquoted attribute value', tag, pos, i, line, lineStart);
      const close = tag.indexOf(quote === QUOT ? '"' : "'", i + 1);
      if (close < 0) return 1;
      let value = tag.slice(i + 1, close);
      if (hasLt && value.indexOf('<') >= 0)
        this.failInTag(
          'disallowed character in attribute value',
          tag,
          pos,
          i + 1 + value.indexOf('<'),
          line,
          lineStart,
        );
      if (hasCtl && CONTROL.test(value)) {
        for (let k = value.indexOf('\n'); k >= 0; k = value.indexOf('\n', k + 1)) {
          line++;
          lineStart = this.base + pos + Buffer.byteLength(tag.slice(0, i + 2 + k));
        }
        // Attribute-value normalisation (XML 1.0 §3.3.3): literal whitespace characters become spaces, before entities.
        value = value.replace(WHITESPACE, ' ');
      }
      if (hasAmp && value.indexOf('&') >= 0) {
        this.line = line;
        this.lineStart = lineStart;
        value = this.decodeEntities(value, pos + Buffer.byteLength(tag.slice(0, i + 1)));
      }
      if (attrs[key] !== undefined && Object.hasOwn(attrs, key))
        this.failInTag('duplicate attribute', tag, pos, nameStart, line, lineStart);
      if (key === '__proto__')
        Object.defineProperty(attrs, key, { value, enumerable: true, writable: true, configurable: true });
      else attrs[key] = value;
      i = close + 1;
    }
  }

  private failInTag(
    message: string,
    tag: string,
    pos: number,
    i: number,
    line: number,
    lineStart: number,
  ): never {
    this.failAt(message, pos + Buffer.byteLength(tag.slice(0, i)), line, lineStart);
  }

  /**
   * The canonical string for the name at tag[start, end). Names repeat on every element; a property store with a
   * fresh, non-internalised key string makes V8 hash and look it up each time, which cost more than the rest of the
   * tag. A small cache keyed on length and three characters, checked with startsWith, returns the same string.
   */
  private internName(tag: string, start: number, end: number): string {
    const n = end - start;
    const h =
      (n * 31 + tag.charCodeAt(start) * 7 + tag.charCodeAt(end - 1) * 3 + tag.charCodeAt(start + (n >> 1))) &
      1023;
    const cached = this.names[h];
    if (cached !== undefined && cached.length === n && tag.startsWith(cached, start)) return cached;
    const fresh = internalized(tag.slice(start, end));
    this.names[h] = fresh;
    return fresh;
  }

  private decodeEntities(value: string, valuePos: number): string {
    // The same value repeats verbatim on consecutive elements (Apple's device="&lt;&lt;HKDevice: ...&gt;").
    if (value === this.lastEntityRaw) return this.lastEntityDecoded;
    const decoded = this.decodeEntitiesOnce(value, valuePos);
    this.lastEntityRaw = value;
    this.lastEntityDecoded = decoded;
    return decoded;
  }

  private decodeEntitiesOnce(value: string, valuePos: number): string {
    let out = '';
    let i = 0;
    for (;;) {
      const amp = value.indexOf('&', i);
      if (amp < 0) return out + value.slice(i);
      out += value.slice(i, amp);
      const semi = value.indexOf(';', amp);
      if (semi < 0 || semi - amp > 40) this.fail('entity reference is not terminated', valuePos);
      const name = value.slice(amp + 1, semi);
      const predefined = PREDEFINED[name];
      if (predefined !== undefined) out += predefined;
      else {
        // Character references and errors: the same rules as in text.
        const tmp = Buffer.from(`&${name};`, 'latin1');
        out += this.entity(tmp, 1, tmp.length - 1, valuePos);
      }
      i = semi + 1;
    }
  }

  private failAt(message: string, pos: number, line: number, lineStart: number): never {
    this.line = line;
    this.lineStart = lineStart;
    this.fail(message, pos);
  }

  /** `</name>` closes the innermost open element. */
  private endTag(buf: Buffer, pos: number, len: number): number {
    let p = pos + 2;
    while (p < len && NAME_BYTE[buf[p]] !== 0) p++;
    const nameEnd = p;
    let line = this.line;
    let lineStart = this.lineStart;
    while (p < len && isSpace(buf[p])) {
      if (buf[p] === NL) {
        line++;
        lineStart = this.base + p + 1;
      }
      p++;
    }
    if (p >= len) return INCOMPLETE;
    if (buf[p] !== GT) this.failAt('invalid characters in closing tag', p, line, lineStart);
    this.line = line;
    this.lineStart = lineStart;
    const name = decodeName(buf, pos + 2, nameEnd);
    const open = this.stack[this.stack.length - 1];
    if (open === undefined || open !== name) this.fail('unexpected close tag.', p);
    this.stack.pop();
    this.handler.close(name);
    if (this.stack.length === 0) this.rootClosed = true;
    return p + 1;
  }

  /** `<!--`, `<![CDATA[`, `<!DOCTYPE`. */
  private bang(buf: Buffer, pos: number, len: number): number {
    if (pos + 4 > len) return INCOMPLETE;
    if (buf[pos + 2] === 0x2d && buf[pos + 3] === 0x2d)
      return this.skipTo(buf, pos + 4, len, COMMENT_END, pos);
    if (pos + 9 > len) return INCOMPLETE;
    if (buf.compare(CDATA_START, 0, CDATA_START.length, pos + 2, pos + 9) === 0) {
      if (this.stack.length === 0) this.fail('CDATA section outside of root node.', pos);
      return this.skipTo(buf, pos + 9, len, CDATA_END, pos);
    }
    if (buf.compare(DOCTYPE, 0, DOCTYPE.length, pos + 2, pos + 9) === 0) {
      if (this.seenRoot) this.fail('DOCTYPE after the root element', pos);
      return this.doctype(buf, pos + 9, len);
    }
    this.fail('unknown markup declaration', pos);
  }

  /** Skip to just after `terminator`, counting lines; INCOMPLETE if it is not in the buffer yet. */
  private skipTo(buf: Buffer, from: number, len: number, terminator: Buffer, start = from): number {
    const at = buf.indexOf(terminator, from);
    if (at < 0 || at + terminator.length > len) return INCOMPLETE;
    const end = at + terminator.length;
    this.countLines(buf, start, end);
    return end;
  }

  private countLines(buf: Buffer, from: number, to: number): void {
    for (let p = buf.indexOf(NL, from); p >= 0 && p < to; p = buf.indexOf(NL, p + 1)) {
      this.line++;
      this.lineStart = this.base + p + 1;
    }
  }

  /** `<!DOCTYPE name ... [ internal subset ]>`: quoted strings, comments and PIs inside the subset are skipped whole. */
  private doctype(buf: Buffer, from: number, len: number): number {
    const start = from - 9;
    let p = from;
    let inSubset = false;
    while (p < len) {
      const b = buf[p];
      if (b === QUOT || b === APOS) {
        const close = buf.indexOf(b, p + 1);
        if (close < 0) return INCOMPLETE;
        p = close + 1;
        continue;
      }
      if (inSubset && b === LT && buf[p + 1] === BANG && buf[p + 2] === 0x2d && buf[p + 3] === 0x2d) {
        const close = buf.indexOf(COMMENT_END, p + 4);
        if (close < 0) return INCOMPLETE;
        p = close + 3;
        continue;
      }
      if (inSubset && b === LT && buf[p + 1] === QMARK) {
        const close = buf.indexOf(PI_END, p + 2);
        if (close < 0) return INCOMPLETE;
        p = close + 2;
        continue;
      }
      if (b === 0x5b) inSubset = true;
      else if (b === 0x5d) inSubset = false;
      else if (b === GT && !inSubset) {
        this.countLines(buf, start, p);
        return p + 1;
      }
      p++;
    }
    return INCOMPLETE;
  }
}

/** The internalised copy of a string (object keys are internalised), so later property stores need no lookup. */
function internalized(s: string): string {
  return Object.keys({ [s]: 0 })[0] ?? s;
}

/** Names are ASCII in practice: latin1 is a straight copy; UTF-8 names decode properly. */
function decodeName(buf: Buffer, start: number, end: number): string {
  for (let p = start; p < end; p++) if (buf[p] >= 0x80) return buf.toString('utf8', start, end);
  return buf.toString('latin1', start, end);
}
