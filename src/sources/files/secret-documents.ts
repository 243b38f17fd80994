/**
 * `kind: Secret` and `kind: ConfigMap` documents (apiVersion v1) in the
 * files source: they become discovered data (model/secrets.ts) for the TLS
 * references of Frontends. Parsing is pure; reading the PEM files a Secret
 * points at (`stringDataFiles`) is the only I/O, in `readSecretFiles`.
 *
 * - The manifest is read as the REST API and etcd read it
 *   (sources/secret-manifest.ts): Secret `data` base64, `stringData` text
 *   (wins on a key present in both), ConfigMap `data` text and `binaryData`
 *   base64, at most 1 MiB.
 * - Files source only: `stringDataFiles: {tls.crt: /etc/letsencrypt/live/x/fullchain.pem, ...}`
 *   takes a key's value from a file on disk (relative paths: from the
 *   manifest's directory), re-read whenever it changes (certbot renewals).
 *   docs/decisions/0009-tls-certificates.md.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { PATTERNS } from '../../model/schema.js';
import { secretKey, type SecretData, type SecretObjectKind } from '../../model/secrets.js';
import { secretFromManifest } from '../secret-manifest.js';
import { DEFAULT_NAMESPACE, type Issue } from '../../model/types.js';

/** A Secret or ConfigMap document as the files source holds it (before `stringDataFiles` are read). */
export interface SecretDocument {
  key: string;
  origin: string;
  /** Undefined when the document is invalid (`issues` say why): its last good data keeps serving. */
  value?: SecretData;
  /** Keys to take from files: key → absolute path. */
  files?: Record<string, string>;
  issues: Issue[];
}

/** True for a document this module reads: apiVersion v1, kind Secret or ConfigMap. */
export function isSecretDocument(doc: unknown): boolean {
  const d = doc as { apiVersion?: unknown; kind?: unknown } | null;
  return !!d && d.apiVersion === 'v1' && (d.kind === 'Secret' || d.kind === 'ConfigMap');
}

/** Data keys as Kubernetes allows them: `[-._a-zA-Z0-9]+`. */
const DATA_KEY = /^[-._a-zA-Z0-9]{1,253}$/;

/**
 * Parses one Secret/ConfigMap document: the manifest rules are those of the
 * REST API and etcd (secretFromManifest), plus the files source's own
 * `stringDataFiles`. `manifestPath` resolves relative `stringDataFiles` paths.
 * Never throws.
 */
export function parseSecretDocument(doc: Record<string, unknown>, origin: string, manifestPath: string): SecretDocument | { issues: Issue[]; key?: undefined } {
  const kind = doc.kind as SecretObjectKind;
  const meta = (doc.metadata ?? {}) as { name?: unknown; namespace?: unknown };
  const name = meta.name;
  const namespace = meta.namespace ?? DEFAULT_NAMESPACE;
  const resource = `${kind} ${typeof namespace === 'string' ? namespace : '?'}/${typeof name === 'string' ? name : '(unnamed)'}`;
  const issues: Issue[] = [];
  const add = (field: string, message: string) => issues.push({ origin, resource, field, message, reason: 'InvalidSpec' });
  if (typeof name !== 'string' || !new RegExp(PATTERNS.name).test(name)) {
    add('metadata.name', `${JSON.stringify(name)} is not allowed: use lowercase letters, digits, "-" and "." (a DNS-1123 name)`);
    return { issues };
  }
  if (typeof namespace !== 'string' || !new RegExp(PATTERNS.namespace).test(namespace)) {
    add('metadata.namespace', `${JSON.stringify(namespace)} is not allowed: use lowercase letters, digits and "-" (a DNS-1123 label)`);
    return { issues };
  }
  const key = secretKey(kind, namespace, name);
  let files: Record<string, string> | undefined;
  const fileMap = doc.stringDataFiles;
  if (fileMap !== undefined && fileMap !== null && (typeof fileMap !== 'object' || Array.isArray(fileMap)))
    add('stringDataFiles', 'must be a map of keys to file paths');
  else {
    for (const [k, v] of Object.entries((fileMap ?? {}) as Record<string, unknown>)) {
      if (!DATA_KEY.test(k)) add(`stringDataFiles.${k}`, 'is not a valid key: use letters, digits, "-", "_" and "."');
      else if (typeof v !== 'string' || v === '') add(`stringDataFiles.${k}`, 'must be the path of a file');
      else (files ??= {})[k] = isAbsolute(v) ? v : resolvePath(dirname(manifestPath), v);
    }
  }
  const { value, problems } = secretFromManifest(doc, { kind, namespace, name }, origin, {
    extraFields: ['stringDataFiles'],
    externalKeys: Object.keys(files ?? {}),
  });
  for (const pr of problems) add(pr.field, pr.message);
  if (issues.length > 0 || !value) return { key, origin, issues };
  return { key, origin, value, files, issues };
}

/**
 * The document's data with its `stringDataFiles` read. `previous` (the last
 * value published for it) is returned as is when nothing changed, so caches
 * keyed by object identity hit. A file that cannot be read is an issue.
 */
export async function readSecretFiles(d: SecretDocument, previous: SecretData | undefined): Promise<{ value?: SecretData; issue?: Issue }> {
  if (!d.value) return {};
  if (!d.files) return { value: d.value };
  const data: Record<string, string> = { ...d.value.data };
  for (const [k, path] of Object.entries(d.files)) {
    try {
      data[k] = await readFile(path, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      return {
        issue: {
          origin: d.origin,
          resource: `${d.value.kind} ${d.value.namespace}/${d.value.name}`,
          field: `stringDataFiles.${k}`,
          reason: 'ParseError',
          message: `${path} cannot be read (${code}); fix the path or its permissions (the last good data keeps serving)`,
        },
      };
    }
  }
  const value: SecretData = { ...d.value, data };
  if (previous && previous.origin === value.origin && previous.type === value.type && sameData(previous.data, data)) return { value: previous };
  return { value };
}

function sameData(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}
