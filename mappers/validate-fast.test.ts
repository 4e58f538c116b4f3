/**
 * Differential soundness of the fast validation path against @medplum/core's validateResource: on real resources
 * (the Synthea sample and mapped generator output) and many mutations of each, whenever the fast path says "certainly
 * valid", medplum reports no error; and it says so for nearly every valid real resource, or it would not save anything.
 * validateFhirResource with the fast path returns exactly what it returns with medplum alone, for every case.
 */
import { isDeepStrictEqual } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { FhirResource } from './types';
import { Rng } from '../synth/prng';
import { mappedGeneratorOutput, syntheaSample } from './test-support/fhir-corpus';
import { MIRRORED_MEDPLUM_VERSION, createFastValidator } from './validate-fast';
import { loadCore, validateFhirResource, validateFhirResourceWithMedplum } from './validate';

type Json = null | undefined | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
type Path = (string | number)[];

interface Case {
  label: string;
  resource: Json;
}

const isObj = (v: Json): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every (container path, key, value) below root: object properties and array items. */
function entries(root: Json): [Path, string | number, Json][] {
  const out: [Path, string | number, Json][] = [];
  const visit = (v: Json, path: Path): void => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push([path, i, x]);
        visit(x, [...path, i]);
      });
    } else if (isObj(v)) {
      for (const k of Object.keys(v)) {
        out.push([path, k, v[k]]);
        visit(v[k], [...path, k]);
      }
    }
  };
  visit(root, []);
  return out;
}

function at(root: Json, path: Path): Json {
  let v = root;
  for (const p of path) v = (v as Record<string | number, Json>)[p];
  return v;
}

/** A copy of root with fn applied to the container at path. */
function edit(root: Json, path: Path, fn: (container: Record<string | number, Json>) => void): Json {
  const copy = structuredClone(root);
  fn(at(copy, path) as Record<string | number, Json>);
  return copy;
}

/** Generic structural mutations of one property or array item. */
function mutationsAt(root: Json, path: Path, key: string | number, v: Json): Case[] {
  const where = [...path, key].join('.');
  const set = (label: string, value: Json): Case => ({
    label: `${where}: ${label}`,
    resource: edit(root, path, (c) => (c[key] = value)),
  });
  const out: Case[] = [
    {
      label: `${where}: deleted`,
      resource: edit(root, path, (c) => (Array.isArray(c) ? c.splice(key as number, 1) : delete c[key])),
    },
    set('null', null),
    set('undefined', undefined),
    set('empty string', ''),
    set('empty object', {}),
    set('empty array', []),
  ];
  if (Array.isArray(v)) {
    out.push(
      set('unwrapped', v[0]),
      set('null item', [...v, null]),
      set('undefined item', [...v, undefined]),
      set('empty item', [...v, {}]),
      set('duplicated', [...v, ...v]),
    );
  } else {
    out.push(set('wrapped in array', [v]));
  }
  if (typeof v === 'string') {
    out.push(
      set('number', 42),
      set('boolean', true),
      set('blank', ' '),
      set('leading space', ` ${v}`),
      set('double inner space', `${v}  x`),
      set('bad date', '2020-13-45'),
      set('control char', `a\u0001b`),
      set('bad instant', '2020-01-01T25:00:00'),
    );
  } else if (typeof v === 'number') {
    out.push(
      set('string', String(v)),
      set('fraction', v + 0.5),
      set('negative', -Math.abs(v) - 1),
      set('zero', 0),
      set('NaN', NaN),
      set('Infinity', Infinity),
    );
  } else if (typeof v === 'boolean') {
    out.push(set('string', String(v)), set('number', 1));
  } else if (isObj(v)) {
    const prim = Object.keys(v).find((k) => typeof v[k] === 'string');
    out.push(
      set('string', 'x'),
      set('number', 1),
      set('extra property', { ...v, foo: 1 }),
      set('nested resourceType', { ...v, resourceType: 'Patient' }),
      set('literal choice key', { ...v, 'value[x]': 'x' }),
    );
    if (prim)
      out.push(
        set('primitive extension', {
          ...v,
          [`_${prim}`]: { extension: [{ url: 'http://x', valueString: 'x' }] },
        }),
        set('bad primitive extension', { ...v, [`_${prim}`]: 'x' }),
      );
  }
  if (typeof key === 'string') {
    const choice = /^([a-z]+)([A-Z][A-Za-z]*)$/.exec(key);
    out.push({
      label: `${where}: renamed to unknown`,
      resource: edit(root, path, (c) => ((c[`${key}X`] = c[key]), delete c[key])),
    });
    if (choice) {
      out.push(
        {
          label: `${where}: bad choice type`,
          resource: edit(root, path, (c) => ((c[`${choice[1]}Foo`] = c[key]), delete c[key])),
        },
        {
          label: `${where}: as valueString`,
          resource: edit(root, path, (c) => ((c[`${choice[1]}String`] = c[key]), delete c[key])),
        },
        {
          label: `${where}: second choice`,
          resource: edit(
            root,
            path,
            (c) =>
              (c[`${choice[1]}${choice[2] === 'Boolean' ? 'String' : 'Boolean'}`] =
                choice[2] === 'Boolean' ? 'x' : true),
          ),
        },
        {
          label: `${where}: primitive extension for choice`,
          resource: edit(root, path, (c) => (c[`_${key}`] = { id: 'a' })),
        },
      );
    }
  }
  return out;
}

/** Edits aimed at invariants and at what the fast path must not model. */
function targetedMutations(root: Json): Case[] {
  const r = root as Obj;
  const add = (label: string, fn: (c: Obj) => void): Case => ({
    label,
    resource: edit(root, [], (c) => fn(c as Obj)),
  });
  const out: Case[] = [
    add('extra root property', (c) => (c.foo = 1)),
    add('primitive extension on id', (c) => (c._id = { extension: [{ url: 'http://x', valueString: 'x' }] })),
    add('contained resource', (c) => (c.contained = [{ resourceType: 'Patient', id: 'c1' }])),
    add(
      'contained with contained',
      (c) =>
        (c.contained = [
          { resourceType: 'Patient', id: 'c1', contained: [{ resourceType: 'Patient', id: 'c2' }] },
        ]),
    ),
    add(
      'meta.profile',
      (c) =>
        (c.meta = {
          ...(isObj(c.meta) ? c.meta : {}),
          profile: ['http://hl7.org/fhir/StructureDefinition/Patient'],
        }),
    ),
    add(
      'text narrative',
      (c) => (c.text = { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">x</div>' }),
    ),
    add('extension valid', (c) => (c.extension = [{ url: 'http://x', valueString: 'a' }])),
    add('extension without value (ext-1)', (c) => (c.extension = [{ url: 'http://x' }])),
    add(
      'extension with value and extension (ext-1)',
      (c) =>
        (c.extension = [
          { url: 'http://x', valueString: 'a', extension: [{ url: 'http://y', valueString: 'b' }] },
        ]),
    ),
    add(
      'nested extension valid',
      (c) => (c.extension = [{ url: 'http://x', extension: [{ url: 'http://y', valueCode: 'b' }] }]),
    ),
    add('extension without url', (c) => (c.extension = [{ valueString: 'a' }])),
    add('modifierExtension', (c) => (c.modifierExtension = [{ url: 'http://x', valueBoolean: true }])),
    add('id too long', (c) => (c.id = 'x'.repeat(65))),
    add('id with slash', (c) => (c.id = 'a/b')),
    add('resourceType only', (c) => {
      for (const k of Object.keys(c)) if (k !== 'resourceType') delete c[k];
    }),
  ];
  if (r.resourceType === 'Observation') {
    out.push(
      add('dataAbsentReason with value (obs-6)', (c) => (c.dataAbsentReason = { text: 'x' })),
      add('dataAbsentReason without value', (c) => {
        for (const k of Object.keys(c)) if (/^value[A-Z]/.test(k)) delete c[k];
        c.dataAbsentReason = { text: 'x' };
      }),
      add(
        'component repeating the code (obs-7)',
        (c) => (c.component = [{ code: c.code, valueString: 'x' }]),
      ),
      add(
        'component with another code',
        (c) => (c.component = [{ code: { text: 'other' }, valueString: 'x' }]),
      ),
      add('referenceRange with type only (obs-3)', (c) => (c.referenceRange = [{ type: { text: 'x' } }])),
      add('referenceRange with text', (c) => (c.referenceRange = [{ text: 'normal' }])),
      add('referenceRange low', (c) => (c.referenceRange = [{ low: { value: 1, unit: 'mg' } }])),
      add('valueQuantity code without system (qty-3)', (c) => (c.valueQuantity = { value: 1, code: 'mg' })),
      add('effectivePeriod end before start (per-1)', (c) => {
        delete c.effectiveDateTime;
        c.effectivePeriod = { start: '2021-01-01', end: '2020-01-01' };
      }),
      add('subject empty reference (ref-1)', (c) => (c.subject = {})),
      add('subject display only', (c) => (c.subject = { display: 'x' })),
      add('subject contained reference', (c) => (c.subject = { reference: '#p1' })),
      add('subject wrong target type', (c) => (c.subject = { reference: 'Medication/1' })),
      add('two values', (c) => (c.valueString = 'x')),
      add('status missing', (c) => delete c.status),
    );
  }
  if (r.resourceType === 'Condition') {
    out.push(
      add(
        'abatement while active (con-4)',
        (c) => (
          (c.abatementDateTime = '2020-01-01'),
          (c.clinicalStatus = {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
          })
        ),
      ),
      add(
        'entered-in-error with clinical status (con-5)',
        (c) => (
          (c.verificationStatus = {
            coding: [
              {
                system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status',
                code: 'entered-in-error',
              },
            ],
          }),
          (c.clinicalStatus = {
            coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }],
          })
        ),
      ),
    );
  }
  if (r.resourceType === 'Patient') {
    out.push(
      add('contact with relationship only (pat-1)', (c) => (c.contact = [{ relationship: [{ text: 'x' }] }])),
      add('contact with name', (c) => (c.contact = [{ name: { family: 'X' } }])),
      add('deceased twice', (c) => ((c.deceasedBoolean = false), (c.deceasedDateTime = '2020-01-01'))),
      add('birthDate with time', (c) => (c.birthDate = '2020-01-01T00:00:00Z')),
    );
  }
  for (const [path, key, v] of entries(root)) {
    if (!isObj(v)) continue;
    const where = [...path, key].join('.');
    if ('start' in v || 'end' in v)
      out.push({
        label: `${where}: end before start`,
        resource: edit(root, [...path, key], (p) => ((p.start = '2021-01-01'), (p.end = '2020-01-01'))),
      });
    if ('reference' in v)
      out.push({
        label: `${where}: empty reference object`,
        resource: edit(root, path, (c) => (c[key] = {})),
      });
    if ('code' in v && 'system' in v && typeof v.value === 'number')
      out.push({
        label: `${where}: quantity code without system`,
        resource: edit(root, [...path, key], (q) => delete q.system),
      });
  }
  return out;
}

/** Up to perShape resources of each distinct shape (type and set of property paths), so mutations cover variety. */
function diverse(resources: FhirResource[], perShape: number): FhirResource[] {
  const seen = new Map<string, number>();
  return resources.filter((r) => {
    const shape = `${r.resourceType}|${[...new Set(entries(r as Json).map(([p, k]) => [...p, k].filter((x) => typeof x === 'string').join('.')))].sort().join(',')}`;
    const n = seen.get(shape) ?? 0;
    seen.set(shape, n + 1);
    return n < perShape;
  });
}

describe('fast FHIR validation path', () => {
  const core = loadCore();
  const shortcutUses = new Map<string, number>();
  const shortcutDisagreements: string[] = [];
  const fast = createFastValidator(core, {
    onShortcut: (key, agrees) => {
      shortcutUses.set(key, (shortcutUses.get(key) ?? 0) + 1);
      if (!agrees) shortcutDisagreements.push(key);
    },
  });
  const medplumErrors = (r: unknown): boolean => {
    try {
      core.validateResource(r as never);
      return false;
    } catch {
      return true;
    }
  };
  let synthea: FhirResource[];
  let mapped: FhirResource[];

  beforeAll(async () => {
    synthea = syntheaSample();
    mapped = await mappedGeneratorOutput('validate-fast-test', 2);
  });

  it('says "certainly valid" for nearly every valid real resource, and never for an invalid one', () => {
    for (const [name, corpus] of [
      ['synthea', synthea],
      ['mapped', mapped],
    ] as const) {
      let valid = 0;
      let hits = 0;
      const unsound: string[] = [];
      for (const r of corpus) {
        const f = fast.isCertainlyValid(structuredClone(r));
        const err = medplumErrors(structuredClone(r));
        if (!err) valid++;
        if (f && !err) hits++;
        if (f && err) unsound.push(r.resourceType);
        expect(validateFhirResource(structuredClone(r))).toEqual(
          validateFhirResourceWithMedplum(structuredClone(r)),
        );
      }
      expect(unsound, name).toEqual([]);
      expect(corpus.length, name).toBeGreaterThan(1000);
      // Measured: 100% of both corpora (1,419 Synthea, all mapped resources).
      expect(hits / valid, `${name}: fast-path hit rate ${hits}/${valid}`).toBeGreaterThanOrEqual(0.99);
    }
  });

  it('is sound on mutations of real resources: fast "certainly valid" implies medplum reports no error', () => {
    // Seeded, so a failure reproduces.
    const rng = new Rng('validate-fast', 'mutation-sample');
    const bases = diverse([...synthea, ...mapped], 3);
    let cases = 0;
    let medplumInvalid = 0;
    let fastValid = 0;
    let fastValidMutated = 0;
    const unsound: string[] = [];
    const different: string[] = [];
    for (const base of bases) {
      const all: Case[] = [];
      for (const [path, key, v] of entries(base as Json))
        all.push(...mutationsAt(base as Json, path, key, v));
      // All targeted edits, and a seeded sample of the structural ones (every one of them on every base is ~10x slower).
      const sample = all.filter(() => rng.next() < 24 / Math.max(24, all.length));
      for (const c of [...targetedMutations(base as Json), ...sample]) {
        cases++;
        const f = fast.isCertainlyValid(structuredClone(c.resource));
        const err = medplumErrors(structuredClone(c.resource));
        if (err) medplumInvalid++;
        if (f) {
          fastValid++;
          if (JSON.stringify(c.resource) !== JSON.stringify(base)) fastValidMutated++;
        }
        if (f && err) unsound.push(`${base.resourceType} ${c.label}`);
        const withFastPath = validateFhirResource(structuredClone(c.resource) as FhirResource);
        const medplumOnly = validateFhirResourceWithMedplum(structuredClone(c.resource) as FhirResource);
        if (!isDeepStrictEqual(withFastPath, medplumOnly)) different.push(`${base.resourceType} ${c.label}`);
      }
    }
    expect(unsound).toEqual([]);
    // validateFhirResource (fast path, then medplum when not sure) returns exactly what medplum alone returns.
    expect(different).toEqual([]);
    // Not vacuous: many mutations break the resource, and many others keep it valid and are still recognised as such
    // (measured: 255 bases, 11,468 cases, 5,593 invalid for medplum, 4,647 "certainly valid").
    expect(bases.length).toBeGreaterThan(200);
    expect(cases).toBeGreaterThan(10_000);
    expect(medplumInvalid).toBeGreaterThan(cases / 4);
    expect(fastValidMutated).toBeGreaterThan(cases / 10);
    expect(fastValid).toBeGreaterThan(0);
  });

  it('hand-written invariant proofs agree with medplum FHIRPath every time they are used', () => {
    // Runs after the corpus and mutation tests (same file, in order), whose every shortcut use was checked.
    expect(shortcutDisagreements).toEqual([]);
    for (const key of ['dom-2', 'dom-4', 'dom-5', 'ext-1', 'obs-6', 'obs-7', 'obs-3', 'con-4', 'con-5'])
      expect(shortcutUses.get(key) ?? 0, key).toBeGreaterThan(50);
  });

  it('agrees with medplum on hand-picked edges: integer kinds, formats, cardinality, invariants', () => {
    const imm = {
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: { text: 'x' },
      patient: { reference: 'Patient/1' },
      occurrenceDateTime: '2020-01-01',
    };
    const cases: [Json, boolean][] = [
      [imm, true],
      [{ ...imm, protocolApplied: [{ doseNumberPositiveInt: 1 }] }, true],
      [{ ...imm, protocolApplied: [{ doseNumberPositiveInt: 0 }] }, false],
      [{ ...imm, protocolApplied: [{ doseNumberPositiveInt: 1.5 }] }, false],
      [{ ...imm, protocolApplied: [{ doseNumberString: 'first' }] }, true],
      [{ ...imm, protocolApplied: [{}] }, false],
      [{ ...imm, occurrenceDateTime: '2020-02-30T10:00' }, false],
      [{ ...imm, occurrenceDateTime: '2020-02-03T10:00:00+14:00' }, true],
      [{ ...imm, lotNumber: 'a'.repeat(1024 * 1024 + 1) }, false],
      // medplum reads empty values of optional elements as absent.
      [{ ...imm, lotNumber: '' }, true],
      [{ ...imm, note: [] }, true],
      [{ ...imm, vaccineCode: {} }, false],
      [{ ...imm, note: undefined }, true],
      [
        { resourceType: 'Media', status: 'completed', content: { contentType: 'text/plain' }, frames: 0 },
        false,
      ],
      [
        { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { size: -1 } }] },
        false,
      ],
      [
        {
          resourceType: 'DocumentReference',
          status: 'current',
          content: [{ attachment: { size: 0, data: '' } }],
        },
        true,
      ],
      [
        { resourceType: 'DocumentReference', status: 'current', content: [{ attachment: { data: 'abc' } }] },
        false,
      ],
    ];
    for (const [r, expected] of cases) {
      const label = JSON.stringify(r).slice(0, 160);
      const f = fast.isCertainlyValid(structuredClone(r));
      expect(f, label).toBe(expected);
      if (f) expect(medplumErrors(structuredClone(r)), label).toBe(false);
    }
  });

  it('answers "not sure" for what it does not model', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: 'a' };
    expect(fast.isCertainlyValid(obs)).toBe(true);
    expect(fast.isCertainlyValid({ ...obs, _status: { id: 'a' } })).toBe(false);
    expect(fast.isCertainlyValid({ ...obs, contained: [{ resourceType: 'Patient', id: 'p' }] })).toBe(false);
    expect(fast.isCertainlyValid({ ...obs, valueBoolean: true })).toBe(false);
    expect(fast.isCertainlyValid({ ...obs, code: { text: 'x', resourceType: 'Patient' } })).toBe(false);
    expect(fast.isCertainlyValid({ ...obs, status: null })).toBe(false);
    expect(
      fast.isCertainlyValid({
        ...obs,
        code: Object.assign(Object.create({ text: 'x' }) as object, { coding: [{ code: 'a' }] }),
      }),
    ).toBe(false);
    expect(
      fast.isCertainlyValid({ resourceType: 'Bundle', type: 'collection', entry: [{ resource: obs }] }),
    ).toBe(false);
    expect(fast.isCertainlyValid({ resourceType: 'Nope' })).toBe(false);
    expect(fast.isCertainlyValid(null)).toBe(false);
  });

  it('answers "not sure" to everything under a medplum release it does not mirror', () => {
    const obs = { resourceType: 'Observation', status: 'final', code: { text: 'x' }, valueString: 'a' };
    expect(core.MEDPLUM_VERSION.startsWith(`${MIRRORED_MEDPLUM_VERSION}-`)).toBe(true);
    expect(
      createFastValidator({ ...core, MEDPLUM_VERSION: core.MEDPLUM_VERSION }).isCertainlyValid(obs),
    ).toBe(true);
    for (const version of ['4.5.3-0a1b2c3', '5.2.13-0a1b2c3', '4.5.20', '']) {
      expect(createFastValidator({ ...core, MEDPLUM_VERSION: version }).isCertainlyValid(obs), version).toBe(
        false,
      );
    }
  });
});
