import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { institutionRegistrySchema, type InstitutionRegistry } from '../schemas/institution';
import { loadConfig, parseAtEdge } from './config';
import { TributaryError } from './errors';

export const DEFAULT_REGISTRY_PATH = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../config/institutions.json',
);

/** The institution registry (default: the 18 fictional demo institutions in config/institutions.json). */
export function loadInstitutionRegistry(
  file = loadConfig().env.TRIBUTARY_INSTITUTIONS ?? DEFAULT_REGISTRY_PATH,
): InstitutionRegistry {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TributaryError(`institution registry ${file}: ${(e as Error).message}`, {
      code: 'invalid',
      nonRetryable: true,
    });
  }
  return parseAtEdge(institutionRegistrySchema, raw, `institution registry ${file}`);
}
