import { describe, expect, it } from 'vitest';
import { parseMultipart } from './dicomweb';

describe('parseMultipart', () => {
  it('splits parts, keeping bodies that contain CRLF and dashes intact', () => {
    const a = Buffer.from('DICM\r\n--not-the-boundary\r\nbinary');
    const b = Buffer.from([0, 1, 2, 13, 10]);
    const body = Buffer.concat([
      Buffer.from('--XyZ\r\nContent-Type: application/dicom\r\n\r\n'),
      a,
      Buffer.from('\r\n'),
      Buffer.from('--XyZ\r\nContent-Type: application/dicom\r\nContent-Length: 5\r\n\r\n'),
      b,
      Buffer.from('\r\n--XyZ--\r\n'),
    ]);
    const parts = parseMultipart(body, 'multipart/related; type="application/dicom"; boundary=XyZ', 'test');
    expect(parts).toEqual([a, b]);
  });

  it('rejects a non-multipart response, naming the content type only', () => {
    expect(() => parseMultipart(Buffer.from('{}'), 'application/json', 'WADO')).toThrow(
      /expected a multipart response, got 'application\/json'/,
    );
  });
});
