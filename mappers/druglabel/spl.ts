/**
 * FDA Structured Product Labeling (HL7 v3 XML, urn:hl7-org:v3) -> label resources. One XML document is one label.
 * Documents declaring entities are refused (no entity expansion, so no XML bombs).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { RecordError, RecordSink } from '../sink';
import type { MapContext, MapResult } from '../types';
import type { LabelProduct, LabelSection } from './label';
import { NDC, SPL_SET_ID, UNII, labelResources } from './label';

type Node = Record<string, unknown>;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  processEntities: false,
  htmlEntities: false,
  removeNSPrefix: true,
  isArray: (name) =>
    [
      'component',
      'section',
      'ingredient',
      'asContent',
      'manufacturedProduct',
      'subject',
      'paragraph',
      'item',
      'name',
    ].includes(name),
  textNodeName: '#text',
  trimValues: true,
});

function arr(v: unknown): Node[] {
  return Array.isArray(v) ? (v as Node[]) : v === undefined || v === null ? [] : [v as Node];
}

function attr(n: unknown, name: string): string | undefined {
  const v = (n as Node | undefined)?.[`@${name}`];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** All text under a node, in document order of elements (mixed content order within one element is approximate). */
function textOf(n: unknown, out: string[] = []): string[] {
  if (n === null || n === undefined) return out;
  if (typeof n === 'string' || typeof n === 'number') {
    out.push(String(n));
    return out;
  }
  if (Array.isArray(n)) {
    for (const x of n) textOf(x, out);
    return out;
  }
  for (const [k, v] of Object.entries(n as Node)) {
    if (k.startsWith('@')) continue;
    textOf(v, out);
    if (k === 'paragraph' || k === 'item' || k === 'tr' || k === 'title') out.push('\n');
  }
  return out;
}

function clean(parts: string[]): string {
  return parts
    .join(' ')
    .replace(/[ \t]*\n[ \t]*/g, '\n')
    .replace(/[ \t]{2,}/g, ' ')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function sectionsOf(body: Node | undefined): LabelSection[] {
  const out: LabelSection[] = [];
  for (const comp of arr(body?.component)) {
    for (const s of arr(comp.section)) {
      const code = attr(s.code, 'code');
      const title = clean(textOf(s.title)).replace(/\s+/g, ' ') || attr(s.code, 'displayName') || 'section';
      const text = clean(textOf({ text: s.text, component: s.component }));
      out.push({ code, title: title.slice(0, 200), text });
    }
  }
  return out;
}

function productsOf(body: Node | undefined): LabelProduct[] {
  const products: LabelProduct[] = [];
  const visit = (n: unknown): void => {
    if (!n || typeof n !== 'object') return;
    if (Array.isArray(n)) {
      n.forEach(visit);
      return;
    }
    const node = n as Node;
    for (const subj of arr(node.subject)) {
      for (const outer of arr(subj.manufacturedProduct)) {
        for (const mp of arr(outer.manufacturedProduct)) products.push(productOf(mp));
      }
    }
    for (const [k, v] of Object.entries(node)) if (!k.startsWith('@') && k !== 'subject') visit(v);
  };
  visit(body);
  return products;
}

function productOf(mp: Node): LabelProduct {
  const codings = [];
  const code = attr(mp.code, 'code');
  if (code && attr(mp.code, 'codeSystem') === '2.16.840.1.113883.6.69') codings.push({ system: NDC, code });
  const identifiers = code ? [{ system: NDC, value: code }] : [];
  const ingredients = arr(mp.ingredient).map((ing) => {
    const cls = attr(ing, 'classCode') ?? '';
    const sub = ing.ingredientSubstance as Node | undefined;
    const unii = attr(sub?.code, 'code');
    const num = (ing.quantity as Node | undefined)?.numerator as Node | undefined;
    const den = (ing.quantity as Node | undefined)?.denominator as Node | undefined;
    const nv = Number(attr(num, 'value'));
    const dv = Number(attr(den, 'value'));
    return {
      name: clean(textOf(arr(sub?.name)[0])) || 'ingredient',
      codings: unii ? [{ system: UNII, code: unii }] : [],
      active: cls.startsWith('ACT'),
      ...(Number.isFinite(nv) && Number.isFinite(dv) && attr(num, 'value')
        ? {
            strength: {
              numerator: { value: nv, unit: attr(num, 'unit') },
              denominator: { value: dv, unit: attr(den, 'unit') },
            },
          }
        : {}),
    };
  });
  const packages = arr(mp.asContent)
    .map((c) => attr((c.containerPackagedProduct as Node | undefined)?.code, 'code'))
    .filter((c): c is string => !!c);
  for (const p of packages) identifiers.push({ system: NDC, value: p });
  return {
    codings,
    name: clean(textOf(arr(mp.name)[0])) || undefined,
    doseForm: attr(mp.formCode, 'displayName'),
    identifiers,
    ingredients,
  };
}

function splDate(v: string | undefined): string | undefined {
  const m = v ? /^(\d{4})(\d{2})(\d{2})/.exec(v) : null;
  return m ? `${m[1]}-${m[2]}-${m[3]}T00:00:00Z` : undefined;
}

export function mapSpl(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  sink.record('$', () => {
    const text = bytes.toString('utf8');
    if (/<!ENTITY/i.test(text))
      throw new RecordError(
        'document declares XML entities; refused (entity expansion)',
        'DOCTYPE',
        'security',
      );
    const valid = XMLValidator.validate(text);
    if (valid !== true)
      throw new RecordError(
        `XML is not well-formed (${valid.err.code})`,
        `line ${valid.err.line} column ${valid.err.col}`,
        'structure',
      );
    const doc = (parser.parse(text) as Node).document as Node | undefined;
    if (!doc) throw new RecordError('root element is not an SPL <document>', 'document', 'structure');
    const setId = attr(doc.setId, 'root');
    const docId = attr(doc.id, 'root');
    if (!setId && !docId)
      throw new RecordError('document has neither id nor setId', 'document/setId', 'required');
    const version = attr(doc.versionNumber, 'value') ?? '';
    const body = (doc.component as Node[] | undefined)?.[0]?.structuredBody as Node | undefined;
    if (!body)
      throw new RecordError(
        'document has no structuredBody',
        'document/component/structuredBody',
        'required',
      );
    const products = productsOf(body);
    for (const p of products) {
      if (setId) p.identifiers.push({ system: SPL_SET_ID, value: setId });
    }
    return labelResources({
      institution: ctx.institution,
      key: `${setId ?? docId}|${version}`,
      docType: attr(doc.code, 'code')
        ? { code: attr(doc.code, 'code') as string, display: attr(doc.code, 'displayName') }
        : undefined,
      title: clean(textOf(doc.title)) || undefined,
      date: splDate(attr(doc.effectiveTime, 'value')),
      language: 'en',
      sections: sectionsOf(body),
      products,
      masterIdentifier: docId
        ? { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${docId.toLowerCase()}` }
        : undefined,
    });
  });
  return sink.result;
}
