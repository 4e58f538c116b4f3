import { spawn, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { TributaryError, toError } from '../../platform/errors';

/**
 * Process plumbing for the local stack: bounded commands, detached services with pid files, waits that always
 * time out, and a cross-process lock. Nothing here knows about a particular service.
 */

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Run as this uid/gid (only when we are root, e.g. PostgreSQL refuses to run as root). */
  uid?: number;
  gid?: number;
  /** Appended to on the fly so a long build can be followed with `tail -f`. */
  logFile?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Run a command to completion, with no stdin and a hard timeout. Fails with the command's own last output lines. */
export function runCommand(command: string, args: string[], options: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const spawnOptions: SpawnOptions = {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: options.uid,
      gid: options.gid,
    };
    const child = spawn(command, args, spawnOptions);
    const log = options.logFile ? fs.createWriteStream(options.logFile, { flags: 'a' }) : undefined;
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      log?.write(d);
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
      log?.write(d);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new TributaryError(
          `${path.basename(command)} did not finish within ${Math.round(options.timeoutMs / 1000)}s`,
          { code: 'timeout' },
        ),
      );
    }, options.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      log?.end();
      const err = e as NodeJS.ErrnoException;
      reject(
        new TributaryError(
          err.code === 'ENOENT' ? `${command} not found` : `${command} could not start: ${err.message}`,
          {
            code: 'not-found',
            cause: e,
          },
        ),
      );
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      log?.end();
      if (code === 0) return resolve({ stdout, stderr });
      const tail = lastLines(stderr || stdout, 15);
      reject(
        new TributaryError(
          `${path.basename(command)} ${args.slice(0, 2).join(' ')} failed (${signal ?? `exit ${code}`})${tail ? `:\n${tail}` : ''}`,
          {
            code: 'exception',
          },
        ),
      );
    });
  });
}

export function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join('\n');
}

/** The last lines of a log file, for error messages that must say why a service did not come up. */
export function tailFile(file: string, n = 20): string {
  try {
    const text = fs.readFileSync(file, 'utf8');
    return lastLines(text.slice(-20_000), n);
  } catch {
    return '(no log)';
  }
}

export interface DetachedOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logFile: string;
  pidFile: string;
  uid?: number;
  gid?: number;
}

/**
 * Start a long-running service in its own process group, detached from us, stdout+stderr to its log file, and
 * record its pid. It outlives the caller (stack up returns; tests' global setup may hand it to later runs).
 */
export function spawnDetached(command: string, args: string[], options: DetachedOptions): number {
  fs.mkdirSync(path.dirname(options.logFile), { recursive: true });
  const out = fs.openSync(options.logFile, 'a');
  try {
    if (options.uid !== undefined) fs.fchownSync(out, options.uid, options.gid ?? options.uid);
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: true,
      stdio: ['ignore', out, out],
      uid: options.uid,
      gid: options.gid,
    });
    // A missing binary surfaces as an async 'error' event; pid is undefined then.
    child.on('error', () => undefined);
    if (child.pid === undefined)
      throw new TributaryError(`${command} could not be started`, { code: 'not-found' });
    child.unref();
    fs.writeFileSync(options.pidFile, `${child.pid}\n`);
    return child.pid;
  } finally {
    fs.closeSync(out);
  }
}

export function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(pidFile, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped by a parent that is still ours) counts as dead.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z /.test(stat);
  } catch {
    return true;
  }
}

/**
 * The pid recorded for a service when that process is still running, and (when `command` is given) still runs that
 * command: after a reboot a recycled pid must not pass for our service. Cleans up a stale pid file.
 */
export function livePid(pidFile: string, command?: string): number | undefined {
  const pid = readPid(pidFile);
  if (pid !== undefined && isAlive(pid) && (command === undefined || runsCommand(pid, command))) return pid;
  if (pid !== undefined) fs.rmSync(pidFile, { force: true });
  return undefined;
}

function runsCommand(pid: number, command: string): boolean {
  try {
    const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return path.basename(argv[0] ?? '').includes(command);
  } catch {
    // No /proc (not Linux): trust the pid.
    return true;
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `check` until it returns true, or fail after `timeoutMs` with what we were waiting for. `abort` lets a
 * wait fail early (e.g. the service process died), with its own reason.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  options: { timeoutMs: number; intervalMs?: number; abort?: () => string | undefined },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError = '';
  for (;;) {
    const reason = options.abort?.();
    if (reason) throw new TributaryError(`${what}: ${reason}`, { code: 'exception' });
    try {
      if (await check()) return;
    } catch (e) {
      lastError = toError(e).message;
    }
    if (Date.now() >= deadline) {
      throw new TributaryError(
        `timed out after ${Math.round(options.timeoutMs / 1000)}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`,
        { code: 'timeout' },
      );
    }
    await sleep(options.intervalMs ?? 250);
  }
}

/** Is something accepting TCP connections on host:port? */
export function isPortOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Stop a service: its own clean-shutdown signal to the leader (PostgreSQL wants SIGINT, the others SIGTERM), then
 * SIGKILL to its whole process group if it does not go in time. Resolves when the process is gone.
 */
export async function stopProcess(
  pid: number,
  timeoutMs = 20_000,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<void> {
  const send = (target: number, sig: NodeJS.Signals) => {
    try {
      process.kill(target, sig);
    } catch {
      // already gone
    }
  };
  if (!isAlive(pid)) return;
  send(pid, signal);
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(pid)) {
    send(-pid, 'SIGKILL');
    send(pid, 'SIGKILL');
    const hard = Date.now() + 5000;
    while (isAlive(pid) && Date.now() < hard) await sleep(100);
  }
}

/**
 * A lock shared by every process that starts or stops the stack (several test runs may start at once). The lock
 * file holds the owner's pid; a lock whose owner died is taken over.
 */
export async function withFileLock<T>(lockFile: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  fs.mkdirSync(path.dirname(lockFile), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, `${process.pid}\n`, { flag: 'wx' });
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = readPid(lockFile);
      if (owner === undefined || !isAlive(owner)) {
        // Stale: remove only if it still names the dead owner (another waiter may have just replaced it).
        if (readPid(lockFile) === owner) fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        throw new TributaryError(
          `timed out after ${Math.round(timeoutMs / 1000)}s waiting for the stack lock ${lockFile} held by pid ${owner}`,
          { code: 'timeout' },
        );
      }
      await sleep(300);
    }
  }
  try {
    return await fn();
  } finally {
    if (readPid(lockFile) === process.pid) fs.rmSync(lockFile, { force: true });
  }
}

/** Find an executable on PATH (no shell). */
export function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** A health check's GET: the JSON body, or a transient error naming the path and status (never the body). */
export async function getHealthJson(
  url: string,
  options: { timeoutMs?: number; accept?: string } = {},
): Promise<unknown> {
  const response = await fetch(url, {
    headers: { accept: options.accept ?? 'application/json' },
    signal: AbortSignal.timeout(options.timeoutMs ?? 3000),
  });
  if (!response.ok)
    throw new TributaryError(`GET ${new URL(url).pathname} answered HTTP ${response.status}`, {
      code: 'transient',
    });
  return response.json();
}
