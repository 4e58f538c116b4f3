import { describe, expect, it } from 'vitest';
import { drawText, measureText, drawableText } from './font';

describe('bitmap font', () => {
  it('draws inside the measured box only', () => {
    const w = 120;
    const h = 30;
    const frame = new Uint8Array(w * h);
    const text = drawableText("Bob O'Brien");
    const size = measureText(text, 2);
    drawText(frame, w, h, 3, 2, text, 2, 255);
    let inside = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (frame[y * w + x] !== 255) continue;
        const inBox = x >= 3 && x < 3 + size.width && y >= 2 && y < 2 + size.height;
        expect(inBox).toBe(true);
        inside++;
      }
    }
    expect(inside).toBeGreaterThan(100);
  });

  it('replaces characters it cannot draw with spaces', () => {
    expect(drawableText('张a-1')).toBe(' A-1');
  });
});
