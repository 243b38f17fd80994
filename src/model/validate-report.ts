/**
 * What `node-haproxy validate` prints, from every issue the checks found.
 * Pure.
 *
 * - Problems (exit 1): every issue of every resource, once each, in a stable
 *   order: by file and document (`a.yaml#2` before `a.yaml#10`), then by
 *   field (`spec.rules[2]` before `spec.rules[10]`), then by message.
 * - Warnings (exit code unchanged): a Secret or ConfigMap the directory does
 *   not declare (it may live in the cluster the manifests are applied to; the
 *   tool cannot know), and certificates that expire within
 *   EXPIRY_WARNING_DAYS (`run` serves them, with the same warning).
 */
import { REFUSED_BACKEND } from './resolve.js';
import { formatIssue, type Issue } from './types.js';

export interface ValidateReport {
  /** One line per problem: `FILE#DOC: KIND NS/NAME: FIELD: PROBLEM`. */
  problems: string[];
  /** One line per warning, in the same form. */
  warnings: string[];
}

/** A reference to a Secret or ConfigMap that no manifest declares (model/tls.ts, basic-auth.ts, resolve.ts word it so). */
export function isUndeclaredSecret(i: Pick<Issue, 'reason' | 'message'>): boolean {
  return i.reason === 'SecretNotFound' && /^(Secret|ConfigMap) [^ ]+ does not exist;/.test(i.message);
}

/** Compares text with its runs of digits as numbers: `#2` before `#10`, `[2]` before `[10]`. */
export function naturalCompare(a: string, b: string): number {
  const pa = a.match(/\d+|\D+/g) ?? [];
  const pb = b.match(/\d+|\D+/g) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d/.test(x) && /^\d/.test(y);
    if (nx && Number(x) !== Number(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

const byPlace = (a: Issue, b: Issue): number =>
  naturalCompare(a.origin ?? '', b.origin ?? '') ||
  naturalCompare(a.resource ?? '', b.resource ?? '') ||
  naturalCompare(a.field, b.field) ||
  (a.message < b.message ? -1 : a.message > b.message ? 1 : 0);

function lines(issues: readonly Issue[]): string[] {
  const out = new Set<string>();
  for (const i of [...issues].sort(byPlace)) out.add(formatIssue(i));
  return [...out];
}

/**
 * Splits `issues` into problems and warnings (see the module comment);
 * `expiring` are the certificate warnings resolve found (Resolution.warnings),
 * `dir` the directory as the user named it.
 */
export function validateReport(issues: readonly Issue[], expiring: readonly Issue[], dir: string): ValidateReport {
  const problems: Issue[] = [];
  const warnings: Issue[] = [...expiring];
  // Backends refused only for Secrets DIR does not declare: a reference to one is a warning too.
  const refusals = new Map<string, boolean>();
  for (const i of issues) if (i.resource?.startsWith('Backend ')) refusals.set(i.resource, (refusals.get(i.resource) ?? true) && isUndeclaredSecret(i));
  const onlyUndeclared = (i: Issue): boolean =>
    i.reason === 'BackendNotFound' && [...refusals].some(([backend, only]) => only && i.message.startsWith(REFUSED_BACKEND(backend.slice('Backend '.length))));
  for (const i of issues) {
    if (onlyUndeclared(i)) warnings.push({ ...i, message: `${i.message} (a Secret or ConfigMap it names is not declared in ${dir})` });
    else if (!isUndeclaredSecret(i)) problems.push(i);
    else
      warnings.push({
        ...i,
        message: i.message.replace(
          / does not exist; /,
          ` is not declared in ${dir} (fine if it lives in the cluster these manifests are applied to; ` +
            `"run --source ${dir}" refuses this ${i.resource?.split(' ')[0] ?? 'resource'} until it exists): `,
        ),
      });
  }
  return { problems: lines(problems), warnings: lines(warnings) };
}
