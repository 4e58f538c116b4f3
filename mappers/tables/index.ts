import { readFileSync } from 'node:fs';

/** Code-system and unit tables are data (this folder); loaded once at import. */
function loadTable<T>(name: string): T {
  return JSON.parse(readFileSync(new URL(`./${name}`, import.meta.url), 'utf8')) as T;
}

const systems = new Map(
  Object.entries(loadTable<{ systems: Record<string, string> }>('code-systems.json').systems),
);
const units = new Map(Object.entries(loadTable<{ units: Record<string, string> }>('ucum-units.json').units));
const unitsLower = new Map([...units].map(([k, v]) => [k.toLowerCase(), v]));
const ucumCodes = new Set(units.values());

export const UCUM = 'http://unitsofmeasure.org';

/** Canonical FHIR system URI for a source system name; local names become an institution-scoped URN. */
export function canonicalSystem(source: string | undefined, institution: string): string | undefined {
  if (!source) return undefined;
  const known = systems.get(source) ?? systems.get(source.toUpperCase());
  if (known) return known;
  if (/^(https?:|urn:)/.test(source)) return source;
  if (/^\d+(\.\d+)+$/.test(source)) return `urn:oid:${source}`;
  return `urn:tributary:${institution}:codes:${encodeURIComponent(source)}`;
}

/** UCUM code for a unit string, or undefined when the table does not know it (the unit is then kept as text only). */
export function toUcum(unit: string | undefined): string | undefined {
  if (!unit) return undefined;
  const u = unit.trim();
  return units.get(u) ?? unitsLower.get(u.toLowerCase()) ?? (ucumCodes.has(u) ? u : undefined);
}

/** A FHIR Quantity with a UCUM code when the unit is known. */
export function quantity(
  value: number,
  unit: string | undefined,
): { value: number; unit?: string; system?: string; code?: string } {
  const code = toUcum(unit);
  if (code) return { value, unit: unit?.trim() || code, system: UCUM, code };
  return unit?.trim() ? { value, unit: unit.trim() } : { value };
}

/** Only the URI-shaped aliases (OIDs, trailing slashes): safe to rewrite inside FHIR input without guessing. */
export const SYSTEM_ALIASES: ReadonlyMap<string, string> = new Map(
  [...systems].filter(([k]) => /^(https?:|urn:)/.test(k)),
);
