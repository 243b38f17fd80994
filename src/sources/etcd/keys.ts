/**
 * The etcd layout: `etcd://HOST:PORT[,HOST:PORT...]/PREFIX`, resources at
 * `/PREFIX/frontends/NAMESPACE/NAME` and `/PREFIX/backends/NAMESPACE/NAME`,
 * each value one resource as JSON or YAML; Secrets and ConfigMaps (the
 * v1 manifest, model/secrets.ts) at `/PREFIX/secrets/NAMESPACE/NAME` and
 * `/PREFIX/configmaps/NAMESPACE/NAME`. Pure.
 */
import { declare } from '../../model/declare.js';
import { parseFor } from '../../model/document.js';
import type { Declared } from '../../model/resolve.js';
import { resourceKey, type Issue, type Kind, type Resource } from '../../model/types.js';
import type { ValidateOptions } from '../../model/validate.js';
import type { SecretData, SecretIdentity } from '../../model/secrets.js';
import { keyOfSecret, SECRET_PLURALS, secretFromManifest, secretPlural, storedManifest } from '../secret-manifest.js';

export interface EtcdSpec {
  /** `host:port` of each endpoint. */
  endpoints: string[];
  /** Key prefix with a leading slash and no trailing one (`/node-haproxy`), or '' for the root. */
  prefix: string;
}

const ENDPOINT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$/;

/** Parses `etcd://127.0.0.1:2379,127.0.0.1:22379/node-haproxy`. */
export function parseEtcdSpec(spec: string): EtcdSpec {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(spec);
  if (!m) throw new Error(`${JSON.stringify(spec)} is not an etcd source; use etcd://HOST:PORT/PREFIX, like etcd://127.0.0.1:2379/node-haproxy`);
  const endpoints = m[1]!.split(',');
  for (const e of endpoints) {
    const em = ENDPOINT.exec(e);
    if (!em || Number(em[2]) < 1 || Number(em[2]) > 65535) {
      throw new Error(`${JSON.stringify(e)} in ${spec} is not HOST:PORT; use etcd://HOST:PORT/PREFIX, like etcd://127.0.0.1:2379/node-haproxy`);
    }
  }
  const prefix = (m[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '' && !/^(\/[A-Za-z0-9._-]+)+$/.test(prefix)) {
    throw new Error(`the prefix ${JSON.stringify(prefix)} in ${spec} may use only letters, digits, ".", "_", "-" and "/" between segments`);
  }
  return { endpoints, prefix };
}

const PLURALS: Record<string, Kind> = { frontends: 'Frontend', backends: 'Backend' };

export function etcdKeyOf(prefix: string, kind: Kind, namespace: string, name: string): string {
  return `${prefix}/${kind === 'Frontend' ? 'frontends' : 'backends'}/${namespace}/${name}`;
}

export function etcdKeyOfResource(prefix: string, r: Resource): string {
  return etcdKeyOf(prefix, r.kind, r.metadata.namespace, r.metadata.name);
}

/** `/PREFIX/frontends/NS/NAME` → its identity, or why the key is not one of ours. */
export function parseEtcdKey(prefix: string, key: string): { kind: Kind; namespace: string; name: string } | { problem: string } {
  const layout = `${prefix}/frontends/NAMESPACE/NAME or ${prefix}/backends/NAMESPACE/NAME`;
  if (!key.startsWith(`${prefix}/`)) return { problem: `is outside ${prefix}/; expected ${layout}` };
  const parts = key.slice(prefix.length + 1).split('/');
  const kind = PLURALS[parts[0] ?? ''];
  if (parts.length !== 3 || !kind || !parts[1] || !parts[2])
    return { problem: `is not a resource key; expected ${layout} (or ${prefix}/secrets/NAMESPACE/NAME, ${prefix}/configmaps/NAMESPACE/NAME); ignored` };
  return { kind, namespace: parts[1], name: parts[2] };
}

/** Parses a value as JSON, or else as YAML (one document), within the document limits (src/model/document.ts). */
export function parseValue(text: string): { value?: unknown; problem?: string } {
  if (text.trim() === '') return { problem: 'the value is empty; store one Frontend or Backend as JSON or YAML, or delete the key' };
  const parsed = parseFor(text, 'value', { format: 'json-or-yaml', one: true });
  return parsed.problem !== undefined ? { problem: parsed.problem } : { value: parsed.documents[0] };
}

export interface KvResult {
  /** The resource this key declares (valid or not); undefined when the key is not a resource key. */
  declared?: Declared;
  /** A problem with the key itself (reported as a source issue). */
  keyIssue?: Issue;
}

/**
 * One key and value → what the source declares (the declare step,
 * model/declare.ts). The key gives the identity, so even a value that does
 * not parse is reported against its resource, and the resource's last
 * accepted version keeps serving.
 */
export function declareKv(prefix: string, key: string, text: string, source: string, rawConfig: boolean | ValidateOptions): KvResult {
  const origin = `etcd:${key}`;
  const id = parseEtcdKey(prefix, key);
  if ('problem' in id) return { keyIssue: { origin, field: '', reason: 'InvalidSpec', message: `key ${id.problem}` } };
  const parsed = parseValue(text);
  if (parsed.problem !== undefined) {
    const issue: Issue = { origin, resource: `${id.kind} ${id.namespace}/${id.name}`, field: '', message: parsed.problem, reason: 'ParseError' };
    return { declared: { key: resourceKey(id.kind, id.namespace, id.name), origin, source, issues: [issue] } };
  }
  const options = typeof rawConfig === 'boolean' ? { allowRawConfig: rawConfig } : rawConfig;
  return { declared: declare(parsed.value, { origin, source, expected: { ...id, by: 'its key' } }, options).declared };
}

export function etcdKeyOfSecret(prefix: string, id: SecretIdentity): string {
  return `${prefix}/${secretPlural(id.kind)}/${id.namespace}/${id.name}`;
}

/** `/PREFIX/secrets/NS/NAME` → its identity; undefined for any other key. */
export function parseEtcdSecretKey(prefix: string, key: string): SecretIdentity | undefined {
  if (!key.startsWith(`${prefix}/`)) return undefined;
  const parts = key.slice(prefix.length + 1).split('/');
  const kind = SECRET_PLURALS[parts[0] ?? ''];
  if (parts.length !== 3 || !kind || !parts[1] || !parts[2]) return undefined;
  return { kind, namespace: parts[1], name: parts[2] };
}

export interface SecretKvResult {
  /** The store key (`Secret/ns/name`). */
  key: string;
  value?: SecretData;
  /** Why the value was refused (it names the etcd key and the field, never a value). */
  issue?: Issue;
}

/** A Secret or ConfigMap key and value → its data, or why not. */
export function secretKv(id: SecretIdentity, key: string, text: string): SecretKvResult {
  const origin = `etcd:${key}`;
  const skey = keyOfSecret(id);
  const resource = `${id.kind} ${id.namespace}/${id.name}`;
  const fail = (field: string, message: string, reason: Issue['reason'] = 'InvalidSpec'): SecretKvResult => ({
    key: skey,
    issue: { origin, resource, field, message, reason },
  });
  if (text.trim() === '') return fail('', `the value is empty; store one ${id.kind} manifest as JSON or YAML, or delete the key`, 'ParseError');
  // The parser's message may quote the text (a private key): say where only.
  const parsed = parseFor(text, 'value', { format: 'json-or-yaml', one: true, redact: true });
  if (parsed.problem !== undefined) return fail('', parsed.problem, 'ParseError');
  const r = secretFromManifest(parsed.documents[0], id, origin);
  if (!r.value) return fail(r.problems[0]!.field, r.problems.map((p) => `${p.field || 'value'}: ${p.message}`).join('; '));
  return { key: skey, value: r.value };
}

/** The value the REST API writes for a Secret or ConfigMap: the v1 manifest as JSON, Secret values base64. */
export function secretValueOf(s: SecretData): string {
  return JSON.stringify(storedManifest(s));
}

/** The value the REST API writes: the resource as JSON, without status. */
export function valueOf(r: Resource): string {
  const { status: _status, ...rest } = r;
  return JSON.stringify(rest);
}
