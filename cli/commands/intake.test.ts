import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { formatBatchLine, formatTotals, registerIntake } from './intake';

const report = {
  topic: 'feeds.hl7v2',
  partition: 2,
  firstOffset: '40',
  lastOffset: '46',
  consumed: 7,
  staged: 6,
  dlq: 1,
  pages: 2,
  redelivered: 0,
  workflowIds: ['feed:feeds.hl7v2:2:40-46'],
  started: 1,
  alreadyStarted: 0,
};

describe('tributary intake', () => {
  it('prints one line of offsets and counts per batch, and says when a batch was redelivered', () => {
    expect(formatBatchLine(report)).toBe(
      'feeds.hl7v2 p2 40-46: 7 consumed, 6 staged in 2 pages, 1 to DLQ; workflow started',
    );
    expect(
      formatBatchLine({
        ...report,
        staged: 0,
        dlq: 0,
        pages: 0,
        redelivered: 7,
        started: 0,
        alreadyStarted: 1,
      }),
    ).toBe('feeds.hl7v2 p2 40-46: 7 consumed, redelivered, workflow already started (1)');
    expect(
      formatTotals({
        batches: 3,
        consumed: 20,
        staged: 18,
        dlq: 2,
        redelivered: 0,
        started: 3,
        alreadyStarted: 0,
      }),
    ).toBe(
      '3 batches, 20 messages consumed: 18 staged, 2 to DLQ, 0 redelivered; 3 workflows started, 0 already started',
    );
  });

  it('registers `intake run` with its options and help', () => {
    const program = new Command('tributary');
    registerIntake(program);
    const run = program.commands
      .find((c) => c.name() === 'intake')!
      .commands.find((c) => c.name() === 'run')!;
    expect(run.options.map((o) => o.long)).toEqual(
      expect.arrayContaining(['--topics', '--group', '--max-batch', '--no-route']),
    );
    let help = '';
    run.configureOutput({ writeOut: (s) => (help += s) });
    run.outputHelp();
    expect(help).toContain('x-tributary-reason');
  });
});
