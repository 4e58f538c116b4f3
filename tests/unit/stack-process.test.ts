import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  isAlive,
  isPortOpen,
  livePid,
  runCommand,
  sleep,
  spawnDetached,
  stopProcess,
  waitFor,
  withFileLock,
} from '../../deploy/stack/process';
import { parseServiceList } from '../../deploy/stack/stack';

const dirs: string[] = [];
const tmpDir = () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tributary-stack-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A pid that certainly belonged to a process that has exited. */
function deadPid(): number {
  const result = spawnSync('sh', ['-c', 'echo $$']);
  return Number(result.stdout.toString().trim());
}

describe('withFileLock', () => {
  it('lets one holder in at a time', async () => {
    const lock = path.join(tmpDir(), 'stack.lock');
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        withFileLock(lock, 10_000, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await sleep(50);
          order.push(n);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order.sort()).toEqual([1, 2, 3]);
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('takes over a lock whose owner died, and releases it after a throw', async () => {
    const lock = path.join(tmpDir(), 'stack.lock');
    fs.writeFileSync(lock, `${deadPid()}\n`);
    await expect(withFileLock(lock, 5000, async () => Promise.reject(new Error('inside')))).rejects.toThrow(
      'inside',
    );
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('times out, naming the lock and its live owner', async () => {
    const lock = path.join(tmpDir(), 'stack.lock');
    fs.writeFileSync(lock, `${process.ppid}\n`);
    await expect(withFileLock(lock, 400, async () => 1)).rejects.toThrow(
      new RegExp(`waiting for the stack lock .*held by pid ${process.ppid}`),
    );
  });
});

describe('waitFor', () => {
  it('times out with what it waited for and the last error', async () => {
    await expect(
      waitFor('the thing', async () => Promise.reject(new Error('connection refused')), {
        timeoutMs: 300,
        intervalMs: 50,
      }),
    ).rejects.toThrow(/timed out after 0s waiting for the thing \(last error: connection refused\)/);
  });

  it('stops early when told why', async () => {
    await expect(
      waitFor('the thing', async () => false, { timeoutMs: 10_000, abort: () => 'it exited' }),
    ).rejects.toThrow('the thing: it exited');
  });

  it('returns once the check passes', async () => {
    let n = 0;
    await waitFor('three polls', async () => ++n >= 3, { timeoutMs: 5000, intervalMs: 10 });
    expect(n).toBe(3);
  });
});

describe('runCommand', () => {
  it('returns output, and fails with the exit code and the last lines of output', async () => {
    expect((await runCommand('sh', ['-c', 'echo hi'], { timeoutMs: 5000 })).stdout).toBe('hi\n');
    await expect(runCommand('sh', ['-c', 'echo why >&2; exit 3'], { timeoutMs: 5000 })).rejects.toThrow(
      /failed \(exit 3\):\nwhy/,
    );
  });

  it('kills a command that overruns its timeout', async () => {
    await expect(runCommand('sleep', ['5'], { timeoutMs: 200 })).rejects.toThrow(
      /sleep did not finish within 0s/,
    );
  });

  it('says when the program does not exist', async () => {
    await expect(runCommand('tributary-no-such-program', [], { timeoutMs: 5000 })).rejects.toThrow(
      'tributary-no-such-program not found',
    );
  });
});

describe('detached services', () => {
  it('records a pid, logs to the file, and stops with escalation when the signal is ignored', async () => {
    const dir = tmpDir();
    const pidFile = path.join(dir, 'svc.pid');
    const logFile = path.join(dir, 'logs', 'svc.log');
    const pid = spawnDetached('sh', ['-c', 'trap "" TERM; echo started; while true; do sleep 0.1; done'], {
      pidFile,
      logFile,
    });
    expect(livePid(pidFile)).toBe(pid);
    await waitFor('the log line', async () => fs.readFileSync(logFile, 'utf8').includes('started'), {
      timeoutMs: 5000,
      intervalMs: 20,
    });
    await stopProcess(pid, 300);
    expect(isAlive(pid)).toBe(false);
    expect(livePid(pidFile)).toBeUndefined();
    expect(fs.existsSync(pidFile)).toBe(false); // a stale pid file is cleaned up
  });
});

describe('isPortOpen', () => {
  it('tells a listening port from a closed one', async () => {
    const server = net.createServer().listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as net.AddressInfo;
    expect(await isPortOpen('127.0.0.1', port)).toBe(true);
    await new Promise((r) => server.close(r));
    expect(await isPortOpen('127.0.0.1', port)).toBe(false);
  });
});

describe('parseServiceList', () => {
  it('adds PostgreSQL for Orthanc and keeps start order', () => {
    expect(parseServiceList('orthanc,temporal')).toEqual(['postgres', 'temporal', 'orthanc']);
    expect(parseServiceList(' kafka ')).toEqual(['kafka']);
  });

  it('names an unknown service', () => {
    expect(() => parseServiceList('temporal,zookeeper')).toThrow(
      /unknown service "zookeeper"; expected some of postgres, temporal, kafka, orthanc/,
    );
  });
});
