import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../platform/config';

export const SERVICE_NAMES = ['postgres', 'temporal', 'kafka', 'orthanc', 'fhir'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

/** Where a service keeps its state, log and pid, all under `.stack/`. */
export interface ServiceDirs {
  home: string;
  log: string;
  pid: string;
}

export interface StackContext {
  config: Config;
  /** Progress lines for a person watching (`stack up`); tests pass a quiet one. */
  progress: (message: string) => void;
}

/**
 * One local service. `prepare` installs or fetches what is missing (idempotent, cached under the user cache),
 * `start` spawns it detached and returns its pid, `healthy` asks the service itself whether it serves.
 */
export interface ServiceDriver {
  name: ServiceName;
  /** The address clients use (host:port or URL). */
  address(config: Config): string;
  /** The user pointed us at their own service: start nothing. */
  external(config: Config): boolean;
  /** Loopback ports this service listens on, so a port taken by someone else fails fast with a clear error. */
  ports(config: Config): { port: number; variable: string }[];
  prepare(ctx: StackContext): Promise<void>;
  start(ctx: StackContext): Promise<number>;
  /** Called once after the first healthy check of a fresh start (create roles, databases, ...). */
  afterStart?(ctx: StackContext): Promise<void>;
  healthy(config: Config): Promise<boolean>;
  startTimeoutMs: number;
  /** Signal that shuts the service down cleanly (PostgreSQL: SIGINT = fast shutdown). */
  stopSignal?: NodeJS.Signals;
  /** The executable's file name, to tell our process from a recycled pid. */
  command: string;
  /** Extra status text (e.g. the Temporal UI URL). */
  describe?(config: Config): string | undefined;
}

export function serviceDirs(config: Config, name: ServiceName): ServiceDirs {
  const home = path.join(config.paths.stack, name);
  return {
    home,
    log: path.join(config.paths.logs, `${name}.log`),
    pid: path.join(config.paths.stack, `${name}.pid`),
  };
}

/** The Maven repository the stack's Java services are fetched into: one cache for Kafka's jars and the FHIR server. */
export function mavenRepository(config: Config): string {
  return path.join(config.paths.cache, 'm2');
}

export function ensureDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
