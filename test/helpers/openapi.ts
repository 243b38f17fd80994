/**
 * Checks real requests and answers against an OpenAPI 3.1 document: the
 * operation (path template and method), path and query parameters, the
 * request body, the answer's status, content type and body. Schemas are
 * JSON Schema 2020-12 (OpenAPI 3.1's dialect), compiled by Ajv's 2020 build
 * in strict mode, so a document with a keyword Ajv does not know fails too.
 */
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

type Obj = Record<string, any>;

export interface Found {
  template: string;
  method: string;
  op: Obj;
  params: Record<string, string>;
}

const DEFS_ID = 'nh-openapi';

export class OpenApiChecker {
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<string, ValidateFunction>();
  /** `operationId status` of every answer checked, for coverage. */
  readonly seen = new Set<string>();

  constructor(readonly doc: Obj) {
    this.ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
    // The Kubernetes structural-schema extensions schema.ts carries for the CRDs (allowed in OpenAPI 3.1 as x- keywords).
    this.ajv.addKeyword('x-kubernetes-int-or-string');
    this.ajv.addKeyword('x-kubernetes-preserve-unknown-fields');
    this.ajv.addSchema({ $id: DEFS_ID, $defs: this.rewrite(doc.components?.schemas ?? {}) });
  }

  /** `#/components/schemas/X` → the Ajv schema that holds them. */
  private rewrite(schema: unknown): any {
    return JSON.parse(JSON.stringify(schema).replaceAll('"#/components/schemas/', `"${DEFS_ID}#/$defs/`));
  }

  private validator(schema: unknown): ValidateFunction {
    const key = JSON.stringify(schema);
    let v = this.compiled.get(key);
    if (!v) {
      v = this.ajv.compile(this.rewrite(schema));
      this.compiled.set(key, v);
    }
    return v;
  }

  private errors(schema: unknown, value: unknown, where: string): string[] {
    const v = this.validator(schema);
    if (v(value)) return [];
    return (v.errors ?? []).map((e) => `${where}${e.instancePath} ${e.message}${e.params ? ' ' + JSON.stringify(e.params) : ''}`);
  }

  /** Compiles every schema of components and of every operation (throws on a schema Ajv refuses in strict mode); returns how many. */
  compileAll(): number {
    let n = 0;
    for (const name of Object.keys(this.doc.components?.schemas ?? {})) (this.validator({ $ref: `#/components/schemas/${name}` }), n++);
    for (const item of Object.values(this.doc.paths as Obj)) {
      for (const op of Object.values(item as Obj) as Obj[]) {
        for (const p of op.parameters ?? []) (this.validator(p.schema), n++);
        for (const media of Object.values(op.requestBody?.content ?? {}) as Obj[]) (this.validator(media.schema), n++);
        for (const r of Object.values(op.responses) as Obj[]) for (const media of Object.values(r.content ?? {}) as Obj[]) (this.validator(media.schema), n++);
      }
    }
    return n;
  }

  /** The operation a request goes to; literal segments win over templates. */
  find(method: string, pathname: string): Found | undefined {
    const segments = pathname.split('/').filter(Boolean).map(decodeURIComponent);
    let best: (Found & { literal: number }) | undefined;
    for (const [template, item] of Object.entries(this.doc.paths as Obj)) {
      const parts = template.split('/').filter(Boolean);
      if (parts.length !== segments.length) continue;
      const params: Record<string, string> = {};
      let literal = 0;
      const ok = parts.every((p, i) => {
        const m = /^\{(.+)\}$/.exec(p);
        if (m) return ((params[m[1]!] = segments[i]!), true);
        literal++;
        return p === segments[i];
      });
      const op = (item as Obj)[method.toLowerCase()];
      if (ok && op && (!best || literal > best.literal)) best = { template, method: method.toLowerCase(), op, params, literal };
    }
    return best;
  }

  /** Problems with a request (empty when it is what the document describes). */
  checkRequest(method: string, path: string, body?: unknown, contentType = 'application/json'): string[] {
    const url = new URL(path, 'http://x');
    const found = this.find(method, url.pathname);
    if (!found) return [`no operation for ${method} ${url.pathname}`];
    const problems: string[] = [];
    const params = (found.op.parameters ?? []) as Obj[];
    for (const p of params.filter((x) => x.in === 'path')) problems.push(...this.errors(p.schema, found.params[p.name], `path parameter ${p.name}`));
    for (const [name, value] of url.searchParams) {
      const p = params.find((x) => x.in === 'query' && x.name === name);
      if (!p) problems.push(`query parameter ${name} is not described`);
      else problems.push(...this.errors(p.schema, value, `query parameter ${name}`));
    }
    const rb = found.op.requestBody as Obj | undefined;
    if (body !== undefined) {
      const media = rb?.content?.[contentType];
      if (!media) problems.push(`${method} ${found.template} takes no ${contentType} body`);
      else if (contentType === 'application/json') problems.push(...this.errors(media.schema, body, 'body'));
    } else if (rb?.required) problems.push(`${method} ${found.template} needs a body`);
    return problems;
  }

  /** Problems with an answer to `method path` (empty when the document describes it). Records it for coverage. */
  checkResponse(method: string, path: string, status: number, contentType: string | undefined, text: string): string[] {
    const url = new URL(path, 'http://x');
    const found = this.find(method, url.pathname);
    if (!found) return [`no operation for ${method} ${url.pathname}`];
    const responses = found.op.responses as Obj;
    const r = responses[String(status)] ?? responses.default;
    if (!r) return [`${method} ${found.template}: status ${status} is not described`];
    this.seen.add(`${found.op.operationId} ${status}`);
    const type = (contentType ?? '').split(';')[0]!.trim();
    const media = r.content?.[type];
    if (!media)
      return [
        `${method} ${found.template} ${status}: content type ${JSON.stringify(type)} is not described (${Object.keys(r.content ?? {}).join(', ') || 'none'})`,
      ];
    let value: unknown = text;
    if (type === 'application/json') {
      try {
        value = JSON.parse(text);
      } catch {
        return [`${method} ${found.template} ${status}: the body is not JSON`];
      }
    }
    return this.errors(media.schema, value, `${method} ${found.template} ${status} body`);
  }
}
