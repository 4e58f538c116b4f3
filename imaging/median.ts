/* eslint-disable no-useless-assignment -- a sorting network swaps pairs whose later half is sometimes unread */
/**
 * 3x3 median filter on 8- or 16-bit single-channel images, borders replicated. sharp's median sorts per pixel on
 * 16-bit data (slow); this uses the 19-exchange median-of-9 network (Paeth / Devillard) on typed arrays.
 */
export function median3x3<T extends Uint16Array | Uint8Array>(src: T, width: number, height: number): T {
  const dst = new (src.constructor as { new (n: number): T })(src.length);
  if (width < 3 || height < 3) {
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) dst[y * width + x] = medianAt(src, width, height, x, y);
    return dst;
  }
  for (let y = 1; y < height - 1; y++) {
    let i = y * width + 1;
    const end = y * width + width - 1;
    for (; i < end; i++) {
      let p0 = src[i - width - 1], p1 = src[i - width], p2 = src[i - width + 1];
      let p3 = src[i - 1], p4 = src[i], p5 = src[i + 1];
      let p6 = src[i + width - 1], p7 = src[i + width], p8 = src[i + width + 1];
      let t: number;
      // prettier-ignore
      {
        if (p1 > p2) { t = p1; p1 = p2; p2 = t; } if (p4 > p5) { t = p4; p4 = p5; p5 = t; } if (p7 > p8) { t = p7; p7 = p8; p8 = t; }
        if (p0 > p1) { t = p0; p0 = p1; p1 = t; } if (p3 > p4) { t = p3; p3 = p4; p4 = t; } if (p6 > p7) { t = p6; p6 = p7; p7 = t; }
        if (p1 > p2) { t = p1; p1 = p2; p2 = t; } if (p4 > p5) { t = p4; p4 = p5; p5 = t; } if (p7 > p8) { t = p7; p7 = p8; p8 = t; }
        if (p0 > p3) { t = p0; p0 = p3; p3 = t; } if (p5 > p8) { t = p5; p5 = p8; p8 = t; } if (p4 > p7) { t = p4; p4 = p7; p7 = t; }
        if (p3 > p6) { t = p3; p3 = p6; p6 = t; } if (p1 > p4) { t = p1; p1 = p4; p4 = t; } if (p2 > p5) { t = p2; p2 = p5; p5 = t; }
        if (p4 > p7) { t = p4; p4 = p7; p7 = t; } if (p4 > p2) { t = p4; p4 = p2; p2 = t; } if (p6 > p4) { t = p6; p6 = p4; p4 = t; }
        if (p4 > p2) { t = p4; p4 = p2; p2 = t; }
      }
      dst[i] = p4;
    }
  }
  for (let x = 0; x < width; x++) {
    dst[x] = medianAt(src, width, height, x, 0);
    dst[(height - 1) * width + x] = medianAt(src, width, height, x, height - 1);
  }
  for (let y = 1; y < height - 1; y++) {
    dst[y * width] = medianAt(src, width, height, 0, y);
    dst[y * width + width - 1] = medianAt(src, width, height, width - 1, y);
  }
  return dst;
}

/** The median of the 3x3 neighbourhood of one pixel, with replicated borders (the slow path for edges). */
function medianAt(src: ArrayLike<number>, width: number, height: number, x: number, y: number): number {
  const v: number[] = [];
  for (let dy = -1; dy <= 1; dy++) {
    const yy = Math.min(height - 1, Math.max(0, y + dy));
    for (let dx = -1; dx <= 1; dx++) v.push(src[yy * width + Math.min(width - 1, Math.max(0, x + dx))]);
  }
  v.sort((a, b) => a - b);
  return v[4];
}
