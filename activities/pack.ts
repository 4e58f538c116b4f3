import { TributaryError } from '../platform/errors';
import type { PagePart } from './connectors';

/**
 * A page of named parts (one file, one Bundle page, one study's DICOM instances) as one staging object:
 * `u32 headerLength | header JSON | part bytes...`. Binary-safe and without base64's third more bytes.
 */
export interface PackedPage {
  format: string;
  sourceFile: string;
  /** `firstLine`, `firstRecord`, `hl7File`: a piece of a larger file (see SourcePage). */
  parts: PagePart[];
  /**
   * When the page was received (ISO 8601): the connector's fetch time, or a feed's latest Kafka message timestamp.
   * Orders the versions of a work item (annotation/store.ts). Absent from pages staged before it.
   */
  receivedAt?: string;
}

export function packPage(page: PackedPage): Buffer {
  const header = Buffer.from(
    JSON.stringify({
      format: page.format,
      sourceFile: page.sourceFile,
      ...(page.receivedAt ? { receivedAt: page.receivedAt } : {}),
      parts: page.parts.map((p) => ({
        name: p.name,
        length: p.bytes.length,
        ...(p.firstLine !== undefined ? { firstLine: p.firstLine } : {}),
        ...(p.firstRecord !== undefined ? { firstRecord: p.firstRecord } : {}),
        ...(p.hl7File !== undefined ? { hl7File: p.hl7File } : {}),
      })),
    }),
  );
  const len = Buffer.alloc(4);
  len.writeUInt32BE(header.length, 0);
  return Buffer.concat([len, header, ...page.parts.map((p) => p.bytes)]);
}

export function unpackPage(bytes: Buffer, where: string): PackedPage {
  const fail = (): never => {
    throw new TributaryError(`${where}: not a packed page`, {
      code: 'structure',
      location: where,
      nonRetryable: true,
    });
  };
  if (bytes.length < 4) fail();
  const headerLength = bytes.readUInt32BE(0);
  if (4 + headerLength > bytes.length) fail();
  let header: {
    format: string;
    sourceFile: string;
    receivedAt?: unknown;
    parts: (Omit<PagePart, 'bytes'> & { length: number })[];
  };
  try {
    header = JSON.parse(bytes.subarray(4, 4 + headerLength).toString('utf8'));
  } catch {
    return fail();
  }
  let offset = 4 + headerLength;
  const parts = header.parts.map((p) => {
    const part = {
      name: p.name,
      bytes: bytes.subarray(offset, offset + p.length),
      ...(typeof p.firstLine === 'number' ? { firstLine: p.firstLine } : {}),
      ...(typeof p.firstRecord === 'number' ? { firstRecord: p.firstRecord } : {}),
      ...(p.hl7File && typeof p.hl7File === 'object' ? { hl7File: p.hl7File } : {}),
    };
    offset += p.length;
    return part;
  });
  if (offset !== bytes.length) fail();
  return {
    format: header.format,
    sourceFile: header.sourceFile,
    parts,
    ...(typeof header.receivedAt === 'string' ? { receivedAt: header.receivedAt } : {}),
  };
}
