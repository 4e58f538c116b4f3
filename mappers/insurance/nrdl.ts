/**
 * China NRDL catalogue (NHSA query response: {code, msg, success, data: {list: [...]}}) -> one InsurancePlan (the
 * catalogue as a formulary) + per drug a MedicationKnowledge and a Basic FormularyItem in the Da Vinci PDex US Drug
 * Formulary shape, with extensions for the NRDL category (甲/乙), negotiated status, payment standard, agreement period
 * and payment restrictions. One element of data.list[] is one record.
 */
import { stableId } from '../ids';
import { readJsonDocuments } from '../json-input';
import { RecordError, RecordSink } from '../sink';
import type { FhirResource, MapContext, MapResult } from '../types';

type Json = Record<string, unknown>;

export const USDF = 'http://hl7.org/fhir/us/davinci-drug-formulary';
const EXT = 'urn:tributary:fhir:StructureDefinition';
export const NRDL_EXTENSIONS = {
  category: `${EXT}:nrdl-category`,
  negotiated: `${EXT}:nrdl-negotiated`,
  paymentStandard: `${EXT}:nrdl-payment-standard`,
  agreementPeriod: `${EXT}:nrdl-agreement-period`,
  paymentRestriction: `${EXT}:nrdl-payment-restriction`,
  drugPart: `${EXT}:nrdl-catalogue-part`,
};
const KIND: Record<number, { code: string; display: string }> = {
  1: { code: 'A', display: '甲类' },
  2: { code: 'B', display: '乙类' },
};
/** drugTypeId: 3/4 are the negotiated parts (谈判药品 西药/中成药); 5 is 竞价药品; 6/7 are herbal pieces paid/not paid. */
const NEGOTIATED = new Set([3, 4]);
const PERIOD = /^(\d{4})年(\d{1,2})月(\d{1,2})日至(\d{4})年(\d{1,2})月(\d{1,2})日$/;
const PAYMENT = /^(\d+(?:\.\d+)?)元(?:\((.+)\))?$/;

function isObject(v: unknown): v is Json {
  return !!v && typeof v === 'object' && !Array.isArray(v);
}

function pad(n: string): string {
  return n.padStart(2, '0');
}

export function mapNrdl(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  const planId = stableId(ctx.institution, 'nrdl-plan', ctx.sourceFile);
  let planEmitted = false;
  const plan: FhirResource = {
    resourceType: 'InsurancePlan',
    id: planId,
    meta: { profile: [`${USDF}/StructureDefinition/usdf-Formulary`] },
    status: 'active',
    type: [
      {
        coding: [
          { system: `${USDF}/CodeSystem/usdf-InsuranceItemTypeCS`, code: 'formulary', display: 'Formulary' },
        ],
      },
    ],
    name: '国家基本医疗保险、工伤保险和生育保险药品目录 (NRDL)',
  };
  for (const doc of readJsonDocuments(bytes, sink)) {
    const root = doc.value;
    const list = isObject(root) && isObject(root.data) ? root.data.list : undefined;
    if (!Array.isArray(list)) {
      sink.reject(doc.location, 'not an NHSA catalogue response: data.list[] is missing', 'structure');
      continue;
    }
    list.forEach((item, i) => {
      const ok = sink.record(`$.data.list[${i}]`, () => {
        const out = mapItem(item, ctx, planId);
        return planEmitted ? out : [plan, ...out];
      });
      if (ok) planEmitted = true;
    });
  }
  return sink.result;
}

function mapItem(item: unknown, ctx: MapContext, planId: string): FhirResource[] {
  if (!isObject(item)) throw new RecordError('catalogue item is not an object', '$', 'structure');
  const name = item.name;
  if (typeof name !== 'string' || !name.trim()) throw new RecordError('name is missing', 'name', 'required');
  const number = item.number ?? item.id;
  if (typeof number !== 'number' && typeof number !== 'string')
    throw new RecordError('number/id is missing', 'number', 'required');
  const typeId = item.drugTypeId;
  if (typeof typeId !== 'number') throw new RecordError('drugTypeId is not a number', 'drugTypeId', 'value');
  const kind = typeof item.kind === 'number' ? KIND[item.kind] : undefined;
  if (item.kind !== undefined && item.kind !== 0 && item.kind !== null && !kind)
    throw new RecordError('kind is not 1 (甲) or 2 (乙)', 'kind', 'value');
  const key = `${typeId}|${number}`;
  const mkId = stableId(ctx.institution, 'nrdl-drug', ctx.sourceFile, key);
  const category = isObject(item.category) ? item.category : undefined;
  const mk: FhirResource = {
    resourceType: 'MedicationKnowledge',
    id: mkId,
    meta: { profile: [`${USDF}/StructureDefinition/usdf-FormularyDrug`] },
    status: 'active',
    code: {
      coding: [{ system: 'urn:tributary:nrdl-drug', code: String(number), display: name }],
      text: name,
    },
  };
  if (typeof item.dosageForm === 'string' && item.dosageForm) mk.doseForm = { text: item.dosageForm };
  if (category && typeof category.code === 'string') {
    mk.medicineClassification = [
      {
        type: { text: '医保药品分类' },
        classification: [
          {
            coding: [
              {
                system: 'urn:tributary:nrdl-category-code',
                code: category.code,
                ...(typeof category.name === 'string' ? { display: category.name } : {}),
              },
            ],
            ...(typeof item.categoryName === 'string' ? { text: item.categoryName } : {}),
          },
        ],
      },
    ];
  }
  const ext: Json[] = [
    {
      url: `${USDF}/StructureDefinition/usdf-FormularyReference-extension`,
      valueReference: { reference: `InsurancePlan/${planId}` },
    },
  ];
  if (kind)
    ext.push({
      url: NRDL_EXTENSIONS.category,
      valueCoding: { system: 'urn:tributary:nrdl-kind', code: kind.code, display: kind.display },
    });
  ext.push({ url: NRDL_EXTENSIONS.negotiated, valueBoolean: NEGOTIATED.has(typeId) });
  if (typeof item.drugTypeName === 'string')
    ext.push({ url: NRDL_EXTENSIONS.drugPart, valueString: item.drugTypeName });
  const payment = typeof item.paymentStandards === 'string' ? item.paymentStandards.trim() : '';
  if (payment) {
    const m = PAYMENT.exec(payment);
    ext.push({
      url: NRDL_EXTENSIONS.paymentStandard,
      extension: [
        ...(m ? [{ url: 'amount', valueMoney: { value: Number(m[1]), currency: 'CNY' } }] : []),
        ...(m?.[2] ? [{ url: 'unit', valueString: m[2] }] : []),
        { url: 'text', valueString: payment },
      ],
    });
  }
  const agreement = typeof item.agreementPeriod === 'string' ? item.agreementPeriod.trim() : '';
  if (agreement) {
    const p = PERIOD.exec(agreement);
    if (!p)
      throw new RecordError('agreementPeriod is not YYYY年M月D日至YYYY年M月D日', 'agreementPeriod', 'value');
    ext.push({
      url: NRDL_EXTENSIONS.agreementPeriod,
      valuePeriod: { start: `${p[1]}-${pad(p[2])}-${pad(p[3])}`, end: `${p[4]}-${pad(p[5])}-${pad(p[6])}` },
    });
  }
  const remark = typeof item.remark === 'string' ? item.remark.trim() : '';
  if (remark) ext.push({ url: NRDL_EXTENSIONS.paymentRestriction, valueString: remark });
  // Herbal pieces "不得纳入基金支付范围" (type 7) are listed but not covered.
  const covered = typeId !== 7;
  ext.push({
    url: `${USDF}/StructureDefinition/usdf-AvailabilityStatus-extension`,
    valueCode: covered ? 'active' : 'inactive',
  });
  const basic: FhirResource = {
    resourceType: 'Basic',
    id: stableId(ctx.institution, 'nrdl-item', ctx.sourceFile, key),
    meta: { profile: [`${USDF}/StructureDefinition/usdf-FormularyItem`] },
    extension: ext,
    code: {
      coding: [
        {
          system: `${USDF}/CodeSystem/usdf-InsuranceItemTypeCS`,
          code: 'formulary-item',
          display: 'Formulary Item',
        },
      ],
    },
    subject: { reference: `MedicationKnowledge/${mkId}` },
  };
  return [mk, basic];
}
