import { MEDIAN16_WASM_BASE64 } from './median-wasm';

/**
 * 3x3 median filter on 8- or 16-bit single-channel images, borders replicated (as OpenCV's medianBlur). sharp's
 * median sorts per pixel on 16-bit data (slow). Each column of three is sorted once; the median of 9 is then
 * med3(max of lows, med3 of middles, min of highs). 16-bit images run eight pixels at a time in WebAssembly SIMD
 * (imaging/tools/generate-median-wasm.ts); 8-bit images take the scalar path.
 */
export function median3x3<T extends Uint16Array | Uint8Array>(src: T, width: number, height: number): T {
  const dst = (src instanceof Uint16Array ? new Uint16Array(src.length) : new Uint8Array(src.length)) as T;
  if (width === 0 || height === 0) return dst;
  if (src instanceof Uint16Array) medianSimd16(src, dst as Uint16Array, width, height);
  else medianColumns(src, dst, width, height, 0, width);
  return dst;
}

// The project's TypeScript lib has no DOM types, so WebAssembly's shape is declared here.
interface WasmExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  median16: (src: number, dst: number, w: number, h: number, xEnd: number) => void;
}
const WebAssemblyApi = (globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object) => { exports: unknown } };
}).WebAssembly;
let wasm: WasmExports | undefined;

/** Rows are copied into WebAssembly memory padded with their replicated edge pixels, so every output pixel takes the
 * vector path; the padded stride leaves room for the last eight-pixel chunk's loads. */
function medianSimd16(src: Uint16Array, dst: Uint16Array, width: number, height: number): void {
  if (!wasm) {
    const module = new WebAssemblyApi.Module(Buffer.from(MEDIAN16_WASM_BASE64, 'base64'));
    wasm = new WebAssemblyApi.Instance(module).exports as WasmExports;
  }
  if (width % 8 === 0 && width >= 16) {
    medianSimd16Flat(src, dst, width, height);
    return;
  }
  const chunks = Math.ceil(width / 8);
  const stride = 8 * chunks + 8;
  const padded = stride * height;
  const needed = Math.ceil((padded * 4 + 16) / 65536) - wasm.memory.buffer.byteLength / 65536;
  if (needed > 0) wasm.memory.grow(needed);
  const mem = new Uint16Array(wasm.memory.buffer, 0, padded * 2);
  for (let y = 0; y < height; y++) {
    const at = y * stride;
    const row = y * width;
    mem[at] = src[row];
    mem.set(src.subarray(row, row + width), at + 1);
    mem[at + width + 1] = src[row + width - 1];
  }
  wasm.median16(0, padded * 2, stride, height, 1 + 8 * chunks);
  for (let y = 0; y < height; y++) {
    const at = padded + y * stride + 1;
    dst.set(mem.subarray(at, at + width), y * width);
  }
}

/** Widths that are a multiple of 8: the image goes in as one block and each row runs x = 1 .. width in chunks of
 * eight. The lane past the row end lands on the next row's column 0, which, like the last column, is then computed
 * by the scalar path (their neighbours wrap across rows). */
function medianSimd16Flat(src: Uint16Array, dst: Uint16Array, width: number, height: number): void {
  const n = src.length;
  const gap = 16; // elements after each block: the last row's overrun reads and writes land here
  const needed = Math.ceil(((n + gap) * 4) / 65536) - wasm!.memory.buffer.byteLength / 65536;
  if (needed > 0) wasm!.memory.grow(needed);
  const mem = new Uint16Array(wasm!.memory.buffer, 0, (n + gap) * 2);
  mem.set(src);
  wasm!.median16(0, (n + gap) * 2, width, height, width - 6);
  dst.set(mem.subarray(n + gap, n + gap + n));
  for (let y = 0; y < height; y++) {
    dst[y * width] = medianAt(src, width, height, 0, y);
    dst[y * width + width - 1] = medianAt(src, width, height, width - 1, y);
  }
}

/** One pixel's median with replicated borders (the wrapped columns of the flat path). */
function medianAt(src: Uint16Array, width: number, height: number, x: number, y: number): number {
  const r0 = (y > 0 ? y - 1 : 0) * width;
  const r1 = y * width;
  const r2 = (y + 1 < height ? y + 1 : y) * width;
  const xl = x > 0 ? x - 1 : 0;
  const xr = x + 1 < width ? x + 1 : x;
  return med9(src[r0 + xl], src[r0 + x], src[r0 + xr], src[r1 + xl], src[r1 + x], src[r1 + xr], src[r2 + xl], src[r2 + x], src[r2 + xr]);
}

function med3(a: number, b: number, c: number): number {
  return a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
}

function med9(a0: number, a1: number, a2: number, b0: number, b1: number, b2: number, c0: number, c1: number, c2: number): number {
  // Sort each column, then med3(max of lows, med3 of middles, min of highs).
  const lo = Math.max(Math.min(a0, a1, a2), Math.min(b0, b1, b2), Math.min(c0, c1, c2));
  const hi = Math.min(Math.max(a0, a1, a2), Math.max(b0, b1, b2), Math.max(c0, c1, c2));
  const mid = med3(med3(a0, a1, a2), med3(b0, b1, b2), med3(c0, c1, c2));
  return med3(lo, mid, hi);
}

/** The scalar path for columns [x0, x1): sorted columns slide along the row, left and right borders replicated. */
function medianColumns(src: Uint16Array | Uint8Array, dst: Uint16Array | Uint8Array, width: number, height: number, x0: number, x1: number): void {
  const min = Math.min;
  const max = Math.max;
  for (let y = 0; y < height; y++) {
    const r0 = Math.max(0, y - 1) * width;
    const r1 = y * width;
    const r2 = Math.min(height - 1, y + 1) * width;
    const xa = Math.max(0, x0 - 1);
    let a0 = src[r0 + xa], a1 = src[r1 + xa], a2 = src[r2 + xa];
    let t = min(a0, a1); a1 = max(a0, a1); a0 = t;
    t = min(a1, a2); a2 = max(a1, a2); a1 = t;
    t = min(a0, a1); a1 = max(a0, a1); a0 = t;
    let b0 = src[r0 + x0], b1 = src[r1 + x0], b2 = src[r2 + x0];
    t = min(b0, b1); b1 = max(b0, b1); b0 = t;
    t = min(b1, b2); b2 = max(b1, b2); b1 = t;
    t = min(b0, b1); b1 = max(b0, b1); b0 = t;
    for (let x = x0; x < x1; x++) {
      const xc = x + 1 < width ? x + 1 : x;
      let c0 = src[r0 + xc], c1 = src[r1 + xc], c2 = src[r2 + xc];
      t = min(c0, c1); c1 = max(c0, c1); c0 = t;
      t = min(c1, c2); c2 = max(c1, c2); c1 = t;
      t = min(c0, c1); c1 = max(c0, c1); c0 = t;
      const lo = max(a0, b0, c0);
      const hi = min(a2, b2, c2);
      const mid = max(min(a1, b1), min(max(a1, b1), c1));
      dst[r1 + x] = max(min(lo, mid), min(max(lo, mid), hi));
      a0 = b0; a1 = b1; a2 = b2;
      b0 = c0; b1 = c1; b2 = c2;
    }
  }
}
