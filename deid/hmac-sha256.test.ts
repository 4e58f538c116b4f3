import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { HmacSha256 } from './hmac-sha256';

/** node:crypto's HMAC with the key service's framing: each part followed by a NUL byte. */
function reference(key: Buffer, parts: string[]): Buffer {
  const h = crypto.createHmac('sha256', key);
  for (const p of parts) h.update(p).update('\0');
  return h.digest();
}

describe('HmacSha256', () => {
  it('equals node:crypto HMAC-SHA-256 for every length around the block boundaries, any script, lone surrogates', () => {
    const key = crypto.createHash('sha256').update('hmac-test').digest();
    const hmac = new HmacSha256(key);
    const alphabet = ['a', 'Z', '0', '|', '王', '😀', '\ud800', 'é', '\0'];
    let checked = 0;
    for (let len = 0; len < 300; len++) {
      let s = '';
      for (let i = 0; i < len; i++) s += alphabet[(i * 7 + len) % alphabet.length];
      for (const parts of [[s], ['resource-id', s], [s, s.slice(0, 3)], ['', '']]) {
        const expected = reference(key, parts).toString('hex');
        expect(hmac.digest(parts[0], parts[1]).toString('hex'), `length ${len}`).toBe(expected);
        expect(hmac.hex16(parts[0], parts[1]), `length ${len}`).toBe(expected.slice(0, 32));
        checked++;
      }
    }
    // A message far larger than the working buffer.
    const big = 'x'.repeat(70_000) + '王'.repeat(5000);
    expect(hmac.digest('d', big).equals(reference(key, ['d', big]))).toBe(true);
    expect(checked).toBe(1200);
  });

  it('equals node:crypto on both sides of the length from which messages go to node:crypto', () => {
    const key = crypto.createHash('sha256').update('hmac-native').digest();
    const hmac = new HmacSha256(key);
    for (let len = 2040; len < 2056; len++) {
      for (const s of ['a'.repeat(len), '王'.repeat(len), `${'b'.repeat(len - 1)}\ud800`]) {
        expect(hmac.hex16(s), `length ${len}`).toBe(reference(key, [s]).toString('hex').slice(0, 32));
        expect(
          hmac.digest('resource-id', s).equals(reference(key, ['resource-id', s])),
          `length ${len}`,
        ).toBe(true);
        expect(
          hmac
            .digest(s.slice(0, 1000), s.slice(1000))
            .equals(reference(key, [s.slice(0, 1000), s.slice(1000)])),
          `length ${len}`,
        ).toBe(true);
      }
    }
  });

  it('takes keys of any length up to one block and refuses longer ones', () => {
    for (const n of [1, 16, 32, 63, 64]) {
      const key = crypto.randomBytes(n);
      expect(new HmacSha256(key).digest('v').equals(reference(key, ['v']))).toBe(true);
    }
    expect(() => new HmacSha256(crypto.randomBytes(65))).toThrow(/longer than one/);
  });
});
