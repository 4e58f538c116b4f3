/**
 * Source-format -> FHIR R4 mappers. Pure functions over bytes/objects: input + context in, resources + issues out.
 * Every record in either yields resources or is rejected with an OperationOutcome issue naming its location.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { NotSupportedError } from '../platform/errors';
import { lineBatches } from '../platform/read-lines';
import {
  countHl7LinesAndMessages,
  countNewlines,
  createCsvCutter,
  createHl7Cutter,
  forEachFilePiece,
  type Hl7FileState,
} from './file-pieces';
import type { DicomSummary } from '../schemas/dicom-summary';
import type { BatchHandler, MapContext, MapResult, SourceFormat } from './types';
import { sourceFormats } from './types';
import { mapHl7v2 } from './ehr/hl7v2';
import { indexFhirPatients, mapFhir } from './ehr/fhir-normalize';
import { mapAppleHealthStream } from './wearable/apple-health';
import { mapOpenMHealth } from './wearable/openmhealth';
import { mapVendorWearable } from './wearable/vendor-wearable';
import { mapHisCsv } from './ehr/his-csv';
import { mapSpl } from './druglabel/spl';
import { mapOpenFda } from './druglabel/openfda';
import { mapCnLabel } from './druglabel/cn-label';
import { mapNrdl } from './insurance/nrdl';
import { mapPdexFormulary } from './insurance/pdex';
import { mapImagingStudies as mapImagingStudiesImpl } from './imaging/imaging-study';

export { sourceFormats };
export type { BatchHandler, ColumnMapping, FhirResource, MapContext, MapResult, SourceFormat } from './types';
export { validateFhirResource, warmUpValidator } from './validate';
export { patientStableId, stableId } from './ids';
export { indexFhirPatients };

export function isSourceFormat(value: string): value is SourceFormat {
  return (sourceFormats as readonly string[]).includes(value);
}

/** Map one whole file or page held in memory. */
export async function mapBuffer(format: SourceFormat, bytes: Buffer, ctx: MapContext): Promise<MapResult> {
  switch (format) {
    case 'hl7v2':
      return mapHl7v2(bytes, ctx);
    case 'fhir':
      return mapFhir(bytes, ctx);
    case 'openmhealth':
      return mapOpenMHealth(bytes, ctx);
    case 'apple-health':
      return mapAppleHealthStream(Readable.from([bytes]), ctx);
    case 'vendor-wearable':
      return mapVendorWearable(bytes, ctx);
    case 'his-csv':
      return mapHisCsv(bytes, ctx);
    case 'spl':
      return mapSpl(bytes, ctx);
    case 'openfda':
      return mapOpenFda(bytes, ctx);
    case 'cn-label':
      return mapCnLabel(bytes, ctx);
    case 'nrdl':
      return mapNrdl(bytes, ctx);
    case 'pdex-formulary':
      return mapPdexFormulary(bytes, ctx);
    default:
      throw new NotSupportedError(`map format ${String(format satisfies never)}`);
  }
}

/**
 * Map a file from disk. Large streaming formats (apple-health, FHIR NDJSON) are read in constant memory, and HL7 v2
 * and HIS CSV files in pieces of whole records (mappers/file-pieces.ts), delivered through onBatch; other formats are
 * read whole and delivered as one batch. With onBatch, the returned result carries the
 * totals (recordsIn/Mapped/Rejected) and empty resources/issues arrays (they went to onBatch); without it, everything.
 */
export async function mapFile(
  format: SourceFormat,
  path: string,
  ctx: MapContext,
  onBatch?: BatchHandler,
  options: { linesPerBatch?: number; pieceBytes?: number } = {},
): Promise<MapResult> {
  if (format === 'apple-health')
    return mapAppleHealthStream(createReadStream(path, { highWaterMark: 1 << 20 }), ctx, onBatch);
  if (format === 'fhir' && onBatch) {
    const totals = await mapNdjsonInPieces(
      path,
      ctx,
      onBatch,
      options.linesPerBatch ?? NDJSON_LINES_PER_BATCH,
    );
    if (totals) return totals;
  }
  if ((format === 'hl7v2' || format === 'his-csv') && onBatch)
    return mapRecordsInPieces(format, path, ctx, onBatch, options.pieceBytes ?? FILE_PIECE_BYTES);
  const result = await mapBuffer(format, await readWhole(path), ctx);
  if (!onBatch) return result;
  await onBatch(result);
  return {
    resources: [],
    issues: [],
    recordsIn: result.recordsIn,
    recordsMapped: result.recordsMapped,
    recordsRejected: result.recordsRejected,
  };
}

/**
 * Batches handed to onBatch, their record counts added up: what mapFile returns when it maps a file in pieces (the
 * resources and issues went to onBatch).
 */
function countedBatches(onBatch: BatchHandler): {
  totals: MapResult;
  deliver: (r: MapResult) => Promise<void>;
} {
  const totals: MapResult = { resources: [], issues: [], recordsIn: 0, recordsMapped: 0, recordsRejected: 0 };
  return {
    totals,
    async deliver(result) {
      totals.recordsIn += result.recordsIn;
      totals.recordsMapped += result.recordsMapped;
      totals.recordsRejected += result.recordsRejected;
      await onBatch(result);
    },
  };
}

/** Bytes of an HL7 v2 or HIS CSV file mapped at a time (a V8 string stops at 512 MiB; mapping holds ~7× its input). */
const FILE_PIECE_BYTES = 16 * 2 ** 20;

/**
 * An HL7 v2 or HIS CSV file a piece of whole records at a time, each mapped with its place in the file (lines,
 * message ordinals), so ids and locations are the whole file's. A CSV piece carries the file's header.
 */
async function mapRecordsInPieces(
  format: 'hl7v2' | 'his-csv',
  path: string,
  ctx: MapContext,
  onBatch: BatchHandler,
  pieceBytes: number,
): Promise<MapResult> {
  const { totals, deliver } = countedBatches(onBatch);
  if (format === 'hl7v2') {
    let firstLine = 1;
    let firstRecord = 1;
    let hl7File: Hl7FileState = {};
    await forEachFilePiece(path, { pieceBytes, cutterFor: createHl7Cutter }, async (bytes) => {
      const result = mapHl7v2(bytes, { ...ctx, firstLine, firstRecord, hl7File });
      const counted = countHl7LinesAndMessages(bytes, hl7File);
      firstLine += counted.lines;
      firstRecord += counted.messages;
      hl7File = counted.state;
      await deliver(result);
    });
    return totals;
  }
  // The header is the file's first record: the first piece of at least one byte.
  let header: Buffer | undefined;
  await forEachFilePiece(path, { pieceBytes: 1, cutterFor: () => createCsvCutter() }, (bytes) => {
    header = Buffer.from(bytes);
    return false;
  });
  if (!header) return deliver(mapHisCsv(Buffer.alloc(0), ctx)).then(() => totals);
  let firstLine = 1 + countNewlines(header);
  const csvHeader = header;
  // A check-up row is a visit with one result per column (the Tianchi file: 1 MB, 190,856 resources, 1.1 GB mapped
  // whole): its pieces are smaller by the row's fan-out, so a piece holds about as many resources as a long table's.
  const wide = ctx.columnMapping?.tables.checkups;
  const fanOut = wide ? Object.keys(wide.results).length + 3 : 1;
  await forEachFilePiece(
    path,
    {
      from: csvHeader.length,
      pieceBytes: Math.max(1, Math.floor(pieceBytes / fanOut)),
      cutterFor: () => createCsvCutter(),
    },
    async (bytes) => {
      const result = mapHisCsv(Buffer.concat([csvHeader, bytes]), { ...ctx, firstLine });
      firstLine += countNewlines(bytes);
      await deliver(result);
    },
  );
  return totals;
}

/** Lines of FHIR NDJSON mapped at a time when a file is read in pieces. */
const NDJSON_LINES_PER_BATCH = 5000;

/**
 * Whether a file's first piece is NDJSON, as readJsonDocuments decides it (its first line, if not blank, a complete
 * JSON object, and more than one line): anything else (a pretty-printed Bundle, one document) is read whole.
 */
function isNdjsonPiece(piece: { lines: string[]; last: boolean }): boolean {
  const lines = piece.lines.filter((l) => l.trim());
  if (!lines.length || (piece.last && lines.length < 2) || !piece.lines[0].trimStart().startsWith('{'))
    return false;
  try {
    JSON.parse(piece.lines[0]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Each piece of an NDJSON file (up to `linesPerBatch` lines, as bytes, with the number of its first line), awaited in
 * turn; false, with nothing handed over, when the file is not NDJSON (see isNdjsonPiece) and must be read whole.
 * A Bulk export file runs to gigabytes: more than readFile takes (2 GiB), and far more than its resources fit in memory.
 */
async function forEachNdjsonPiece(
  path: string,
  linesPerBatch: number,
  onPiece: (bytes: Buffer, firstLine: number) => void | Promise<void>,
): Promise<boolean> {
  let first = true;
  for await (const piece of lineBatches(path, linesPerBatch)) {
    if (first && !isNdjsonPiece(piece)) return false;
    first = false;
    await onPiece(Buffer.from(piece.lines.join('\n'), 'utf8'), piece.firstLine);
  }
  return !first;
}

async function readWhole(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/**
 * FHIR NDJSON a piece at a time, lines numbered in the file. Undefined when the file is not NDJSON: the caller reads
 * it whole. References across pieces resolve like references across files: through ctx.patientIds
 * (indexFhirPatientsInFile first) and stable ids.
 */
async function mapNdjsonInPieces(
  path: string,
  ctx: MapContext,
  onBatch: BatchHandler,
  linesPerBatch: number,
): Promise<MapResult | undefined> {
  const { totals, deliver } = countedBatches(onBatch);
  const ndjson = await forEachNdjsonPiece(path, linesPerBatch, (bytes, firstLine) =>
    deliver(mapFhir(bytes, { ...ctx, firstLine })),
  );
  return ndjson ? totals : undefined;
}

/** indexFhirPatients over a file on disk, NDJSON a piece at a time (see forEachNdjsonPiece). */
export async function indexFhirPatientsInFile(
  path: string,
  ctx: MapContext & { patientIds: Map<string, string> },
  options: { linesPerBatch?: number } = {},
): Promise<void> {
  const ndjson = await forEachNdjsonPiece(
    path,
    options.linesPerBatch ?? NDJSON_LINES_PER_BATCH,
    (bytes, firstLine) => indexFhirPatients(bytes, { ...ctx, firstLine }),
  );
  if (!ndjson) indexFhirPatients(await readWhole(path), ctx);
}

/**
 * DicomSummary (one per instance) -> one ImagingStudy per study, naming the Patient the EHR side has for it (see
 * imaging-study.ts).
 */
export function mapImagingStudies(summaries: DicomSummary[], ctx: MapContext): MapResult {
  return mapImagingStudiesImpl(summaries, ctx);
}
