import { NotSupportedError } from '../platform/errors';

/**
 * A decoder for sequential DCT JPEG with Huffman coding, 8- or 12-bit precision, one component: JPEG Extended
 * (Process 2 and 4, DICOM transfer syntax 1.2.840.10008.1.2.4.51), which older CT and MR archives hold and which no
 * decoder in this project read (jpeg-js and sharp stop at 8 bits). ITU-T T.81: the marker segments of Annex B, Huffman
 * decoding as in F.2.2, the inverse DCT of A.3.3. Colour, progressive, hierarchical and arithmetic-coded JPEG are not
 * read here: they throw NotSupportedError. Errors are thrown as plain Errors naming the fault; codecs.ts turns them
 * into the pipeline's errors.
 */

export interface DctImage {
  width: number;
  height: number;
  /** 8 or 12. */
  precision: number;
  /** One sample per pixel, row by row, in 0 .. 2^precision - 1. */
  samples: Uint16Array;
}

/** Zig-zag position k → natural (row-major) position in the 8×8 block (T.81 Figure A.6). */
const ZIGZAG = new Uint8Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7,
  14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46,
  53, 60, 61, 54, 47, 55, 62, 63,
]);

/** C(u)·cos((2x+1)uπ/16)/2 at [x*8+u]: the 1-D inverse DCT, applied to rows then columns (T.81 A.3.3). */
const IDCT = new Float64Array(64);
for (let x = 0; x < 8; x++)
  for (let u = 0; u < 8; u++)
    IDCT[x * 8 + u] = ((u === 0 ? Math.SQRT1_2 : 1) * Math.cos(((2 * x + 1) * u * Math.PI) / 16)) / 2;

interface HuffmanTable {
  /** Largest code of each length 1..16, -1 where none (F.2.2.3's MAXCODE). */
  maxCode: Int32Array;
  /** Index into values of the first code of each length, minus that code (VALPTR - MINCODE). */
  offset: Int32Array;
  values: Uint8Array;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): HuffmanTable {
  const maxCode = new Int32Array(18).fill(-1);
  const offset = new Int32Array(18);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    offset[len] = k - code;
    code += counts[len - 1];
    k += counts[len - 1];
    if (counts[len - 1]) maxCode[len] = code - 1;
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff; // a sentinel: decoding stops with an error past 16 bits
  return { maxCode, offset, values };
}

/** Entropy-coded bits of one scan; stuffed zero bytes dropped, a marker ends the data (zeros are read past it). */
class BitReader {
  private bits = 0;
  private count = 0;
  constructor(
    private readonly data: Uint8Array,
    public pos: number,
  ) {}

  bit(): number {
    if (this.count === 0) {
      const b = this.pos < this.data.length ? this.data[this.pos] : 0;
      if (b === 0xff) {
        const next = this.data[this.pos + 1];
        if (next === 0) this.pos += 2;
        else {
          this.bits = 0; // a marker: the segment's data ended; T.81 F.2.2.5 pads with ones, zeros are as good here
          this.count = 8;
          return (this.bits >> --this.count) & 1;
        }
      } else this.pos++;
      this.bits = b;
      this.count = 8;
    }
    return (this.bits >> --this.count) & 1;
  }

  receive(length: number): number {
    let v = 0;
    for (let i = 0; i < length; i++) v = (v << 1) | this.bit();
    return v;
  }

  decode(table: HuffmanTable): number {
    let code = this.bit();
    let len = 1;
    while (code > table.maxCode[len]) {
      code = (code << 1) | this.bit();
      if (++len > 16) throw new Error('invalid Huffman code in the scan');
    }
    const v = table.values[table.offset[len] + code];
    if (v === undefined) throw new Error('invalid Huffman code in the scan');
    return v;
  }

  /** At a restart marker: forget the partial byte and step over RSTn. */
  restart(): void {
    this.count = 0;
    while (this.pos + 1 < this.data.length) {
      if (
        this.data[this.pos] === 0xff &&
        this.data[this.pos + 1] >= 0xd0 &&
        this.data[this.pos + 1] <= 0xd7
      ) {
        this.pos += 2;
        return;
      }
      this.pos++;
    }
  }
}

/** T.81 F.2.2.1 EXTEND: a received magnitude of `t` bits as a signed value. */
const extend = (v: number, t: number) => (t === 0 ? 0 : v < 1 << (t - 1) ? v - (1 << t) + 1 : v);

export function decodeJpegDct(data: Uint8Array): DctImage {
  const u16 = (at: number) => {
    if (at + 1 >= data.length) throw new Error('the JPEG ends inside a marker segment');
    return (data[at] << 8) | data[at + 1];
  };
  if (u16(0) !== 0xffd8) throw new Error('no JPEG start-of-image marker');
  const quant: (Int32Array | undefined)[] = [];
  const dcTables: (HuffmanTable | undefined)[] = [];
  const acTables: (HuffmanTable | undefined)[] = [];
  let frame: { precision: number; width: number; height: number; id: number; quant: number } | undefined;
  let restartInterval = 0;
  let samples: Uint16Array | undefined;
  let pos = 2;
  for (;;) {
    // Fill bytes (0xFF) may precede a marker.
    while (data[pos] === 0xff && data[pos + 1] === 0xff) pos++;
    const marker = u16(pos);
    pos += 2;
    if (marker === 0xffd9) break; // EOI
    if ((marker & 0xff00) !== 0xff00) throw new Error(`no marker where one was expected (offset ${pos - 2})`);
    const length = u16(pos);
    const end = pos + length;
    if (end > data.length) throw new Error('a marker segment runs past the end of the JPEG');
    let p = pos + 2;
    switch (marker) {
      case 0xffdb: // DQT
        while (p < end) {
          const pq = data[p] >> 4;
          const tq = data[p] & 15;
          p++;
          const table = new Int32Array(64);
          for (let k = 0; k < 64; k++) {
            table[k] = pq ? u16(p) : data[p];
            p += pq ? 2 : 1;
          }
          quant[tq] = table;
        }
        break;
      case 0xffc4: // DHT
        while (p < end) {
          const tc = data[p] >> 4;
          const th = data[p] & 15;
          const counts = data.subarray(p + 1, p + 17);
          const total = counts.reduce((a, b) => a + b, 0);
          const table = buildHuffman(counts, data.slice(p + 17, p + 17 + total));
          (tc === 0 ? dcTables : acTables)[th] = table;
          p += 17 + total;
        }
        break;
      case 0xffdd: // DRI
        restartInterval = u16(p);
        break;
      case 0xffc0: // SOF0, baseline
      case 0xffc1: {
        // SOF1, extended sequential
        const precision = data[p];
        const height = u16(p + 1);
        const width = u16(p + 3);
        const components = data[p + 5];
        if (precision !== 8 && precision !== 12)
          throw new Error(`sample precision ${precision} is not 8 or 12`);
        if (components !== 1)
          throw new NotSupportedError(`JPEG Extended with ${components} components (monochrome only)`);
        if (!height || !width) throw new Error('the JPEG frame has no size');
        frame = { precision, width, height, id: data[p + 6], quant: data[p + 8] };
        break;
      }
      case 0xffda: {
        // SOS
        if (!frame) throw new Error('a scan before the frame header');
        const ns = data[p];
        if (ns !== 1 || data[p + 1] !== frame.id)
          throw new Error('the scan does not code the frame component');
        const dc = dcTables[data[p + 2] >> 4];
        const ac = acTables[data[p + 2] & 15];
        const q = quant[frame.quant];
        if (!dc || !ac || !q) throw new Error('the scan uses a Huffman or quantization table not defined');
        samples = decodeScan(data, end, frame, dc, ac, q, restartInterval);
        pos = nextMarker(data, end);
        if (pos < 0) break;
        continue;
      }
      case 0xffc2:
      case 0xffc3:
      case 0xffc5:
      case 0xffc6:
      case 0xffc7:
      case 0xffc9:
      case 0xffca:
      case 0xffcb:
      case 0xffcd:
      case 0xffce:
      case 0xffcf:
        throw new NotSupportedError(
          `JPEG frame type 0x${marker.toString(16)} (progressive, lossless, hierarchical or arithmetic-coded)`,
        );
      default: // APPn, COM, DNL and others: nothing this decoder needs
        break;
    }
    pos = end;
  }
  if (!frame || !samples) throw new Error('the JPEG holds no frame and scan');
  return { width: frame.width, height: frame.height, precision: frame.precision, samples };
}

/**
 * The offset of the first marker after a scan's entropy-coded data (RSTn inside it skipped), or -1: a JPEG whose
 * last scan runs to the end without EOI (DICOM pads fragments) has ended.
 */
function nextMarker(data: Uint8Array, from: number): number {
  for (let p = from; p + 1 < data.length; p++) {
    const next = data[p + 1];
    if (data[p] === 0xff && next !== 0 && next !== 0xff && (next < 0xd0 || next > 0xd7)) return p;
  }
  return -1;
}

function decodeScan(
  data: Uint8Array,
  start: number,
  frame: { precision: number; width: number; height: number },
  dc: HuffmanTable,
  ac: HuffmanTable,
  q: Int32Array,
  restartInterval: number,
): Uint16Array {
  const blocksPerLine = Math.ceil(frame.width / 8);
  const blocksPerColumn = Math.ceil(frame.height / 8);
  const out = new Uint16Array(frame.width * frame.height);
  const max = (1 << frame.precision) - 1;
  const shift = 1 << (frame.precision - 1);
  const reader = new BitReader(data, start);
  const coef = new Float64Array(64);
  const rows = new Float64Array(64);
  let pred = 0;
  let mcu = 0;
  for (let by = 0; by < blocksPerColumn; by++) {
    for (let bx = 0; bx < blocksPerLine; bx++, mcu++) {
      if (restartInterval && mcu > 0 && mcu % restartInterval === 0) {
        reader.restart();
        pred = 0;
      }
      coef.fill(0);
      const t = reader.decode(dc);
      pred += extend(reader.receive(t), t);
      coef[0] = pred * q[0];
      for (let k = 1; k < 64;) {
        const rs = reader.decode(ac);
        const r = rs >> 4;
        const s = rs & 15;
        if (s === 0) {
          if (r !== 15) break; // end of block
          k += 16;
          continue;
        }
        k += r;
        if (k > 63) throw new Error('a coefficient run past the end of the block');
        coef[ZIGZAG[k]] = extend(reader.receive(s), s) * q[k];
        k++;
      }
      // Rows, then columns.
      for (let y = 0; y < 8; y++)
        for (let x = 0; x < 8; x++) {
          let sum = 0;
          for (let u = 0; u < 8; u++) sum += IDCT[x * 8 + u] * coef[y * 8 + u];
          rows[y * 8 + x] = sum;
        }
      for (let y = 0; y < 8; y++) {
        const py = by * 8 + y;
        if (py >= frame.height) break;
        for (let x = 0; x < 8; x++) {
          const px = bx * 8 + x;
          if (px >= frame.width) break;
          let sum = 0;
          for (let v = 0; v < 8; v++) sum += IDCT[y * 8 + v] * rows[v * 8 + x];
          const sample = Math.round(sum) + shift;
          out[py * frame.width + px] = sample < 0 ? 0 : sample > max ? max : sample;
        }
      }
    }
  }
  return out;
}
