/** Insurance catalogs: China NRDL (NHSA catalogue API shape) or a Da Vinci PDex formulary Bundle. */
import type { FullInstitution } from '../schemas/institution';
import type { Sink } from './sink';
import { drugs } from './catalog';
import { Rng } from './prng';

const USDF = 'http://hl7.org/fhir/us/davinci-drug-formulary';

const PATENT_MEDICINES = [
  { name: '复方丹参滴丸', form: '滴丸剂', code: 'ZA12BA', cat: '理血剂 > 活血剂' },
  { name: '连花清瘟胶囊', form: '胶囊剂', code: 'ZA03AA', cat: '解表剂 > 辛凉解表剂' },
  { name: '速效救心丸', form: '丸剂', code: 'ZA12BB', cat: '理血剂 > 活血剂' },
  { name: '六味地黄丸', form: '丸剂', code: 'ZA09FA', cat: '扶正剂 > 滋阴剂' },
  { name: '血塞通软胶囊', form: '软胶囊', code: 'ZA12BC', cat: '理血剂 > 活血剂' },
] as const;

export function writeInsurance(seed: string, inst: FullInstitution, sink: Sink): void {
  const rng = new Rng(seed, `insurance:${inst.id}`);
  if (inst.insurance.format === 'nrdl') {
    const list: Record<string, unknown>[] = [];
    drugs.forEach((d, i) => {
      // Two drugs are negotiated (谈判药品): they carry a payment standard and an agreement period.
      const negotiated = i === 4 || i === 7;
      const kind = negotiated ? 2 : d.nrdlKind;
      const form = d.zh.endsWith('胶囊') ? '胶囊剂' : d.zh.includes('注射') ? '注射剂' : '片剂';
      list.push({
        id: 1000 + i,
        name: d.zh,
        drugTypeId: negotiated ? 3 : 1,
        categoryId: 500 + i,
        kind,
        number: 1000 + i,
        flag: 0,
        dosageForm: rng.chance(0.1) ? '' : form,
        remark:
          d.rxnorm === '261551'
            ? '限1型糖尿病患者；限其他短效胰岛素或口服药难以控制的2型糖尿病患者。'
            : d.rxnorm === '309362'
              ? '限急性冠脉综合征患者，支付不超过12个月。'
              : '',
        paymentStandards: negotiated
          ? `${rng.float(3, 90, 2).toFixed(2)}元(${d.dose}${d.doseUnit}/${form === '注射剂' ? '支' : '片'})`
          : '',
        agreementPeriod: negotiated ? '2024年1月1日至2025年12月31日' : '',
        drugThirdCodes: null,
        create_time: null,
        update_time: null,
        drugTypeName: negotiated ? '西药' : '西药部分',
        category: { id: 500 + i, name: d.zh.slice(0, 4), code: d.atc },
        kindName: kind === 1 ? '医保甲类' : '医保乙类',
        categoryName: `西药 > ${d.atc}`,
      });
    });
    PATENT_MEDICINES.forEach((m, i) => {
      const kind = rng.chance(0.5) ? 1 : 2;
      list.push({
        id: 3000 + i,
        name: m.name,
        drugTypeId: 2,
        categoryId: 800 + i,
        kind,
        number: 3000 + i,
        flag: 0,
        dosageForm: m.form,
        remark: kind === 2 && i === 4 ? '限中风偏瘫、脑梗塞恢复期患者。' : '',
        paymentStandards: '',
        agreementPeriod: '',
        drugThirdCodes: null,
        create_time: null,
        update_time: null,
        drugTypeName: '中成药部分',
        category: { id: 800 + i, name: m.cat.split(' > ').pop(), code: m.code },
        kindName: kind === 1 ? '医保甲类' : '医保乙类',
        categoryName: `中成药 > ${m.cat}`,
      });
    });
    const doc = {
      code: 200,
      msg: 'success',
      success: true,
      data: { pageNum: 1, pageSize: list.length, total: list.length, pages: 1, list },
    };
    sink.write(`${inst.id}/insurance/nrdl/catalog.json`, JSON.stringify(doc, null, 2) + '\n');
    sink.count({
      institution: inst.id,
      source: 'insurance',
      format: 'nrdl',
      unit: 'catalog-item',
      records: list.length,
      malformed: 0,
    });
    return;
  }
  const planId = `Formulary-${inst.id}`;
  const entries: Record<string, unknown>[] = [
    {
      resourceType: 'InsurancePlan',
      id: planId,
      meta: { profile: [`${USDF}/StructureDefinition/usdf-Formulary`] },
      identifier: [{ value: `${inst.id.toUpperCase()}-F${rng.digits(4)}` }],
      status: 'active',
      type: [
        {
          coding: [
            {
              system: `${USDF}/CodeSystem/usdf-InsuranceItemTypeCS`,
              code: 'formulary',
              display: 'Formulary',
            },
          ],
        },
      ],
      name: `${inst.name.replace(/\s*\(.*\)\s*$/, '')} Employee Formulary 2025`,
      period: { start: '2025-01-01', end: '2025-12-31' },
    },
  ];
  drugs.forEach((d) => {
    const mkId = `FormularyDrug-${d.rxnorm}`;
    const tier = rng.pick([
      ['generic', 'Generic'],
      ['preferred-brand', 'Preferred Brand'],
      ['non-preferred-brand', 'Non-Preferred Brand'],
      ['specialty', 'Specialty'],
    ] as const);
    entries.push({
      resourceType: 'Basic',
      id: `FormularyItem-${inst.id}-${d.rxnorm}`,
      meta: { profile: [`${USDF}/StructureDefinition/usdf-FormularyItem`] },
      extension: [
        {
          url: `${USDF}/StructureDefinition/usdf-FormularyReference-extension`,
          valueReference: { reference: `InsurancePlan/${planId}` },
        },
        { url: `${USDF}/StructureDefinition/usdf-AvailabilityStatus-extension`, valueCode: 'active' },
        {
          url: `${USDF}/StructureDefinition/usdf-PharmacyBenefitType-extension`,
          valueCodeableConcept: {
            coding: [
              {
                system: `${USDF}/CodeSystem/usdf-PharmacyBenefitTypeCS-TEMPORARY-TRIAL-USE`,
                code: '1-month-in-retail',
                display: '1 month in network retail',
              },
            ],
          },
        },
        {
          url: `${USDF}/StructureDefinition/usdf-DrugTierID-extension`,
          valueCodeableConcept: {
            coding: [
              {
                system: `${USDF}/CodeSystem/usdf-DrugTierCS-TEMPORARY-TRIAL-USE`,
                code: tier[0],
                display: tier[1],
              },
            ],
          },
        },
        {
          url: `${USDF}/StructureDefinition/usdf-AvailabilityPeriod-extension`,
          valuePeriod: { start: '2025-01-01', end: '2025-12-31' },
        },
        {
          url: `${USDF}/StructureDefinition/usdf-PriorAuthorization-extension`,
          valueBoolean: tier[0] === 'specialty',
        },
        { url: `${USDF}/StructureDefinition/usdf-StepTherapyLimit-extension`, valueBoolean: rng.chance(0.2) },
        { url: `${USDF}/StructureDefinition/usdf-QuantityLimit-extension`, valueBoolean: rng.chance(0.3) },
      ],
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
    });
    entries.push({
      resourceType: 'MedicationKnowledge',
      id: mkId,
      meta: { profile: [`${USDF}/StructureDefinition/usdf-FormularyDrug`] },
      code: {
        coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: d.rxnorm, display: d.en }],
      },
      status: 'active',
      doseForm: {
        text:
          d.en.includes('Injection') || d.en.includes('Injectable') || d.en.includes('Syringe')
            ? 'Injectable'
            : 'Oral Tablet',
      },
    });
  });
  const bundle = {
    resourceType: 'Bundle',
    id: `formulary-${inst.id}`,
    type: 'collection',
    timestamp: '2025-01-01T00:00:00Z',
    entry: entries.map((r) => ({
      fullUrl: `urn:tributary:formulary:${inst.id}:${r.resourceType as string}/${r.id as string}`,
      resource: r,
    })),
  };
  sink.write(`${inst.id}/insurance/pdex/formulary-bundle.json`, JSON.stringify(bundle, null, 2) + '\n');
  sink.count({
    institution: inst.id,
    source: 'insurance',
    format: 'pdex-formulary',
    unit: 'resource',
    records: entries.length,
    malformed: 0,
    breakdown: { InsurancePlan: 1, Basic: drugs.length, MedicationKnowledge: drugs.length },
  });
}
