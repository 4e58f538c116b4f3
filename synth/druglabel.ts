/** Drug labels for the drugs the institutions prescribe: FDA SPL XML, openFDA label JSON, or Chinese label text. */
import type { FullInstitution } from '../schemas/institution';
import type { Sink } from './sink';
import { drugs, type DrugDef } from './catalog';
import { Rng } from './prng';

interface LabelText {
  indications: string;
  dosage: string;
  contraindications: string;
  adverse: string;
  warnings: string;
  zhIndications: string;
  zhAdverse: string;
  zhContra: string;
}

const TEXT: Record<string, Partial<LabelText>> = {
  '617314': {
    indications:
      'reduce the risk of myocardial infarction and stroke in adults with multiple risk factors for coronary heart disease; as an adjunct to diet to reduce LDL-C',
    zhIndications: '高胆固醇血症；冠心病或冠心病等危症合并高胆固醇血症的患者。',
  },
  '861007': {
    indications:
      'an adjunct to diet and exercise to improve glycemic control in adults and pediatric patients 10 years of age and older with type 2 diabetes mellitus',
    zhIndications: '用于单纯饮食控制及体育锻炼治疗无效的2型糖尿病。',
  },
  '197444': {
    indications:
      "the treatment of Parkinson's disease, post-encephalitic parkinsonism, and symptomatic parkinsonism",
    zhIndications: '帕金森病及帕金森综合征。',
  },
};

function textFor(d: DrugDef): LabelText {
  const t = TEXT[d.rxnorm] ?? {};
  return {
    indications: `${d.en.split(' ')[0]} is indicated for ${t.indications ?? 'the conditions listed in the full prescribing information'}.`,
    dosage: `The recommended dose is ${d.dose} ${d.doseUnit} ${d.frequency === 'QD' ? 'once daily' : d.frequency === 'BID' ? 'twice daily' : d.frequency === 'TID' ? 'three times daily' : 'at bedtime'} (${d.route}).`,
    contraindications: 'Hypersensitivity to any component of this product.',
    adverse: 'Most common adverse reactions (incidence >= 2%) are nausea, headache, diarrhea and dizziness.',
    warnings: 'Monitor hepatic and renal function as clinically indicated.',
    zhIndications: t.zhIndications ?? '详见说明书适应症。',
    zhAdverse: '常见恶心、头痛、腹泻、头晕等，多为轻度且短暂。',
    zhContra: '对本品任何成份过敏者禁用。',
  };
}

function uuid(rng: Rng): string {
  return `${rng.hex(8)}-${rng.hex(4)}-4${rng.hex(3)}-a${rng.hex(3)}-${rng.hex(12)}`;
}

const x = (s: string) =>
  s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] as string);

function spl(d: DrugDef, rng: Rng, effective: string): string {
  const t = textFor(d);
  const section = (code: string, name: string, title: string, body: string) =>
    `      <component>\n        <section>\n          <id root="${uuid(rng)}"/>\n          <code code="${code}" codeSystem="2.16.840.1.113883.6.1" displayName="${name}"/>\n          <title>${x(title)}</title>\n          <text>\n            <paragraph>${x(body)}</paragraph>\n          </text>\n          <effectiveTime value="${effective}"/>\n        </section>\n      </component>`;
  const generic = d.en.split(' ')[0].toUpperCase();
  return `<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet href="https://www.accessdata.fda.gov/spl/stylesheet/spl.xsl" type="text/xsl"?>
<document xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="urn:hl7-org:v3 https://www.accessdata.fda.gov/spl/schema/spl.xsd">
  <id root="${uuid(rng)}"/>
  <code code="34391-3" codeSystem="2.16.840.1.113883.6.1" displayName="HUMAN PRESCRIPTION DRUG LABEL"/>
  <title>These highlights do not include all the information needed to use ${x(generic)} safely and effectively.</title>
  <effectiveTime value="${effective}"/>
  <setId root="${uuid(rng)}"/>
  <versionNumber value="${rng.int(1, 40)}"/>
  <author>
    <time/>
    <assignedEntity>
      <representedOrganization>
        <id extension="${rng.digits(9)}" root="1.3.6.1.4.1.519.1"/>
        <name>Fictional Pharmaceuticals Inc.</name>
      </representedOrganization>
    </assignedEntity>
  </author>
  <component>
    <structuredBody>
      <component>
        <section>
          <id root="${uuid(rng)}"/>
          <code code="48780-1" codeSystem="2.16.840.1.113883.6.1" displayName="SPL PRODUCT DATA ELEMENTS SECTION"/>
          <effectiveTime value="${effective}"/>
          <subject>
            <manufacturedProduct>
              <manufacturedProduct>
                <code code="${rng.digits(5)}-${rng.digits(3)}" codeSystem="2.16.840.1.113883.6.69"/>
                <name>${x(d.en)}</name>
                <formCode code="C42998" codeSystem="2.16.840.1.113883.3.26.1.1" displayName="TABLET"/>
                <asEntityWithGeneric>
                  <genericMedicine>
                    <name>${x(generic)}</name>
                  </genericMedicine>
                </asEntityWithGeneric>
              </manufacturedProduct>
            </manufacturedProduct>
          </subject>
        </section>
      </component>
${section('34067-9', 'INDICATIONS &amp; USAGE SECTION', '1 INDICATIONS AND USAGE', t.indications)}
${section('34068-7', 'DOSAGE &amp; ADMINISTRATION SECTION', '2 DOSAGE AND ADMINISTRATION', t.dosage)}
${section('34070-3', 'CONTRAINDICATIONS SECTION', '4 CONTRAINDICATIONS', t.contraindications)}
${section('43685-7', 'WARNINGS AND PRECAUTIONS SECTION', '5 WARNINGS AND PRECAUTIONS', t.warnings)}
${section('34084-4', 'ADVERSE REACTIONS SECTION', '6 ADVERSE REACTIONS', t.adverse)}
    </structuredBody>
  </component>
</document>
`;
}

function cnLabel(d: DrugDef, rng: Rng, approved: string): string {
  const t = textFor(d);
  const parts = [
    `核准日期：${approved}`,
    `修改日期：2024年${rng.int(1, 12)}月${String(rng.int(1, 28)).padStart(2, '0')}日`,
    '【药品名称】',
    `通用名称：${d.zh}`,
    `英文名称：${d.en}`,
    '【成份】',
    `本品主要成份为${d.zh.replace(/(片|胶囊|注射液|肠溶片|肠溶胶囊)$/, '').replace(/^(注射用|盐酸|硫酸氢|苯磺酸)/, '')}。`,
    ...(rng.chance(0.7) ? ['【性状】', '本品为白色或类白色片。'] : []),
    '【适应症】',
    t.zhIndications,
    `【规格】 ${d.dose}${d.doseUnit}`,
    '【用法用量】',
    `${d.routeZh}，一次${d.dose}${d.doseUnit}，${d.frequencyZh}。`,
    '【不良反应】',
    t.zhAdverse,
    '【禁忌】',
    t.zhContra,
    ...(rng.chance(0.7) ? ['【注意事项】', '用药期间应定期监测肝肾功能。'] : []),
    ...(rng.chance(0.8) ? ['【贮藏】 遮光，密封保存。'] : []),
    '【有效期】 24个月',
    `【批准文号】 国药准字${rng.pick(['H', 'H', 'J', 'S'])}${rng.pick(['1999', '2005', '2010', '2019', '2021'])}${rng.digits(4)}`,
    '【生产企业】',
    '企业名称：虚构制药有限公司',
  ];
  return parts.join('\n') + '\n';
}

export function writeDrugLabels(seed: string, inst: FullInstitution, sink: Sink): void {
  const rng = new Rng(seed, `druglabel:${inst.id}`);
  const effective = `2024${String(rng.int(1, 12)).padStart(2, '0')}${String(rng.int(1, 28)).padStart(2, '0')}`;
  const format = inst.druglabel.format;
  if (format === 'spl') {
    drugs.forEach((d, i) =>
      sink.write(
        `${inst.id}/druglabel/spl/label-${String(i + 1).padStart(3, '0')}.xml`,
        spl(d, rng, effective),
      ),
    );
  } else if (format === 'cn-label') {
    drugs.forEach((d, i) =>
      sink.write(
        `${inst.id}/druglabel/cn/label-${String(i + 1).padStart(3, '0')}.txt`,
        cnLabel(
          d,
          rng,
          `20${rng.int(10, 23)}年${String(rng.int(1, 12)).padStart(2, '0')}月${String(rng.int(1, 28)).padStart(2, '0')}日`,
        ),
      ),
    );
  } else {
    const results = drugs.map((d) => {
      const t = textFor(d);
      const setId = uuid(rng);
      const splId = uuid(rng);
      const generic = d.en.split(' ')[0].toUpperCase();
      return {
        effective_time: effective,
        version: String(rng.int(1, 30)),
        id: splId,
        set_id: setId,
        spl_product_data_elements: [`${d.en} ${generic}`],
        indications_and_usage: [`1 INDICATIONS AND USAGE ${t.indications}`],
        dosage_and_administration: [`2 DOSAGE AND ADMINISTRATION ${t.dosage}`],
        contraindications: [`4 CONTRAINDICATIONS ${t.contraindications}`],
        warnings_and_cautions: [`5 WARNINGS AND PRECAUTIONS ${t.warnings}`],
        adverse_reactions: [`6 ADVERSE REACTIONS ${t.adverse}`],
        openfda: {
          brand_name: [generic],
          generic_name: [generic],
          manufacturer_name: ['Fictional Pharmaceuticals Inc.'],
          product_type: ['HUMAN PRESCRIPTION DRUG'],
          route: [d.route === 'PO' ? 'ORAL' : d.route === 'IV' ? 'INTRAVENOUS' : 'SUBCUTANEOUS'],
          rxcui: [d.rxnorm],
          spl_id: [splId],
          spl_set_id: [setId],
          substance_name: [generic],
        },
      };
    });
    const doc = {
      meta: {
        disclaimer:
          'Synthetic label data generated by Tributary synth; shaped like the openFDA drug/label endpoint.',
        terms: 'https://open.fda.gov/terms/',
        license: 'https://open.fda.gov/license/',
        last_updated: `${effective.slice(0, 4)}-${effective.slice(4, 6)}-${effective.slice(6)}`,
        results: { skip: 0, limit: results.length, total: results.length },
      },
      results,
    };
    sink.write(`${inst.id}/druglabel/openfda/labels.json`, JSON.stringify(doc, null, 2) + '\n');
  }
  sink.count({
    institution: inst.id,
    source: 'druglabel',
    format,
    unit: 'label',
    records: drugs.length,
    malformed: 0,
  });
}
