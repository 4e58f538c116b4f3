/**
 * Generates config/dicom/dictionary.json (tag → VR and keyword) from DCMTK's data dictionary, which is itself
 * generated from PS3.6. Implicit VR files carry no VRs, so the reader needs this to know which elements are
 * sequences, dates, person names or binary.
 *
 *   npx tsx imaging/tools/generate-dictionary.ts [/usr/share/libdcmtk17/dicom.dic]
 */
import fs from 'node:fs';
import path from 'node:path';

// DCMTK's internal VR names for attributes whose VR depends on context; the implicit-VR reading of each.
const CONTEXT_VR: Record<string, string> = { ox: 'OW', xs: 'US', lt: 'OW', up: 'UL', na: 'UN', px: 'OW' };

const source = process.argv[2] ?? '/usr/share/libdcmtk17/dicom.dic';
const out = path.resolve(import.meta.dirname, '../../config/dicom/dictionary.json');
const exact: Record<string, [string, string]> = {};
const ranges: { group: [number, number]; element: [number, number]; vr: string; keyword: string }[] = [];

for (const line of fs.readFileSync(source, 'latin1').split('\n')) {
  if (line.startsWith('#') || !line.trim()) continue;
  const [tagField, vrField, keyword] = line.split('\t');
  const m = /^\(([0-9A-Fa-f]{4})(?:-([0-9A-Fa-f]{4}))?,([0-9A-Fa-f]{4})(?:-([0-9A-Fa-f]{4}))?\)$/.exec(
    tagField,
  );
  if (!m || !vrField || !keyword) continue; // private-creator tags like (0029,"SIEMENS",10) are in private.dic only
  const vr = CONTEXT_VR[vrField] ?? vrField;
  if (!m[2] && !m[4]) {
    exact[(m[1] + m[3]).toLowerCase()] = [vr, keyword];
  } else {
    const g0 = parseInt(m[1], 16);
    const e0 = parseInt(m[3], 16);
    ranges.push({
      group: [g0, m[2] ? parseInt(m[2], 16) : g0],
      element: [e0, m[4] ? parseInt(m[4], 16) : e0],
      vr,
      keyword,
    });
  }
}

fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(
  out,
  JSON.stringify({ source: `DCMTK ${path.basename(source)} (PS3.6 data dictionary)`, exact, ranges }) + '\n',
);
process.stdout.write(`wrote ${Object.keys(exact).length} tags and ${ranges.length} ranges to ${out}\n`);
