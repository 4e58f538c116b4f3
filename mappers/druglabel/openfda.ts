/**
 * openFDA drug/label JSON ({meta, results[]} or NDJSON of results) -> label resources. One element of results[] is
 * one label. Section fields are the array-valued text fields; the openfda block gives NDC, RxNorm, UNII.
 */
import { expandArray, readJsonDocuments } from '../json-input';
import { RecordError, RecordSink } from '../sink';
import type { MapContext, MapResult } from '../types';
import type { LabelSection } from './label';
import { NDC, RXNORM, SPL_SET_ID, UNII, labelResources } from './label';

type Json = Record<string, unknown>;

/** Fields that are identifiers or metadata, not label text. */
const NOT_SECTIONS = new Set([
  'openfda',
  'set_id',
  'id',
  'version',
  'effective_time',
  'spl_product_data_elements',
]);

function strings(v: unknown): string[] {
  return Array.isArray(v)
    ? v.filter((x): x is string => typeof x === 'string')
    : typeof v === 'string'
      ? [v]
      : [];
}

function isObject(v: unknown): v is Json {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

export function mapOpenFda(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  for (const doc of readJsonDocuments(bytes, sink)) {
    const root = doc.value;
    const items =
      isObject(root) && Array.isArray(root.results)
        ? expandArray({
            value: root.results,
            location: doc.location === '$' ? '$.results' : `${doc.location}:$.results`,
          })
        : [doc];
    for (const item of items) sink.record(item.location, () => mapLabel(item.value, ctx));
  }
  return sink.result;
}

function mapLabel(v: unknown, ctx: MapContext): ReturnType<typeof labelResources> {
  if (!isObject(v)) throw new RecordError('label is not a JSON object', '$', 'structure');
  const setId = typeof v.set_id === 'string' ? v.set_id : undefined;
  const id = typeof v.id === 'string' ? v.id : undefined;
  if (!setId && !id) throw new RecordError('label has neither set_id nor id', 'set_id', 'required');
  if (v.version !== undefined && typeof v.version !== 'string')
    throw new RecordError('version is not a string', 'version', 'value');
  const of = isObject(v.openfda) ? v.openfda : {};
  const sections: LabelSection[] = [];
  for (const [k, val] of Object.entries(v)) {
    if (NOT_SECTIONS.has(k)) continue;
    if (k.endsWith('_table')) continue;
    const text = strings(val);
    if (val !== undefined && !Array.isArray(val) && typeof val !== 'string')
      throw new RecordError('section is not text or an array of text', k, 'value');
    if (text.length) sections.push({ title: k.replace(/_/g, ' '), text: text.join('\n\n') });
  }
  const codings = [
    ...strings(of.rxcui).map((code) => ({ system: RXNORM, code })),
    ...strings(of.product_ndc).map((code) => ({ system: NDC, code })),
  ];
  const identifiers = [...strings(of.product_ndc), ...strings(of.package_ndc)].map((value) => ({
    system: NDC,
    value,
  }));
  if (setId) identifiers.push({ system: SPL_SET_ID, value: setId });
  const names = strings(of.substance_name);
  const uniis = strings(of.unii);
  const effective =
    typeof v.effective_time === 'string' && /^\d{8}$/.test(v.effective_time)
      ? `${v.effective_time.slice(0, 4)}-${v.effective_time.slice(4, 6)}-${v.effective_time.slice(6, 8)}T00:00:00Z`
      : undefined;
  const type = strings(of.product_type)[0];
  return labelResources({
    institution: ctx.institution,
    key: `${setId ?? id}|${typeof v.version === 'string' ? v.version : ''}`,
    docType:
      type === 'HUMAN OTC DRUG'
        ? { code: '34390-5', display: 'HUMAN OTC DRUG LABEL' }
        : type === 'HUMAN PRESCRIPTION DRUG'
          ? { code: '34391-3', display: 'HUMAN PRESCRIPTION DRUG LABEL' }
          : undefined,
    title: strings(of.brand_name)[0],
    date: effective,
    language: 'en',
    sections,
    products: [
      {
        codings,
        name: strings(of.brand_name)[0] ?? strings(of.generic_name)[0],
        identifiers,
        manufacturer: strings(of.manufacturer_name)[0],
        route: strings(of.route)[0],
        synonyms: strings(of.generic_name),
        ingredients: names.map((name, i) => ({
          name,
          codings: uniis[i] && names.length === uniis.length ? [{ system: UNII, code: uniis[i] }] : [],
          active: true,
        })),
      },
    ],
    masterIdentifier: id ? { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${id.toLowerCase()}` } : undefined,
  });
}
