import { getJson, type BlobStore } from './staging';

/**
 * What a run quarantined and rejected, and why, read back from its staging logs (`quarantine/<run>/<institution>/
 * <source>/...` and `rejects/...`, encrypted like everything staged). The steps write entries of several shapes (a
 * file the mapper could not read, a resource the de-identification engine or FHIR validation refused, a DICOM
 * instance); each is read here as a rule, a reason and a place. Reasons and places name rules, paths, files and
 * staging keys, never values (the steps' own rule), so the report can be printed and shared.
 */
export interface ProblemEntry {
  institution: string;
  source: string;
  rule: string;
  reason: string;
  where: string;
}

export interface RunProblems {
  quarantined: ProblemEntry[];
  rejected: ProblemEntry[];
}

type Logged = Record<string, unknown>;

const str = (v: unknown): string | undefined => (typeof v === 'string' && v ? v : undefined);

function quarantineEntryOf(e: Logged): Omit<ProblemEntry, 'institution' | 'source'> {
  // A FHIR validation failure: the first issue says why.
  const issues = Array.isArray(e.issues) ? (e.issues as Logged[]) : [];
  const firstIssue = issues[0];
  const rule = str(e.rule) ?? (str(e.code) ? `unreadable-file.${str(e.code)}` : 'unknown');
  const reason =
    str(e.reason) ??
    str(firstIssue?.diagnostics) ??
    (firstIssue
      ? `${str(firstIssue.code) ?? 'issue'} at ${String((firstIssue.expression as unknown[])?.[0])}`
      : '');
  const where =
    str(e.file) ??
    [
      str(e.resourceType),
      str(e.path) ?? str((firstIssue?.expression as unknown[] | undefined)?.[0] as string),
    ]
      // A resource refused whole names itself as its path (Patient Patient)
      .filter((part, i, parts) => part && (i === 0 || part !== parts[0]))
      .join(' ');
  return { rule, reason, where };
}

function rejectEntryOf(e: Logged): Omit<ProblemEntry, 'institution' | 'source'> {
  const expression = Array.isArray(e.expression) ? String(e.expression[0]) : undefined;
  const location = Array.isArray(e.location) ? String(e.location[0]) : undefined;
  return {
    rule: str(e.code) ?? 'unknown',
    reason: str(e.diagnostics) ?? '',
    where: expression ?? location ?? '',
  };
}

export async function readRunProblems(store: BlobStore, runId: string): Promise<RunProblems> {
  const read = async (
    kind: 'quarantine' | 'rejects',
    toEntry: (e: Logged) => Omit<ProblemEntry, 'institution' | 'source'>,
  ): Promise<ProblemEntry[]> => {
    const out: ProblemEntry[] = [];
    for (const key of await store.list(`${kind}/${runId}/`)) {
      const [, , institution, source] = key.split('/');
      const logged = await getJson<unknown>(store, key);
      for (const e of Array.isArray(logged) ? logged : [logged])
        if (e && typeof e === 'object') out.push({ institution, source, ...toEntry(e as Logged) });
    }
    return out;
  };
  return {
    quarantined: await read('quarantine', quarantineEntryOf),
    rejected: await read('rejects', rejectEntryOf),
  };
}

/** One line per institution, source and rule, with how many and the first reasons (at most `examples`). */
export function formatRunProblems(problems: RunProblems, examples = 2): string {
  const lines: string[] = [];
  for (const [title, entries] of [
    ['quarantined', problems.quarantined],
    ['rejected', problems.rejected],
  ] as const) {
    const groups = new Map<string, ProblemEntry[]>();
    for (const e of entries) {
      const k = `${e.institution}/${e.source}  ${e.rule}`;
      groups.set(k, [...(groups.get(k) ?? []), e]);
    }
    lines.push(`${title}: ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'}`);
    for (const [k, list] of [...groups].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`  ${list.length.toString().padStart(5)}  ${k}`);
      for (const e of list.slice(0, examples))
        lines.push(`         ${e.where && !e.reason.includes(e.where) ? `${e.where}: ` : ''}${e.reason}`);
    }
  }
  return lines.join('\n') + '\n';
}
