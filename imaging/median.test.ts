import { describe, expect, it } from 'vitest';
import { median3x3 } from './median';

function bruteForce(src: ArrayLike<number>, w: number, h: number): number[] {
  const out: number[] = [];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v: number[] = [];
      for (let dy = -1; dy <= 1; dy++)
        for (let dx = -1; dx <= 1; dx++) {
          v.push(src[Math.min(h - 1, Math.max(0, y + dy)) * w + Math.min(w - 1, Math.max(0, x + dx))]);
        }
      out.push(v.sort((a, b) => a - b)[4]);
    }
  }
  return out;
}

describe('median3x3', () => {
  it('equals a brute-force median with replicated borders on random 16-bit data', () => {
    let seed = 12345;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 65536;
    for (const [w, h] of [
      [37, 23],
      [3, 3],
      [2, 5],
      [64, 1],
      [1, 6],
      [10, 4],
      [17, 9],
      [512, 7],
    ]) {
      const src = Uint16Array.from({ length: w * h }, rand);
      expect(Array.from(median3x3(src, w, h))).toEqual(bruteForce(src, w, h));
    }
  });

  it('keeps the array type and removes salt noise on 8-bit data', () => {
    const src = new Uint8Array(100).fill(10);
    src[55] = 255;
    const out = median3x3(src, 10, 10);
    expect(out).toBeInstanceOf(Uint8Array);
    expect(out[55]).toBe(10);
  });
});

describe('median3x3 8-bit scalar path', () => {
  it('equals a brute-force median on random 8-bit data', () => {
    let seed = 7;
    const src = Uint8Array.from(
      { length: 19 * 11 },
      () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 256,
    );
    expect(Array.from(median3x3(src, 19, 11))).toEqual(bruteForce(src, 19, 11));
  });
});

describe('median3x3 output buffer and reused WebAssembly memory', () => {
  it('writes into a caller buffer and stays exact when a large image is followed by smaller ones', () => {
    let seed = 99;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) % 65536;
    for (const [w, h] of [
      [256, 300],
      [8, 3],
      [16, 5],
      [9, 2],
      [24, 1],
      [256, 300],
    ]) {
      const src = Uint16Array.from({ length: w * h }, rand);
      const expected = bruteForce(src, w, h);
      const out = new Uint16Array(w * h).fill(7);
      expect(median3x3(src, w, h, out)).toBe(out);
      expect(Array.from(out)).toEqual(expected);
      expect(Array.from(median3x3(src, w, h))).toEqual(expected);
    }
  });

  it('rejects a source of the wrong size and an output that is the source or the wrong length', () => {
    const src = new Uint16Array(12);
    expect(() => median3x3(src, 5, 3)).toThrow(/not 5x3/);
    expect(() => median3x3(src, 4, 3, src)).toThrow(/separate array/);
    expect(() => median3x3(src, 4, 3, new Uint16Array(11))).toThrow(/same type and length/);
  });
});
