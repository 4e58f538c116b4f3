/** EHR as an HL7 v2.5.1 feed: ADT^A04, ORU^R01, RDE^O11 and MDM^T02 back to back, CR segment ends. */
import type { Registration, World } from './model';
import type { Sink } from './sink';
import { at } from './sink';
import { hl7Time, formatPattern } from './dates';
import { Rng } from './prng';

/** HL7 escaping of the delimiters |^~\& inside a field value. */
export function escapeHl7(s: string): string {
  return s.replace(
    /[\\|^~&\r\n]/g,
    (c) =>
      ({
        '\\': '\\E\\',
        '|': '\\F\\',
        '^': '\\S\\',
        '~': '\\R\\',
        '&': '\\T\\',
        '\r': '\\X0D\\',
        '\n': '\\X0A\\',
      })[c] as string,
  );
}
const e = escapeHl7;

/** A segment from field number → value, so field positions are explicit rather than counted pipes. */
export function segment(name: string, fields: Record<number, string>): string {
  const max = Math.max(...Object.keys(fields).map(Number));
  const out: string[] = [name];
  for (let i = 1; i <= max; i++) out.push(fields[i] ?? '');
  while (out.length > 1 && out[out.length - 1] === '') out.pop();
  return out.join('|');
}

export function writeHl7Ehr(world: World, instId: string, regs: Registration[], sink: Sink): void {
  const off = world.offsets.get(instId) as number;
  const rng = new Rng(world.seed, `hl7:${instId}`);
  const file = `${instId}/ehr/hl7v2/feed-001.hl7`;
  const facility = instId.toUpperCase();
  const zh = regs[0]?.institution.locale === 'zh-CN';
  const messages: string[] = [];
  const counts: Record<string, number> = { 'ADT^A04': 0, 'ORU^R01': 0, 'RDE^O11': 0, 'MDM^T02': 0 };
  let seq = 0;
  let duplicates = 0;
  let malformed = 0;
  const msh = (type: string, t: number, control: string) =>
    `MSH|^~\\&|${zh ? 'HIS' : 'EPIC'}|${facility}|TRIBUTARY|TRIB|${hl7Time(t, off, !rng.chance(0.1))}||${type}|${control}|P|2.5.1|||AL|NE|${zh ? 'CHN' : 'USA'}|UNICODE UTF-8`;

  for (const reg of regs) {
    const p = reg.person;
    const seen = new Set<string>();
    const pidName = zh ? e(reg.name.text) : [reg.name.family, ...reg.name.given].map(e).join('^');
    const natAuthority = p.nationalIdType === 'cn-resident-id' ? '^^^CHN^NI' : '^^^SSA^SS';
    const addr = reg.address
      ? `${e(p.address.line)}^^${e(p.address.city)}^${e(p.address.state)}^${p.address.postal}^${zh ? 'CHN' : 'USA'}^H`
      : '';
    const phones = [
      reg.phone ? `${e(reg.phone)}^PRN^PH` : '',
      reg.email ? `^NET^Internet^${e(reg.email)}` : '',
    ]
      .filter(Boolean)
      .join('~');
    const pid = `PID|1||${reg.mrn}^^^${facility}^MR~${p.nationalId}${natAuthority}||${pidName}||${p.birthDate.replaceAll('-', '')}|${p.sex === 'male' ? 'M' : 'F'}|||${addr}||${phones}||||${reg.insuranceId ?? ''}|${zh ? '' : p.nationalId}`;
    const add = (
      type: string,
      t: number,
      segments: string[],
      person: string,
      plants: [string, string | undefined, Parameters<ReturnType<typeof at>>[2]][],
    ) => {
      seq++;
      const control = `${facility.slice(0, 4)}${String(seq).padStart(7, '0')}`;
      const text = [msh(type, t, control), ...segments].join('\r') + '\r';
      messages.push(text);
      counts[type]++;
      const plant = at(sink, { institution: instId, source: 'ehr', file, record: control, person });
      for (const [path, value, kind] of plants) {
        // PID and PV1 repeat in every message of the patient: list each value once, on its first message.
        const key = `${path}|${value}`;
        if (!path.startsWith('OBX') && !path.startsWith('TXA') && !path.startsWith('ORC')) {
          if (seen.has(key)) continue;
          seen.add(key);
        }
        plant(path, value, kind);
      }
      return text;
    };
    const pidPlants: [string, string | undefined, Parameters<ReturnType<typeof at>>[2]][] = [
      ['PID-3', reg.mrn, 'mrn'],
      ['PID-3', p.nationalId, 'national-id'],
      ['PID-5', zh ? reg.name.text : [reg.name.family, ...reg.name.given].join('^'), 'name'],
      ['PID-7', p.birthDate.replaceAll('-', ''), 'birth-date'],
      ['PID-11', reg.address ? p.address.line : undefined, 'address'],
      ['PID-11', reg.address ? p.address.postal : undefined, 'postal-code'],
      ['PID-13', reg.phone, 'phone'],
      ['PID-13', reg.email, 'email'],
      ['PID-18', reg.insuranceId, 'account'],
      ...(zh ? [] : ([['PID-19', p.nationalId, 'national-id']] as [string, string, 'national-id'][])),
    ];
    reg.visits.forEach((v, vi) => {
      const pv1 = segment('PV1', {
        1: '1',
        2: v.type === 'inpatient' ? 'I' : v.type === 'emergency' ? 'E' : 'O',
        3: e(v.department),
        7: `^${e(v.doctor)}`,
        19: v.id,
        44: hl7Time(v.start, off, true),
        45: v.end ? hl7Time(v.end, off, true) : '',
      });
      const visitPlants: [string, string | undefined, Parameters<ReturnType<typeof at>>[2]][] = [
        ['PV1-7', v.doctor, 'doctor'],
        ['PV1-44', hl7Time(v.start, off, true), 'date'],
      ];
      if (vi === 0)
        add('ADT^A04', v.start, [`EVN|A04|${hl7Time(v.start, off, true)}`, pid, pv1], p.id, [
          ...pidPlants,
          ...visitPlants,
        ]);
      if (v.labs.length) {
        const obx = v.labs.map((l, i) => {
          const code = l.localOnly
            ? `${l.def.localCode}^${e(zh ? l.def.zh : l.def.en)}^L`
            : `${l.def.loinc}^${e(l.def.en)}^LN^${l.def.localCode}^${e(zh ? l.def.zh : l.def.en)}^L`;
          return `OBX|${i + 1}|${l.numeric === undefined ? 'ST' : 'NM'}|${code}||${e(l.value)}|${e(l.unit)}|${l.refRange}|${l.flag}|||F|||${hl7Time(l.time, off, true)}`;
        });
        const text = add(
          'ORU^R01',
          v.labs[0].time,
          [
            pid,
            pv1,
            `ORC|RE|${v.id}`,
            `OBR|1|${v.id}||LAB^Laboratory panel^L|||${hl7Time(v.labs[0].time, off, true)}`,
            ...obx,
          ],
          p.id,
          [...pidPlants, ...visitPlants],
        );
        // Feeds resend: an exact duplicate of about 3% of result messages.
        if (rng.chance(0.03)) {
          messages.push(text);
          counts['ORU^R01']++;
          duplicates++;
        }
      }
      if (v.prescriptions.length) {
        const segs = v.prescriptions.flatMap((rx, i) => [
          `ORC|NW|${v.id}-${i + 1}||||||||||^${e(rx.doctor)}`,
          `RXE|^^^${formatPattern(rx.time, off, 'YYYYMMDDHHmm')}^^R|${rx.def.rxnorm}^${e(zh ? rx.def.zh : rx.def.en)}^RXNORM|${rx.def.dose}||${e(rx.def.doseUnit)}||||${rx.days}|d`,
          `RXR|${rx.def.route}`,
        ]);
        add('RDE^O11', v.prescriptions[0].time, [pid, pv1, ...segs], p.id, [
          ...pidPlants,
          ...visitPlants,
          ['ORC-12', v.prescriptions[0].doctor, 'doctor'],
        ]);
      }
      for (const note of v.notes) {
        const lines = note.text.split('\n');
        const obx = lines.map(
          (line, i) =>
            `OBX|${i + 1}|TX|${note.type === 'discharge-summary' ? '18842-5^Discharge summary^LN' : note.type === 'radiology-report' ? '18748-4^Diagnostic imaging study^LN' : '34117-2^History and physical note^LN'}||${e(line)}||||||F`,
        );
        add(
          'MDM^T02',
          note.time,
          [
            `EVN|T02|${hl7Time(note.time, off, true)}`,
            pid,
            pv1,
            `TXA|1|${note.type.toUpperCase()}|TX|${hl7Time(note.time, off, true)}|^${e(note.author)}||||||||||||AU`,
            ...obx,
          ],
          p.id,
          [
            ...pidPlants,
            ...visitPlants,
            ['TXA-5', note.author, 'doctor'],
            ...note.plants.map((pl) => ['OBX-5', pl.value, pl.type] as [string, string, typeof pl.type]),
          ],
        );
      }
    });
  }
  // Truncated transmissions: at least one message cut off inside MSH (no message type, no control id).
  const nTrunc = Math.max(1, Math.round(messages.length * 0.01));
  for (let k = 0; k < nTrunc; k++) {
    const pos = Math.floor(((k + 1) * messages.length) / (nTrunc + 1));
    messages.splice(pos, 0, `MSH|^~\\&|${zh ? 'HIS' : 'EPIC'}|${facility}|TRIBUTARY|TRIB|2025\r`);
    malformed++;
    sink.malformed({
      institution: instId,
      source: 'ehr',
      file,
      record: `message#${pos + 1}`,
      reason: 'truncated message: ends inside MSH (no MSH-9 message type, no MSH-10 control id)',
    });
  }
  // Indices of earlier truncations shift as later ones are inserted; recompute their positions.
  const truncIdx = messages.map((m, i) => (m.length < 60 ? i + 1 : 0)).filter(Boolean);
  const mine = sink.malformedRecords.filter((m) => m.institution === instId && m.file === file);
  mine.forEach((m, i) => (m.record = `message#${truncIdx[i]}`));
  // A batch file as feeds are exchanged (HL7 v2 2.10.3): the file and batch headers, the messages, trailers that
  // count them (the receiver checks the counts: a message lost on the way shows).
  const envelope = `|^~\\&|${zh ? 'HIS' : 'EPIC'}|${facility}|TRIBUTARY|TRIB`;
  sink.write(file, `FHS${envelope}\rBHS${envelope}\r${messages.join('')}BTS|${messages.length}\rFTS|1\r`);
  sink.count({
    institution: instId,
    source: 'ehr',
    format: 'hl7v2',
    unit: 'message',
    records: messages.length,
    malformed,
    duplicates,
    breakdown: { ...counts, truncated: malformed },
  });
}
