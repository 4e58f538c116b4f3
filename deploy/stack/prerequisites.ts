import fs from 'node:fs';
import path from 'node:path';
import { TributaryError, toError } from '../../platform/errors';
import { runCommand, which } from './process';

/**
 * Missing prerequisites become one actionable error (what is missing, how to get it), never a hang. Debian
 * packages are installed with apt-get when we are root; otherwise we say which command to run.
 */

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

async function isDebInstalled(pkg: string): Promise<boolean> {
  try {
    const { stdout } = await runCommand('dpkg-query', ['-W', '-f=${Status}', pkg], { timeoutMs: 30_000 });
    return stdout.includes('install ok installed');
  } catch {
    return false;
  }
}

/** Install the Debian packages that are missing. Idempotent; a no-op when all are there. */
export async function ensureDebianPackages(
  packages: string[],
  why: string,
  progress: (m: string) => void,
): Promise<void> {
  if (!which('dpkg-query')) {
    throw new TributaryError(
      `${why} needs the Debian packages ${packages.join(', ')}, and this is not a Debian-like system (no dpkg-query). Install them yourself, or point the matching *_URL/ADDRESS variable at your own service.`,
      {
        code: 'not-found',
        nonRetryable: true,
      },
    );
  }
  const missing: string[] = [];
  for (const pkg of packages) if (!(await isDebInstalled(pkg))) missing.push(pkg);
  if (missing.length === 0) return;
  if (!isRoot() || !which('apt-get')) {
    throw new TributaryError(
      `${why} needs Debian packages that are not installed: ${missing.join(' ')}. Install them with: sudo apt-get install -y ${missing.join(' ')}`,
      {
        code: 'not-found',
        nonRetryable: true,
      },
    );
  }
  progress(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    runCommand(
      'apt-get',
      ['-o', 'DPkg::Lock::Timeout=600', 'install', '-y', '--no-install-recommends', ...missing],
      { env, timeoutMs: 20 * 60_000 },
    );
  try {
    await install();
  } catch {
    // A fresh machine may have no package lists yet.
    await runCommand('apt-get', ['-o', 'DPkg::Lock::Timeout=600', 'update'], { env, timeoutMs: 10 * 60_000 });
    try {
      await install();
    } catch (e) {
      throw new TributaryError(
        `apt-get could not install ${missing.join(' ')} for ${why}: ${toError(e).message}`,
        { code: 'exception', cause: e },
      );
    }
  }
}

/** Java 17 or later, from JAVA_HOME or PATH. Returns the java executable. */
export async function requireJava17(): Promise<string> {
  const fromHome = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : undefined;
  const java = fromHome && fs.existsSync(fromHome) ? fromHome : which('java');
  const hint =
    'install it (Debian: apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME, or set KAFKA_BROKERS to use your own Kafka';
  if (!java)
    throw new TributaryError(`java 17 not found: Kafka needs Java 17 or later on PATH; ${hint}`, {
      code: 'not-found',
      nonRetryable: true,
    });
  const { stdout, stderr } = await runCommand(java, ['-version'], { timeoutMs: 30_000 });
  const match = /version "(\d+)(?:\.(\d+))?/.exec(stderr + stdout);
  const major = match ? (match[1] === '1' ? Number(match[2]) : Number(match[1])) : NaN;
  if (!(major >= 17)) {
    throw new TributaryError(
      `java 17 not found: ${java} is Java ${Number.isNaN(major) ? '(unknown version)' : major}; Kafka 4 needs 17 or later; ${hint}`,
      {
        code: 'not-found',
        nonRetryable: true,
      },
    );
  }
  return java;
}

export function requireTool(name: string, why: string, hint: string): string {
  const found = which(name);
  if (!found)
    throw new TributaryError(`${name} not found: ${why}; ${hint}`, { code: 'not-found', nonRetryable: true });
  return found;
}
