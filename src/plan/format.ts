/** The plan report as readable text or as Markdown (a pull-request comment). Pure. */
import { formatIssue, type Issue } from '../model/types.js';
import { certificateSummary, type FrontendRouting, type PlanProblem, type PlanReport } from './explain.js';

const HEADLINE: Record<PlanReport['plan'], string> = {
  noop: 'nothing to do: HAProxy already runs this configuration',
  runtime: 'runtime changes only, no reload',
  reload: 'a reload (graceful, validated)',
};

/** A problem exactly as `validate` prints it. */
const problemLine = (p: PlanProblem): string => formatIssue(p as Issue);

function changeLine(c: PlanReport['changes'][number]): string {
  const what = c.kind === 'Global' ? 'global settings' : `${c.kind} ${c.resource}`;
  return c.change === 'changed' ? `${what} changed: ${c.fields.join(', ')}` : `${what} ${c.change}`;
}

export function formatPlanText(r: PlanReport): string {
  const out: string[] = [];
  if (r.problems.length > 0) {
    for (const p of r.problems) out.push(problemLine(p));
    out.push(`${r.problems.length} problem(s): invalid resources are left out; each keeps the version that runs now`, '');
  }
  out.push(`Plan: ${r.plan}: ${HEADLINE[r.plan]}`);
  const certs = r.certificateOperations ?? [];
  if (certs.length > 0) out.push(`  runtime: ${certificateSummary(certs.length)}`);
  for (const c of certs) out.push(`    ${c.description}`);
  for (const o of r.operations) out.push(`  runtime: ${o.description}`);
  for (const reason of r.reasons) out.push(`  reload: ${reason}`);
  if (r.changes.length > 0) {
    out.push('Changes:');
    for (const c of r.changes) out.push(`  ${changeLine(c)}`);
  }
  if ((r.routing ?? []).length > 0) {
    out.push('Routing (a change to a map rule applies at run time; to an ACL rule, it reloads):');
    for (const f of r.routing ?? []) out.push(...routingLines(f).map((l) => `  ${l}`));
  }
  for (const n of r.sources?.notes ?? []) out.push(`Note: ${n}`);
  return `${out.join('\n')}\n`;
}

/** `Frontend ns/name: rules 0, 2 by map (runtime)` and one line per ACL rule with why. */
function routingLines(f: FrontendRouting): string[] {
  return [
    ...(f.map.length > 0 ? [`Frontend ${f.frontend}: rule${f.map.length > 1 ? 's' : ''} ${f.map.join(', ')} by map (runtime)`] : []),
    ...f.acl.map((a) => `Frontend ${f.frontend}: rule ${a.rule} by ACL (reload on change): ${a.why}`),
  ];
}

/** Markdown cells may not hold `|` or line breaks. */
const cell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');

export function formatPlanMarkdown(r: PlanReport): string {
  const icon = { noop: '✅', runtime: '🔁', reload: '♻️', invalid: '❌' }[r.result];
  const out: string[] = [`### ${icon} node-haproxy plan: **${r.result}**`, '', `HAProxy: ${HEADLINE[r.plan]}.`, ''];
  if (r.problems.length > 0) {
    out.push(
      `#### Problems (${r.problems.length})`,
      '',
      'Invalid resources are left out; each keeps the version that runs now.',
      '',
      '| where | field | problem |',
      '|---|---|---|',
    );
    for (const p of r.problems) out.push(`| ${cell([p.origin, p.resource].filter(Boolean).join(': '))} | \`${cell(p.field)}\` | ${cell(p.message)} |`);
    out.push('');
  }
  if (r.operations.length > 0) {
    out.push(`#### Runtime operations (${r.operations.length})`, '');
    for (const o of r.operations) out.push(`- ${cell(o.description)}`);
    out.push('');
  }
  const certs = r.certificateOperations ?? [];
  if (certs.length > 0) {
    out.push(`#### Runtime: ${certificateSummary(certs.length)}`, '');
    for (const c of certs) out.push(`- ${cell(c.description)}`);
    out.push('');
  }
  if (r.reasons.length > 0) {
    out.push('#### Why it reloads', '');
    for (const reason of r.reasons) out.push(`- ${cell(reason)}`);
    out.push('');
  }
  if (r.changes.length > 0) {
    out.push('#### Changes', '', '| resource | change | fields |', '|---|---|---|');
    for (const c of r.changes) out.push(`| ${c.kind === 'Global' ? 'global' : `${c.kind} \`${c.resource}\``} | ${c.change} | ${cell(c.fields.join(', '))} |`);
    out.push('');
  }
  if ((r.routing ?? []).length > 0) {
    out.push('#### Routing', '', 'A change to a map rule applies at run time; to an ACL rule, it reloads.', '');
    for (const f of r.routing ?? []) for (const l of routingLines(f)) out.push(`- ${cell(l)}`);
    out.push('');
  }
  for (const n of r.sources?.notes ?? []) out.push(`> Note: ${cell(n)}`, '');
  return out.join('\n');
}
