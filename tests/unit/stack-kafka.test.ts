import { describe, expect, it } from 'vitest';
import { newKafkaClusterId } from '../../deploy/stack/kafka';

describe('newKafkaClusterId', () => {
  it('never starts with "-", which kafka-storage would parse as an option', () => {
    // 0xf8 encodes to a leading '-' in base64url: the first two draws must be refused.
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0xfb), Buffer.alloc(16, 0x41)];
    expect(Buffer.alloc(16, 0xf8).toString('base64url').startsWith('-')).toBe(true);
    expect(Buffer.alloc(16, 0xfb).toString('base64url').startsWith('-')).toBe(true);
    const id = newKafkaClusterId(() => draws.shift()!);
    expect(id).toBe(Buffer.alloc(16, 0x41).toString('base64url'));
    expect(draws).toHaveLength(0);
  });

  it('is 16 random bytes in base64url, like Kafka ids', () => {
    for (let i = 0; i < 2000; i++) {
      const id = newKafkaClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    }
  });
});
