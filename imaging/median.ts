import { MEDIAN16_WASM_BASE64 } from './median-wasm';

/**
 * 3x3 median filter on 8- or 16-bit single-channel images, borders replicated (as OpenCV's medianBlur). sharp's
 * median sorts per pixel on 16-bit data (slow). Each column of three is sorted once; the median of 9 is then
 * med3(max of lows, med3 of middles, min of highs). 16-bit images run eight pixels at a time in WebAssembly SIMD
 * (imaging/tools/generate-median-wasm.ts); 8-bit images take the scalar path. Pass `out` (same type and length as
 * `src`, not `src` itself) to reuse a buffer across frames; it is returned.
 */
export function median3x3<T extends Uint16Array | Uint8Array>(
  src: T,
  width: number,
  height: number,
  out?: T,
): T {
  if (src.length !== width * height)
    throw new RangeError(`median3x3: source holds ${src.length} pixels, not ${width}x${height}`);
  if (
    out &&
    (out.length !== src.length || out.constructor !== src.constructor || out.buffer === src.buffer)
  ) {
    throw new RangeError('median3x3: out must be a separate array of the same type and length as the source');
  }
  if (src instanceof Uint16Array && width > 0 && height > 0)
    return medianSimd16(src, width, height, out as Uint16Array | undefined) as T;
  const dst =
    out ?? ((src instanceof Uint16Array ? new Uint16Array(src.length) : new Uint8Array(src.length)) as T);
  if (width === 0 || height === 0) return dst;
  medianColumns(src, dst, width, height, 0, width);
  return dst;
}

// The project's TypeScript lib has no DOM types, so WebAssembly's shape is declared here.
interface WasmExports {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  median16: (src: number, dst: number, stride: number, height: number) => void;
}
const WebAssemblyApi = (
  globalThis as unknown as {
    WebAssembly: {
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object) => { exports: unknown };
    };
  }
).WebAssembly;
let wasm: WasmExports | undefined;
// A view of the whole WebAssembly memory, remade only when the memory grows (growing detaches the old buffer).
let heap: Uint16Array | undefined;

/** The memory is grown once to the largest image seen and kept, so a frame costs one copy in and one copy out. */
function wasmHeap(elements: number): { wasm: WasmExports; heap: Uint16Array } {
  if (!wasm) {
    const module = new WebAssemblyApi.Module(Buffer.from(MEDIAN16_WASM_BASE64, 'base64'));
    wasm = new WebAssemblyApi.Instance(module).exports as WasmExports;
  }
  const needed = Math.ceil((elements * 2) / 65536) - wasm.memory.buffer.byteLength / 65536;
  if (needed > 0) wasm.memory.grow(needed);
  if (!heap || heap.buffer !== wasm.memory.buffer) heap = new Uint16Array(wasm.memory.buffer);
  return { wasm, heap };
}

/** Rows go into WebAssembly memory at a stride rounded up to eight pixels (the tail padded with the row's last
 * pixel, which is what border replication gives there); the kernel replicates the borders itself. A width that is
 * already a multiple of eight goes in and out with one copy each. */
function medianSimd16(
  src: Uint16Array,
  width: number,
  height: number,
  out: Uint16Array | undefined,
): Uint16Array {
  const stride = 8 * Math.ceil(width / 8);
  const block = stride * height;
  const { wasm, heap } = wasmHeap(block * 2);
  if (stride === width) {
    heap.set(src);
  } else {
    for (let y = 0; y < height; y++) {
      const at = y * stride;
      const row = y * width;
      heap.set(src.subarray(row, row + width), at);
      heap.fill(src[row + width - 1], at + width, at + stride);
    }
  }
  wasm.median16(0, block * 2, stride, height);
  // Without a caller's buffer, ArrayBuffer#slice copies out without first zero-filling a new array.
  if (stride === width && !out) return new Uint16Array(heap.buffer.slice(block * 2, block * 4));
  const dst = out ?? new Uint16Array(src.length);
  if (stride === width) {
    dst.set(heap.subarray(block, block + block));
  } else {
    for (let y = 0; y < height; y++) {
      const at = block + y * stride;
      dst.set(heap.subarray(at, at + width), y * width);
    }
  }
  return dst;
}

/** The scalar path for columns [x0, x1): sorted columns slide along the row, left and right borders replicated. */
function medianColumns(
  src: Uint16Array | Uint8Array,
  dst: Uint16Array | Uint8Array,
  width: number,
  height: number,
  x0: number,
  x1: number,
): void {
  const min = Math.min;
  const max = Math.max;
  for (let y = 0; y < height; y++) {
    const r0 = Math.max(0, y - 1) * width;
    const r1 = y * width;
    const r2 = Math.min(height - 1, y + 1) * width;
    const xa = Math.max(0, x0 - 1);
    let a0 = src[r0 + xa],
      a1 = src[r1 + xa],
      a2 = src[r2 + xa];
    let t = min(a0, a1);
    a1 = max(a0, a1);
    a0 = t;
    t = min(a1, a2);
    a2 = max(a1, a2);
    a1 = t;
    t = min(a0, a1);
    a1 = max(a0, a1);
    a0 = t;
    let b0 = src[r0 + x0],
      b1 = src[r1 + x0],
      b2 = src[r2 + x0];
    t = min(b0, b1);
    b1 = max(b0, b1);
    b0 = t;
    t = min(b1, b2);
    b2 = max(b1, b2);
    b1 = t;
    t = min(b0, b1);
    b1 = max(b0, b1);
    b0 = t;
    for (let x = x0; x < x1; x++) {
      const xc = x + 1 < width ? x + 1 : x;
      let c0 = src[r0 + xc],
        c1 = src[r1 + xc],
        c2 = src[r2 + xc];
      t = min(c0, c1);
      c1 = max(c0, c1);
      c0 = t;
      t = min(c1, c2);
      c2 = max(c1, c2);
      c1 = t;
      t = min(c0, c1);
      c1 = max(c0, c1);
      c0 = t;
      const lo = max(a0, b0, c0);
      const hi = min(a2, b2, c2);
      const mid = max(min(a1, b1), min(max(a1, b1), c1));
      dst[r1 + x] = max(min(lo, mid), min(max(lo, mid), hi));
      a0 = b0;
      a1 = b1;
      a2 = b2;
      b0 = c0;
      b1 = c1;
      b2 = c2;
    }
  }
}
