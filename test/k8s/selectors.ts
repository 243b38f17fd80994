/**
 * Label and field selectors as the apiserver parses them
 * (k8s.io/apimachinery/pkg/labels and pkg/fields): equality (`a=b`, `a==b`,
 * `a!=b`), existence (`a`, `!a`) and set-based (`a in (x,y)`, `a notin (x)`).
 */
import { isJsonObject } from './json.js';
import type { KubeObject } from './objects.js';
import type { ResourceType } from './resources.js';
import { badRequest } from './status.js';

type Operator = 'exists' | 'notExists' | 'equals' | 'notEquals' | 'in' | 'notIn';

interface Requirement {
  readonly key: string;
  readonly op: Operator;
  readonly values: readonly string[];
}

export type Selector = (obj: KubeObject) => boolean;

export const matchEverything: Selector = () => true;

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const VALUE = String.raw`[A-Za-z0-9._-]*`;
const NOT_EXISTS = new RegExp(String.raw`^!\s*(${KEY})$`);
const EXISTS = new RegExp(String.raw`^(${KEY})$`);
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^()]*)\)$`);
const VALUE_ONLY = new RegExp(String.raw`^${VALUE}$`);

/** Splits on commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const ch = selector[i];
    if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === ',' && depth === 0) {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms.map((t) => t.trim());
}

function equalityOperator(op: string): Operator {
  return op === '!=' ? 'notEquals' : 'equals';
}

function parseRequirement(term: string): Requirement {
  let m = NOT_EXISTS.exec(term);
  if (m) return { key: m[1], op: 'notExists', values: [] };
  m = EQUALITY.exec(term);
  if (m) return { key: m[1], op: equalityOperator(m[2]), values: [m[3]] };
  m = SET.exec(term);
  if (m) {
    const values = m[3].split(',').map((v) => v.trim());
    if (values.some((v) => !VALUE_ONLY.test(v))) throw badRequest(`unable to parse requirement: invalid value in set: ${term}`);
    return { key: m[1], op: m[2] === 'in' ? 'in' : 'notIn', values };
  }
  m = EXISTS.exec(term);
  if (m) return { key: m[1], op: 'exists', values: [] };
  throw badRequest(`unable to parse requirement: found '${term}', expected: key, '!key', 'key=value', 'key!=value', 'key in (...)' or 'key notin (...)'`);
}

function satisfies(req: Requirement, value: string | undefined): boolean {
  switch (req.op) {
    case 'exists':
      return value !== undefined;
    case 'notExists':
      return value === undefined;
    case 'equals':
    case 'in':
      return value !== undefined && req.values.includes(value);
    case 'notEquals':
    case 'notIn':
      return value === undefined || !req.values.includes(value);
  }
}

function parseRequirements(selector: string | null | undefined, parse: (term: string) => Requirement): Requirement[] {
  if (!selector || selector.trim() === '') return [];
  return splitTerms(selector).map(parse);
}

function allOf(requirements: Requirement[], valueOf: (obj: KubeObject, key: string) => string | undefined): Selector {
  if (requirements.length === 0) return matchEverything;
  return (obj) => requirements.every((req) => satisfies(req, valueOf(obj, req.key)));
}

export function parseLabelSelector(selector: string | null | undefined): Selector {
  const requirements = parseRequirements(selector, parseRequirement);
  return allOf(requirements, (obj, key) => obj.metadata.labels?.[key]);
}

function valueAtPath(obj: unknown, path: string): string {
  let current: unknown = obj;
  for (const part of path.split('.')) {
    current = isJsonObject(current) ? current[part] : undefined;
  }
  return current === undefined || current === null ? '' : String(current);
}

function fieldPaths(rt: ResourceType): Record<string, string> {
  const paths: Record<string, string> = { 'metadata.name': 'metadata.name', ...rt.fieldLabels };
  if (rt.namespaced) paths['metadata.namespace'] = 'metadata.namespace';
  return paths;
}

/** Field selectors support only `=`, `==` and `!=` on the labels the resource declares. */
export function parseFieldSelector(selector: string | null | undefined, rt: ResourceType): Selector {
  const paths = fieldPaths(rt);
  const requirements = parseRequirements(selector, (term) => {
    const m = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${term}'; can't understand '${term}'`);
    if (!(m[1] in paths)) throw badRequest(`field label not supported: ${m[1]}`);
    return { key: m[1], op: equalityOperator(m[2]), values: [m[3]] };
  });
  return allOf(requirements, (obj, key) => valueAtPath(obj, paths[key]));
}

export function both(a: Selector, b: Selector): Selector {
  if (a === matchEverything) return b;
  if (b === matchEverything) return a;
  return (obj) => a(obj) && b(obj);
}
