import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeRedactedSdkLog } from './worker';

describe('writeRedactedSdkLog', () => {
  afterEach(() => vi.restoreAllMocks());

  it('keeps the SDK sentence and identifying metadata, drops failure text and other metadata', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    writeRedactedSdkLog({
      level: 'WARN',
      message: 'Activity failed: patient Zhang Wei 110101199003077777 not found',
      timestampNanos: 0n,
      meta: {
        workflowId: 'ingest:riverside-general:ehr:r1',
        activityType: 'standardizeBatch',
        attempt: 2,
        error: 'Zhang Wei',
        failure: { message: 'x' },
      },
    });
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]);
    expect(entry.msg).toBe('temporal sdk: Activity failed');
    expect(entry.workflowId).toBe('ingest:riverside-general:ehr:r1');
    expect(entry.attempt).toBe(2);
    expect(lines[0]).not.toMatch(/Zhang|110101199003077777|failure|error/);
  });

  it('keeps the notice that an activity-only worker has no workflows out of the default (info) output', () => {
    const lines: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    writeRedactedSdkLog({
      level: 'WARN',
      message: 'No workflows registered, not polling for workflow tasks',
      timestampNanos: 0n,
      meta: { taskQueue: 'imaging' },
    });
    writeRedactedSdkLog({
      level: 'WARN',
      message: 'Activity failed: timeout',
      timestampNanos: 0n,
      meta: { taskQueue: 'imaging' },
    });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]).msg).toBe('temporal sdk: Activity failed');
  });
});
