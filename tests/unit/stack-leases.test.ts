import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../platform/config';
import { isAlive, livePid, spawnDetached, stopProcess, which } from '../../deploy/stack/process';
import { serviceDirs } from '../../deploy/stack/service';
import { acquireLease, releaseLease, stopStack } from '../../deploy/stack/stack';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function tmpConfig(): Config {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-leases-'));
  cleanup.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return loadConfig({ env: { TRIBUTARY_STACK_DIR: '.stack' }, cwd: dir });
}

/** A stand-in for a service process, recorded in the stack's pid file as the real one would be. */
function fakeService(config: Config, name: 'kafka' | 'temporal'): number {
  const dirs = serviceDirs(config, name);
  fs.mkdirSync(path.dirname(dirs.pid), { recursive: true });
  // Named like the real executable, since the stack checks that a recorded pid still runs its command.
  const bin = path.join(config.paths.stack, name === 'kafka' ? 'java' : 'temporal');
  if (!fs.existsSync(bin)) fs.symlinkSync(which('sleep')!, bin);
  const pid = spawnDetached(bin, ['60'], { pidFile: dirs.pid, logFile: dirs.log });
  cleanup.push(() => stopProcess(pid, 1000));
  return pid;
}

describe('test-run leases on the shared stack', () => {
  it('does not stop what a run started while another run still uses it; the last run out stops it', async () => {
    const config = tmpConfig();
    const kafka = fakeService(config, 'kafka');
    await acquireLease(config, 'run-a');
    await acquireLease(config, 'run-b');
    expect(await releaseLease(config, 'run-a', ['kafka'])).toEqual([]);
    expect(isAlive(kafka)).toBe(true);
    expect(await releaseLease(config, 'run-b', [])).toEqual(['kafka']);
    expect(isAlive(kafka)).toBe(false);
  });

  it('does not mistake a recycled pid for the service', () => {
    const config = tmpConfig();
    const dirs = serviceDirs(config, 'kafka');
    fs.mkdirSync(path.dirname(dirs.pid), { recursive: true });
    fs.writeFileSync(dirs.pid, `${process.pid}\n`); // alive, but node, not java
    expect(livePid(dirs.pid, 'java')).toBeUndefined();
    expect(fs.existsSync(dirs.pid)).toBe(false);
  });

  it('ignores leases of runs that died', async () => {
    const config = tmpConfig();
    const temporal = fakeService(config, 'temporal');
    await acquireLease(config, 'mine');
    fs.writeFileSync(path.join(config.paths.stack, 'leases', 'crashed-run'), '999999999\n');
    expect(await releaseLease(config, 'mine', ['temporal'])).toEqual(['temporal']);
    expect(isAlive(temporal)).toBe(false);
  });

  it('keeps everything running when asked to', async () => {
    const config = tmpConfig();
    const kafka = fakeService(config, 'kafka');
    await acquireLease(config, 'mine');
    expect(await releaseLease(config, 'mine', ['kafka'], { keep: true })).toEqual([]);
    expect(isAlive(kafka)).toBe(true);
    // `stack down` stops it anyway, and says so.
    expect(await stopStack(config)).toEqual(['kafka']);
    expect(isAlive(kafka)).toBe(false);
  });
});
