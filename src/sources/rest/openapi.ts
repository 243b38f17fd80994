/**
 * The REST API's OpenAPI document, served at `/api/v1/openapi.json`. Pure.
 *
 * OpenAPI 3.1, whose Schema Object is JSON Schema 2020-12: the resource
 * schemas of src/model/schema.ts (the one schema every source validates
 * with, the one the CRDs are generated from) are placed in it as they are,
 * not translated, so a field added there appears here with nothing else to
 * write. What the API adds around them (views with status, lists, errors,
 * member administration, dry runs, aqueduct's payloads) is described here,
 * next to the routes. test/integration/rest-openapi.test.ts checks real
 * requests and answers of a running controller against this document, and
 * that it names every route the API serves.
 */
import { PATTERNS, backendSchema, backendSpecSchema, frontendSchema, frontendSpecSchema, type JsonSchema } from '../../model/schema.js';
import { API_VERSION } from '../../model/types.js';

export const OPENAPI_PATH = '/api/v1/openapi.json';

export interface OpenApiOptions {
  /** Reads need the token too (`--api-auth-reads`). */
  authReads: boolean;
  /** The namespace aqueduct keys live in. */
  aqueductNamespace: string;
}

type Schema = Record<string, unknown>;
const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const obj = (properties: Record<string, Schema | JsonSchema>, required: string[] = [], extra: Schema = {}): Schema => ({
  type: 'object',
  properties,
  ...(required.length ? { required } : {}),
  additionalProperties: false,
  ...extra,
});
const str: Schema = { type: 'string' };
const int: Schema = { type: 'integer' };
const bool: Schema = { type: 'boolean' };
const arr = (items: Schema): Schema => ({ type: 'array', items });
const nullable = (s: Schema): Schema => ({ anyOf: [s, { type: 'null' }] });

/** A PUT body in our shape: the resource as in a manifest; the URL gives apiVersion, kind and metadata.name/namespace when left out. */
function bodySchema(kind: 'Frontend' | 'Backend', resource: JsonSchema): Schema {
  const metadata = { ...(resource.properties!.metadata as Schema) };
  delete metadata.required;
  return {
    type: 'object',
    description: `A ${kind} as in a manifest. apiVersion, kind, metadata.name and metadata.namespace may be left out (the URL gives them) and must agree with the URL when given; status and server-side metadata are ignored, so a GET answer can be PUT back.`,
    properties: { ...resource.properties, metadata },
    required: ['spec'],
    additionalProperties: false,
  };
}

function viewSchema(kind: 'Frontend' | 'Backend'): Schema {
  return obj(
    {
      apiVersion: { type: 'string', enum: [API_VERSION] },
      kind: { type: 'string', enum: [kind] },
      metadata: frontendSchema.properties!.metadata as Schema,
      spec: ref(`${kind}Spec`),
      status: ref('ResourceStatusView'),
    },
    ['apiVersion', 'kind', 'metadata', 'status'],
    { description: `A ${kind} with its status. spec is absent when the declared object is invalid (status.issues says why).` },
  );
}

const issueView = obj({ origin: str, field: str, message: str, reason: str }, ['field', 'message', 'reason']);

const memberSchema = (backendSpecSchema.properties!.members as JsonSchema).items as Schema;
const memberProps = (memberSchema as { properties: Record<string, Schema> }).properties;

/** Secrets and ConfigMaps: the v1 manifest in, a redacted view out (src/sources/secret-manifest.ts). */
function secretSchemas(): Record<string, Schema> {
  const keyed = (value: Schema, description: string): Schema => ({
    type: 'object',
    propertyNames: { pattern: '^[-._a-zA-Z0-9]+$', maxLength: 253 },
    additionalProperties: value,
    description,
  });
  const metadata = { type: 'object', properties: { name: str, namespace: str }, description: 'May be left out; must agree with the URL when given.' };
  const out: Record<string, Schema> = {};
  for (const kind of ['Secret', 'ConfigMap'] as const) {
    const isSecret = kind === 'Secret';
    out[`${kind}Body`] = obj(
      {
        apiVersion: { type: 'string', enum: ['v1'] },
        kind: { type: 'string', enum: [kind] },
        metadata,
        ...(isSecret
          ? {
              type: { ...str, description: 'Default Opaque. kubernetes.io/tls needs tls.crt and tls.key.' },
              data: keyed({ ...str, contentEncoding: 'base64' }, 'Key to base64 value.'),
              stringData: keyed(str, 'Key to text value; wins over data on a key in both.'),
            }
          : { data: keyed(str, 'Key to text value (a CA bundle under ca.crt).') }),
        immutable: bool,
      },
      [],
      { description: `A ${kind} manifest (apiVersion v1), as kubectl takes it. Values together at most 1 MiB decoded.` },
    );
    out[`${kind}View`] = obj(
      {
        apiVersion: { type: 'string', enum: ['v1'] },
        kind: { type: 'string', enum: [kind] },
        metadata: obj({ name: str, namespace: str }, ['name', 'namespace']),
        ...(isSecret ? { type: str } : {}),
        data: keyed({ type: 'string', enum: ['<redacted>'] }, 'Every key; a value is never shown.'),
        origin: str,
      },
      ['apiVersion', 'kind', 'metadata', 'data', 'origin'],
      { description: `A ${kind} with its keys only: values are redacted.` },
    );
    out[`${kind}List`] = obj(
      { apiVersion: { type: 'string', enum: ['v1'] }, kind: { type: 'string', enum: [`${kind}List`] }, items: arr(ref(`${kind}View`)) },
      ['apiVersion', 'kind', 'items'],
    );
  }
  out.SecretDeleted = obj(
    { deleted: obj({ kind: { type: 'string', enum: ['Secret', 'ConfigMap'] }, namespace: str, name: str }, ['kind', 'namespace', 'name']) },
    ['deleted'],
  );
  out.SecretDryRun = obj(
    {
      dryRun: { type: 'boolean', enum: [true] },
      valid: { type: 'boolean', enum: [true] },
      resource: { ...str, description: '`Kind NS/NAME`' },
      action: { type: 'string', enum: ['apply', 'delete'] },
      object: { anyOf: [ref('SecretView'), ref('ConfigMapView')] },
    },
    ['dryRun', 'valid', 'resource', 'action'],
    { description: 'The manifest is valid; nothing was changed.' },
  );
  return out;
}

function schemas(): Record<string, Schema> {
  return {
    ...secretSchemas(),
    FrontendSpec: frontendSpecSchema,
    BackendSpec: backendSpecSchema,
    Frontend: frontendSchema,
    Backend: backendSchema,
    FrontendBody: bodySchema('Frontend', frontendSchema),
    BackendBody: bodySchema('Backend', backendSchema),
    Member: { ...memberSchema, required: ['name', 'address', 'port', 'weight', 'state'] },
    StatusCondition: obj(
      { type: { type: 'string', enum: ['Accepted'] }, status: { type: 'string', enum: ['True', 'False', 'Unknown'] }, reason: str, message: str },
      ['type', 'status', 'reason', 'message'],
    ),
    ResourceStatusView: obj(
      {
        source: { ...str, description: 'The source that declares it (rest, a directory, etcd://..., kubernetes).' },
        origin: { ...str, description: 'Where exactly (file and document, etcd key, object).' },
        conditions: arr(ref('StatusCondition')),
        serving: {
          type: 'string',
          enum: ['this version', 'previous version', 'nothing', 'unknown'],
          description: 'Which version HAProxy runs for this resource.',
        },
        issues: arr(issueView),
      },
      ['source', 'origin', 'conditions', 'serving'],
    ),
    FrontendView: viewSchema('Frontend'),
    BackendView: viewSchema('Backend'),
    FrontendList: obj({ kind: { type: 'string', enum: ['FrontendList'] }, items: arr(ref('FrontendView')) }, ['kind', 'items']),
    BackendList: obj({ kind: { type: 'string', enum: ['BackendList'] }, items: arr(ref('BackendView')) }, ['kind', 'items']),
    LiveMember: obj(
      { admin: str, operational: { anyOf: [int, str] }, weight: int, address: str, port: int },
      ['admin', 'operational', 'weight', 'address', 'port'],
      { description: 'The member as HAProxy runs it now (runtime API `show servers state`).' },
    ),
    MemberView: obj({ ...memberProps, live: nullable(ref('LiveMember')) }, ['name', 'address', 'port', 'weight', 'state', 'live']),
    MemberList: obj({ backend: { ...str, description: '`Backend/NS/NAME`' }, items: arr(ref('MemberView')) }, ['backend', 'items']),
    MemberPatch: obj({ state: memberProps.state!, weight: memberProps.weight! }, [], {
      minProperties: 1,
      description: 'Give state and/or weight; other fields are refused.',
    }),
    MemberPatchResult: obj(
      {
        backend: str,
        member: ref('Member'),
        live: obj({ applied: { ...bool, description: 'true (200) once HAProxy runs it; false (202) when the controller applies it later.' }, message: str }, [
          'applied',
          'message',
        ]),
      },
      ['backend', 'member', 'live'],
    ),
    Deleted: obj({ deleted: obj({ kind: { type: 'string', enum: ['Frontend', 'Backend'] }, namespace: str, name: str }, ['kind', 'namespace', 'name']) }, [
      'deleted',
    ]),
    RuntimeOperation: obj(
      {
        op: { type: 'string', enum: ['add', 'del', 'addr', 'weight', 'state', 'replace-map', 'add-map', 'set-map', 'del-map'] },
        backend: str,
        server: str,
        address: str,
        weight: int,
        state: str,
        map: str,
        entries: int,
        description: str,
      },
      ['op', 'backend', 'server', 'address', 'weight', 'state', 'description'],
    ),
    PlanReport: obj(
      {
        apiVersion: { type: 'string', enum: ['node-haproxy.io/plan/v1'] },
        result: { type: 'string', enum: ['noop', 'runtime', 'reload', 'invalid'] },
        plan: { type: 'string', enum: ['noop', 'runtime', 'reload'] },
        problems: arr(obj({ origin: str, resource: str, field: str, message: str, reason: str }, ['field', 'message', 'reason'])),
        operations: arr(ref('RuntimeOperation')),
        certificateOperations: arr(
          obj(
            {
              op: { type: 'string', enum: ['update-cert', 'new-cert', 'add-crtlist-line', 'del-crtlist-line', 'del-cert', 'update-ca-file'] },
              description: str,
            },
            ['op', 'description'],
          ),
        ),
        reasons: arr(str),
        changes: arr(
          obj(
            {
              kind: { type: 'string', enum: ['Frontend', 'Backend', 'Global'] },
              resource: str,
              change: { type: 'string', enum: ['added', 'removed', 'changed'] },
              fields: arr(str),
            },
            ['kind', 'resource', 'change', 'fields'],
          ),
        ),
        routing: arr(
          obj(
            {
              frontend: { ...str, description: '`NS/NAME`' },
              map: { ...arr(int), description: 'Rule indexes routed by map: a change to one applies at run time.' },
              acl: { ...arr(obj({ rule: int, why: str }, ['rule', 'why'])), description: 'Rules routed by ACL in haproxy.cfg: a change to one reloads.' },
            },
            ['frontend', 'map', 'acl'],
          ),
        ),
      },
      ['apiVersion', 'result', 'plan', 'problems', 'operations', 'reasons', 'changes'],
      { description: 'The shape `node-haproxy plan --output json` prints.' },
    ),
    DryRun: obj(
      {
        dryRun: { type: 'boolean', enum: [true] },
        valid: { ...bool, description: 'false when the plan has problems (plan.result is invalid).' },
        resource: { ...str, description: '`Kind NS/NAME`' },
        action: { type: 'string', enum: ['apply', 'delete'] },
        member: ref('Member'),
        plan: ref('PlanReport'),
      },
      ['dryRun', 'valid', 'resource', 'action', 'plan'],
      { description: 'What the write would do; nothing was changed.' },
    ),
    Status: obj(
      {
        haproxyStarted: bool,
        converged: { ...bool, description: 'HAProxy runs what the store holds.' },
        storeVersion: int,
        unsyncedSources: arr(str),
        reloads: nullable(int),
        lastPass: nullable(
          obj(
            {
              kind: { type: 'string', enum: ['start', 'noop', 'runtime', 'reload', 'deferred', 'failed', 'waiting'] },
              reasons: arr(str),
              summary: str,
              error: str,
              output: str,
              durationMs: { type: 'number' },
              coalesced: int,
            },
            ['kind', 'reasons', 'durationMs', 'coalesced'],
          ),
        ),
        rejected: arr(
          obj(
            {
              resource: str,
              reason: str,
              message: str,
              serving: { type: 'string', enum: ['previous version', 'nothing'] },
              issues: arr(obj({ origin: str, resource: str, field: str, message: str, reason: str }, ['field', 'message', 'reason'])),
            },
            ['resource', 'reason', 'message', 'serving', 'issues'],
          ),
        ),
        sourceIssues: arr(
          obj(
            {
              source: str,
              origin: str,
              resource: str,
              field: str,
              reason: str,
              message: str,
            },
            ['source', 'field', 'reason', 'message'],
          ),
        ),
      },
      ['haproxyStarted', 'converged', 'storeVersion', 'unsyncedSources', 'reloads', 'lastPass', 'rejected', 'sourceIssues'],
    ),
    Error: obj(
      {
        statusCode: { type: 'integer', minimum: 400, maximum: 599 },
        error: {
          type: 'string',
          description:
            'MalformedBody, BadRequest, Unauthorized, Forbidden, NotFound, MethodNotAllowed, Conflict, PayloadTooLarge, UnsupportedMediaType, InvalidSpec, StorageUnavailable, NotReady, NotImplemented',
        },
        message: { ...str, description: 'Names the resource and field, and says what to do.' },
        field: {
          ...str,
          description: 'The (first) field at fault, as a path into the body (`spec.binds[0].port`), or `path`, `body`, `authorization`, `content-type`, ...',
        },
        issues: arr(obj({ field: str, message: str, reason: str }, ['field', 'message'])),
      },
      ['statusCode', 'error', 'message'],
    ),
    ...aqueductSchemas(),
  };
}

/** thalassa-aqueduct's payloads, as translated in aqueduct.ts. */
function aqueductSchemas(): Record<string, Schema> {
  const rule = obj({ type: { type: 'string', enum: ['path', 'url', 'header'] }, operation: str, header: str, value: str, backend: str, id: str }, [
    'type',
    'value',
    'backend',
  ]);
  const health = obj(
    { method: str, uri: str, httpVersion: { type: 'string', enum: ['HTTP/1.0', 'HTTP/1.1'] }, interval: { type: 'integer', minimum: 1 } },
    [],
    { description: 'HTTP health check; interval in milliseconds.' },
  );
  const bookkeeping = { id: str, _type: str, key: str, status: {} };
  return {
    AqueductRule: rule,
    AqueductFrontendBody: obj(
      {
        ...bookkeeping,
        name: str,
        bind: { ...str, description: '`ADDR:PORT,...`: `*:80`, `:80`, `10.0.0.1:80`, `[::1]:80`' },
        backend: nullable(str),
        mode: { type: 'string', enum: ['http', 'tcp'] },
        keepalive: { type: 'string', enum: ['default', 'close', 'server-close'] },
        rules: arr(ref('AqueductRule')),
        natives: arr(str),
      },
      ['bind'],
    ),
    AqueductFrontend: obj(
      {
        id: str,
        _type: { type: 'string', enum: ['frontend'] },
        key: str,
        name: str,
        bind: str,
        backend: nullable(str),
        mode: str,
        keepalive: str,
        rules: arr({
          anyOf: [
            ref('AqueductRule'),
            obj({ type: { type: 'string', enum: ['node-haproxy'] }, rule: frontendRuleSchema(), backend: str }, ['type', 'rule', 'backend']),
          ],
        }),
        natives: arr(str),
        status: ref('ResourceStatusView'),
      },
      ['id', '_type', 'key', 'name', 'bind', 'backend', 'mode', 'keepalive', 'rules', 'natives'],
    ),
    AqueductMemberBody: obj(
      {
        host: str,
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        name: str,
        version: str,
        meta: {},
        id: str,
        lastKnown: {},
        server: str,
        state: memberProps.state!,
        weight: memberProps.weight!,
      },
      ['host', 'port'],
    ),
    AqueductMember: obj(
      {
        id: str,
        name: str,
        version: str,
        host: str,
        port: int,
        meta: {},
        server: { ...str, description: 'The HAProxy server name, `HOST_PORT`: the MEMBER of our member routes.' },
        state: str,
        weight: int,
      },
      ['id', 'host', 'port', 'server', 'state', 'weight'],
    ),
    AqueductBackendBody: obj({
      ...bookkeeping,
      type: { type: 'string', enum: ['static', 'dynamic'] },
      name: str,
      version: str,
      balance: { type: 'string', enum: ['roundrobin', 'leastconn', 'source', 'first', 'random'] },
      host: nullable(str),
      mode: { type: 'string', enum: ['http', 'tcp'] },
      members: nullable(arr(ref('AqueductMemberBody'))),
      natives: arr(str),
      health,
    }),
    AqueductBackend: obj(
      {
        id: str,
        _type: { type: 'string', enum: ['backend'] },
        key: str,
        type: str,
        name: str,
        version: str,
        balance: str,
        host: nullable(str),
        mode: str,
        health,
        members: arr(ref('AqueductMember')),
        natives: arr(str),
        status: ref('ResourceStatusView'),
      },
      ['id', '_type', 'key', 'type', 'balance', 'host', 'mode', 'members', 'natives'],
    ),
  };
}

function frontendRuleSchema(): Schema {
  return (frontendSpecSchema.properties!.rules as JsonSchema).items as Schema;
}

// ---- paths --------------------------------------------------------------------

const json = (schema: Schema) => ({ 'application/json': { schema } });
const text = { 'text/plain': { schema: str } };
const error = (description: string) => ({ description, content: json(ref('Error')) });
const ERRORS = {
  bad: error('MalformedBody (not JSON or YAML, empty, not an object) or BadRequest (a path that is not validly percent-encoded)'),
  unauthorized: error('Unauthorized: no `Authorization: Bearer` header (with `WWW-Authenticate`)'),
  forbidden: error('Forbidden: a wrong or revoked token, or the API is read-only (no --api-token-file)'),
  notFound: error('NotFound: no such resource, member or route'),
  conflict: error('Conflict: another source declares this resource, or a frontend still routes to the backend being deleted'),
  tooLarge: error('PayloadTooLarge: the body is larger than --api-max-body-bytes'),
  mediaType: error('UnsupportedMediaType'),
  invalid: error('InvalidSpec: `field` is the first problem, `issues` lists all'),
  unavailable: error('StorageUnavailable (etcd or the disk refused the write; nothing changed, retry) or NotReady'),
  other: error('Any other error (MethodNotAllowed with `Allow`, NotImplemented), in the same shape'),
};

const param = (name: string, where: 'path' | 'query', schema: Schema, description: string, required = where === 'path') => ({
  name,
  in: where,
  required,
  description,
  schema,
});
const flag = { type: 'string', enum: ['true', 'false', '1', '0', 'All'] };
const P = {
  ns: param('ns', 'path', { type: 'string', pattern: PATTERNS.namespace, maxLength: 63 }, 'Namespace'),
  name: param('name', 'path', { type: 'string', pattern: PATTERNS.name, maxLength: 253 }, 'Resource name'),
  member: param('member', 'path', { type: 'string', pattern: PATTERNS.memberName, maxLength: 63 }, 'Member name (for aqueduct backends, `HOST_PORT`)'),
  key: param('key', 'path', { type: 'string', pattern: PATTERNS.name, maxLength: 253 }, 'Aqueduct key (a DNS-1123 name)'),
  namespace: param('namespace', 'query', { type: 'string', pattern: PATTERNS.namespace }, 'Only this namespace'),
  wait: param('wait', 'query', flag, 'Answer once HAProxy runs the change (or a pass failed, or 15 s passed); the answer carries the status'),
  dryRun: param('dryRun', 'query', flag, 'Validate and plan against what runs; change nothing (Kubernetes `dryRun=All` works too)'),
  force: param('force', 'query', { type: 'string', enum: ['true', 'false'] }, 'Delete a backend that a frontend still routes to'),
};

interface Op {
  operationId: string;
  summary: string;
  tags: string[];
  parameters?: unknown[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
  security?: unknown[];
}

export function openApiDocument(o: OpenApiOptions): Record<string, unknown> {
  const bearer = [{ bearerAuth: [] }];
  const readSecurity = o.authReads ? bearer : [];
  const readErrors = o.authReads ? { '401': ERRORS.unauthorized, '403': ERRORS.forbidden } : {};
  const read = (operationId: string, summary: string, tag: string, ok: Record<string, unknown>, parameters: unknown[] = [], notFound = true): Op => ({
    operationId,
    summary,
    tags: [tag],
    ...(parameters.length ? { parameters } : {}),
    security: readSecurity,
    responses: { '200': ok, '400': ERRORS.bad, ...readErrors, ...(notFound ? { '404': ERRORS.notFound } : {}), default: ERRORS.other },
  });
  const write = (
    operationId: string,
    summary: string,
    tag: string,
    responses: Record<string, unknown>,
    parameters: unknown[],
    body?: { schema: Schema; yaml?: boolean },
  ): Op => ({
    operationId,
    summary,
    tags: [tag],
    parameters,
    ...(body
      ? { requestBody: { required: true, content: { ...json(body.schema), ...(body.yaml ? { 'application/yaml': { schema: body.schema } } : {}) } } }
      : {}),
    security: bearer,
    responses: {
      ...responses,
      '400': ERRORS.bad,
      '401': ERRORS.unauthorized,
      '403': ERRORS.forbidden,
      '404': ERRORS.notFound,
      '409': ERRORS.conflict,
      ...(body ? { '413': ERRORS.tooLarge, '415': ERRORS.mediaType, '422': ERRORS.invalid } : {}),
      '503': ERRORS.unavailable,
      default: ERRORS.other,
    },
  });
  const ok = (description: string, schema: Schema) => ({ description, content: json(schema) });
  const oneOf = (...s: Schema[]) => ({ oneOf: s });

  const paths: Record<string, Record<string, Op>> = {
    '/api/v1/openapi.json': { get: read('getOpenApi', 'This document', 'meta', ok('OpenAPI 3.1', { type: 'object' }), [], false) },
    '/api/v1/status': {
      get: read(
        'getStatus',
        'The last reconcile pass, convergence, reload count, rejected resources, problems of inputs (sourceIssues)',
        'meta',
        ok('Status', ref('Status')),
        [],
        false,
      ),
    },
    '/api/v1/config': { get: read('getConfig', 'The configuration HAProxy runs', 'meta', { description: 'haproxy.cfg', content: text }, [], false) },
  };
  for (const kind of ['Frontend', 'Backend'] as const) {
    const plural = `${kind.toLowerCase()}s`;
    const tag = plural;
    const list = ok(`${kind}s`, ref(`${kind}List`));
    const view = ref(`${kind}View`);
    paths[`/api/v1/${plural}`] = { get: read(`list${kind}s`, `${kind}s of all namespaces`, tag, list, [P.namespace], false) };
    paths[`/api/v1/namespaces/{ns}/${plural}`] = { get: read(`list${kind}sInNamespace`, `${kind}s of one namespace`, tag, list, [P.ns], false) };
    paths[`/api/v1/namespaces/{ns}/${plural}/{name}`] = {
      get: read(`get${kind}`, `One ${kind}`, tag, ok(kind, view), [P.ns, P.name]),
      put: write(
        `put${kind}`,
        `Create (201) or replace (200) a ${kind}`,
        tag,
        { '200': ok(`Replaced (or a dry run: ${'`DryRun`'})`, oneOf(view, ref('DryRun'))), '201': ok('Created', view) },
        [P.ns, P.name, P.wait, P.dryRun],
        { schema: ref(`${kind}Body`), yaml: true },
      ),
      delete: write(
        `delete${kind}`,
        `Delete a ${kind}`,
        tag,
        { '200': ok('Deleted (or a dry run)', oneOf(ref('Deleted'), ref('DryRun'))) },
        kind === 'Backend' ? [P.ns, P.name, P.wait, P.dryRun, P.force] : [P.ns, P.name, P.wait, P.dryRun],
      ),
    };
  }
  for (const kind of ['Secret', 'ConfigMap'] as const) {
    const plural = kind === 'Secret' ? 'secrets' : 'configmaps';
    const tag = 'secrets';
    const view = ref(`${kind}View`);
    paths[`/api/v1/namespaces/{ns}/${plural}`] = {
      get: read(`list${kind}s`, `${kind}s of one namespace declared through this API (keys only)`, tag, ok(`${kind}s`, ref(`${kind}List`)), [P.ns], false),
    };
    paths[`/api/v1/namespaces/{ns}/${plural}/{name}`] = {
      get: read(`get${kind}`, `One ${kind} declared through this API: its keys, values redacted`, tag, ok(kind, view), [P.ns, P.name]),
      put: write(
        `put${kind}`,
        `Create (201) or replace (200) a ${kind}; the answer is redacted`,
        tag,
        { '200': ok('Replaced (or a dry run)', oneOf(view, ref('SecretDryRun'))), '201': ok('Created', view) },
        [P.ns, P.name, P.wait, P.dryRun],
        { schema: ref(`${kind}Body`), yaml: true },
      ),
      delete: write(`delete${kind}`, `Delete a ${kind}`, tag, { '200': ok('Deleted (or a dry run)', oneOf(ref('SecretDeleted'), ref('SecretDryRun'))) }, [
        P.ns,
        P.name,
        P.wait,
        P.dryRun,
      ]),
    };
  }
  paths['/api/v1/namespaces/{ns}/backends/{name}/members'] = {
    get: read('listMembers', "A backend's members, with HAProxy's live view", 'members', ok('Members', ref('MemberList')), [P.ns, P.name]),
  };
  paths['/api/v1/namespaces/{ns}/backends/{name}/members/{member}'] = {
    get: read('getMember', 'One member, with its live view', 'members', ok('Member', ref('MemberView')), [P.ns, P.name, P.member]),
    patch: write(
      'patchMember',
      "Set a member's state and/or weight (applied at runtime, no reload)",
      'members',
      {
        '200': ok('HAProxy runs it (or a dry run)', oneOf(ref('MemberPatchResult'), ref('DryRun'))),
        '202': ok('Saved; HAProxy does not run it yet', ref('MemberPatchResult')),
      },
      [P.ns, P.name, P.member, P.dryRun],
      { schema: ref('MemberPatch') },
    ),
  };
  for (const kind of ['Frontend', 'Backend'] as const) {
    const plural = `${kind.toLowerCase()}s`;
    const tag = 'thalassa-aqueduct';
    const payload = ref(`Aqueduct${kind}`);
    paths[`/${plural}`] = { get: read(`aqueductList${kind}s`, `All ${plural} (aqueduct)`, tag, ok(`${kind}s`, arr(payload)), [], false) };
    paths[`/${plural}/{key}`] = {
      get: read(`aqueductGet${kind}`, `One ${kind.toLowerCase()} (aqueduct)`, tag, ok(kind, payload), [P.key]),
      put: write(
        `aqueductPut${kind}`,
        `Create or replace a ${kind.toLowerCase()} (aqueduct); with ?wait=true the answer adds our status`,
        tag,
        { '200': ok('Saved (or a dry run)', oneOf(payload, ref('DryRun'))) },
        [P.key, P.wait, P.dryRun],
        { schema: ref(`Aqueduct${kind}Body`) },
      ),
      delete: write(
        `aqueductDelete${kind}`,
        `Delete a ${kind.toLowerCase()} (aqueduct)`,
        tag,
        { '200': ok('Deleted (or a dry run)', oneOf(ref('Deleted'), ref('DryRun'))) },
        kind === 'Backend' ? [P.key, P.wait, P.dryRun, P.force] : [P.key, P.wait, P.dryRun],
      ),
    };
  }
  paths['/backends/{key}/members'] = {
    get: read('aqueductListMembers', "A backend's members (aqueduct)", 'thalassa-aqueduct', ok('Members', arr(ref('AqueductMember'))), [P.key]),
  };
  paths['/haproxy/config'] = {
    get: read('aqueductGetConfig', 'The configuration HAProxy runs (aqueduct)', 'thalassa-aqueduct', { description: 'haproxy.cfg', content: text }, [], false),
  };
  (paths['/haproxy/config']!.get!.responses as Record<string, unknown>)['503'] = ERRORS.unavailable;
  (paths['/api/v1/config']!.get!.responses as Record<string, unknown>)['503'] = ERRORS.unavailable;

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    info: {
      title: 'node-haproxy REST API',
      version: 'v1',
      description: `Frontends and Backends (${API_VERSION}) in our shape under /api/v1, and thalassa-aqueduct's routes at the root (keys in namespace ${o.aqueductNamespace}). See docs/rest-api.md.`,
    },
    tags: [
      { name: 'frontends' },
      { name: 'backends' },
      { name: 'members' },
      { name: 'secrets', description: 'Secrets and ConfigMaps (certificates, CA bundles): written here, read back redacted' },
      { name: 'meta' },
      { name: 'thalassa-aqueduct', description: "thalassa-aqueduct's routes and payloads" },
    ],
    paths,
    components: {
      schemas: schemas(),
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', description: 'The token in --api-token-file' } },
    },
  };
}
