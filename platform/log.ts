/**
 * Structured logs to stderr, one JSON object a line. Fields are identifiers we generated (keys, digests, run ids),
 * counts and codes. Never a patient value: callers pass references, and `message` is a constant string.
 */
type Level = 'debug' | 'info' | 'warn' | 'error';
const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

function threshold(): number {
  const level = (process.env.TRIBUTARY_LOG_LEVEL ?? 'info') as Level;
  return order[level] ?? order.info;
}

export type LogFields = Record<string, string | number | boolean | undefined | null>;

function write(level: Level, message: string, fields?: LogFields): void {
  if (order[level] < threshold()) return;
  const line = JSON.stringify({ t: new Date().toISOString(), level, msg: message, ...fields });
  process.stderr.write(line + '\n');
}

export const log = {
  debug: (message: string, fields?: LogFields) => write('debug', message, fields),
  info: (message: string, fields?: LogFields) => write('info', message, fields),
  warn: (message: string, fields?: LogFields) => write('warn', message, fields),
  error: (message: string, fields?: LogFields) => write('error', message, fields),
};
