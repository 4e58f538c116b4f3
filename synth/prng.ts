/**
 * Seeded randomness for the generator. Every stream is derived from (seed, label) so that adding a new use of
 * randomness in one place does not shift the values drawn anywhere else: output stays byte-identical per seed.
 */

/** FNV-1a 32-bit over UTF-8 bytes, used only to turn labels into PRNG seeds. */
function hash32(text: string, basis = 0x811c9dc5): number {
  let h = basis >>> 0;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: string, label: string) {
    const key = `${seed}\u0000${label}`;
    this.a = hash32(key, 0x811c9dc5);
    this.b = hash32(key, 0x9e3779b9);
    this.c = hash32(key, 0x85ebca6b);
    this.d = hash32(key, 0xc2b2ae35) | 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  /** sfc32: uniform in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** Integer in [min, max] inclusive. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)];
  }

  /** A number with `decimals` digits after the point, uniform in [min, max]. */
  float(min: number, max: number, decimals: number): number {
    const f = 10 ** decimals;
    return Math.round((min + this.next() * (max - min)) * f) / f;
  }

  digits(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += String(this.int(0, 9));
    return s;
  }

  hex(n: number): string {
    let s = '';
    for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(0, 15)];
    return s;
  }

  /** A child stream: independent of how much this stream has been used. */
  fork(seed: string, label: string): Rng {
    return new Rng(seed, label);
  }
}
