/**
 * Chinese drug label text (synth/FORMATS.md "cn-label": 【section】 headings, UTF-8) -> label resources. One file is
 * one label. 【药品名称】, 【成份】, 【适应症】, 【用法用量】 and 【批准文号】 are required; the approval number
 * (国药准字) becomes the Medication identifier and the label's natural key.
 */
import { RecordError, RecordSink } from '../sink';
import type { MapContext, MapResult } from '../types';
import type { LabelSection } from './label';
import { NMPA_APPROVAL, labelResources } from './label';

const HEADING = /^【([^】]+)】\s*(.*)$/;
const APPROVAL = /国药准字\s*([HZSJBTF]\d{8})/;
const DATE = /(\d{4})年(\d{1,2})月(\d{1,2})日/;
const REQUIRED = ['药品名称', '成份', '适应症', '用法用量', '批准文号'];

function field(text: string, label: string): string | undefined {
  const m = new RegExp(`^${label}[：:]\\s*(.+)$`, 'm').exec(text);
  return m?.[1].trim();
}

export function mapCnLabel(bytes: Buffer, ctx: MapContext): MapResult {
  const sink = new RecordSink(ctx);
  sink.record('$', () => {
    let text = bytes.toString('utf8');
    if (text.includes('\uFFFD'))
      throw new RecordError(
        'file is not valid UTF-8 (GBK label exported in the wrong encoding?)',
        'file',
        'value',
      );
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const lines = text.split(/\r\n|\r|\n/);
    const sections: LabelSection[] = [];
    const preamble: string[] = [];
    let current: LabelSection | undefined;
    for (const line of lines) {
      const m = HEADING.exec(line.trim());
      if (m) {
        current = { title: m[1], text: m[2] };
        sections.push(current);
      } else if (current) current.text = current.text ? `${current.text}\n${line}` : line;
      else if (line.trim()) preamble.push(line.trim());
    }
    for (const s of sections) s.text = s.text.trim();
    const byTitle = new Map(sections.map((s, i) => [s.title, { s, i }]));
    for (const r of REQUIRED)
      if (!byTitle.has(r))
        throw new RecordError(`required section 【${r}】 is missing`, `【${r}】`, 'required');
    const approval = APPROVAL.exec(byTitle.get('批准文号')!.s.text);
    if (!approval)
      throw new RecordError('【批准文号】 does not hold a 国药准字 number', '【批准文号】', 'value');
    const names = byTitle.get('药品名称')!.s.text;
    const generic = field(names, '通用名称');
    if (!generic) throw new RecordError('【药品名称】 has no 通用名称', '【药品名称】', 'required');
    const brand = field(names, '商品名称');
    const english = field(names, '英文名称');
    const manufacturer = byTitle.get('生产企业')
      ? field(byTitle.get('生产企业')!.s.text, '企业名称')
      : undefined;
    const revised =
      preamble.map((l) => (l.startsWith('修改日期') ? DATE.exec(l) : null)).find(Boolean) ??
      preamble.map((l) => DATE.exec(l)).find(Boolean);
    const ingredientText = byTitle.get('成份')!.s.text;
    const active = /主要成[份分]为([^。，,；;]+)/.exec(ingredientText)?.[1];
    if (preamble.length) sections.unshift({ title: '核准/修改日期', text: preamble.join('\n') });
    return labelResources({
      institution: ctx.institution,
      key: `cn|${approval[1]}`,
      title: brand ? `${generic}（${brand}）` : generic,
      date: revised
        ? `${revised[1]}-${revised[2].padStart(2, '0')}-${revised[3].padStart(2, '0')}T00:00:00+08:00`
        : undefined,
      language: 'zh-CN',
      sections,
      products: [
        {
          codings: [],
          name: generic,
          identifiers: [{ system: NMPA_APPROVAL, value: `国药准字${approval[1]}` }],
          doseForm: undefined,
          manufacturer,
          synonyms: [brand, english].filter((s): s is string => !!s),
          ingredients: active ? [{ name: active.trim(), codings: [], active: true }] : [],
        },
      ],
    });
  });
  return sink.result;
}
