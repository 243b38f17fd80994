/**
 * What the apiserver's registry strategies do to an object before it is
 * stored: defaulted metadata on create, preserved system fields on update,
 * generation bumps and the spec/status split of the status subresource.
 */
import { clone, isJsonObject, jsonEqual, without } from './json.js';
import { generateName, newUid, timestamp, type KubeObject, type ObjectMeta } from './objects.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import { ApiError, badRequest, conflict, failure, invalid } from './status.js';

/** Which part of an object a write may change. `all` is the seeding helpers' scope. */
export type WriteScope = 'main' | 'status' | 'all';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** Rejects anything that is not a JSON object with an object `metadata`, and a wrong kind. */
export function assertObjectBody(rt: ResourceType, body: unknown): KubeObject {
  if (!isJsonObject(body)) throw badRequest('Object in request body is not a JSON object');
  const meta = body.metadata ?? {};
  if (!isJsonObject(meta)) throw badRequest('metadata in request body is not a JSON object');
  const apiVersion = apiVersionOf(rt);
  if ((body.kind !== undefined && body.kind !== rt.kind) || (body.apiVersion !== undefined && body.apiVersion !== apiVersion)) {
    throw badRequest(
      `the API version in the data (${String(body.apiVersion)}) and kind (${String(body.kind)}) do not match the expected ${apiVersion} ${rt.kind}`,
    );
  }
  return { ...body, metadata: meta } as KubeObject;
}

export function assertNamespace(body: KubeObject, namespace: string | undefined): void {
  const given = body.metadata.namespace;
  if (given !== undefined && given !== '' && given !== namespace) {
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
}

/**
 * The apiserver's name check (apimachinery's NameIsDNSSubdomain or
 * NameIsDNS1035Label). For a generateName (`prefix`), a trailing '-' is
 * masked first, as the apiserver does: `web-` passes, `web.` does not.
 */
function nameProblem(rt: ResourceType, value: string, prefix: boolean): string | undefined {
  const [pattern, label, example] = rt.dns1035Name
    ? [DNS1035_LABEL, 'a DNS-1035 label', "'my-name', or 'abc-123'"]
    : [DNS1123_SUBDOMAIN, 'a lowercase RFC 1123 subdomain', "'example.com'"];
  const max = rt.dns1035Name ? 63 : 253;
  const checked = prefix && value.endsWith('-') ? `${value.slice(0, -1)}a` : value;
  if (checked.length > max) return `Invalid value: "${value}": must be no more than ${max} characters`;
  if (!pattern.test(checked)) {
    const consist = rt.dns1035Name
      ? "lower case alphanumeric characters or '-', start with an alphabetic character,"
      : "lower case alphanumeric characters, '-' or '.', and must start";
    return `Invalid value: "${value}": ${label} must consist of ${consist} and end with an alphanumeric character (e.g. ${example}, regex used for validation is '${pattern.source}')`;
  }
  return undefined;
}

function validateName(rt: ResourceType, name: string, prefix: string | undefined): void {
  // Both checked, as ValidateObjectMeta does; the generateName is reported first.
  const prefixProblem = prefix ? nameProblem(rt, prefix, true) : undefined;
  if (prefixProblem) throw invalid(rt, name, 'metadata.generateName', prefixProblem);
  const problem = nameProblem(rt, name, false);
  if (problem) throw invalid(rt, name, 'metadata.name', problem);
}

/** Longest generateName the apiserver keeps: it cuts longer ones so the name stays within 63 characters. */
const MAX_GENERATED_PREFIX = 58;

function resolveName(rt: ResourceType, body: KubeObject): string {
  const { name, generateName: prefix } = body.metadata;
  if (name) return name;
  if (prefix) return generateName(prefix.slice(0, MAX_GENERATED_PREFIX));
  throw invalid(rt, '', 'metadata.name', 'Required value: name or generateName is required', 'FieldValueRequired');
}

/** The object to store for a create (POST, or PUT on a kind that allows create-on-update). */
export function prepareCreate(rt: ResourceType, namespace: string | undefined, body: KubeObject, now: Date, scope: WriteScope): KubeObject {
  assertNamespace(body, namespace);
  if (scope !== 'all' && body.metadata.resourceVersion) {
    // The storage layer refuses this with an untyped error, which the apiserver answers as a bare 500.
    throw new ApiError(failure(500, undefined, 'resourceVersion should not be set on objects to be created'));
  }
  const name = resolveName(rt, body);
  validateName(rt, name, body.metadata.generateName || undefined);
  const obj = clone(body);
  obj.apiVersion = apiVersionOf(rt);
  obj.kind = rt.kind;
  const meta = without(obj.metadata, 'deletionTimestamp', 'deletionGracePeriodSeconds', 'resourceVersion');
  obj.metadata = { ...meta, name, uid: newUid(), creationTimestamp: timestamp(now) };
  if (rt.namespaced) obj.metadata.namespace = namespace;
  else delete obj.metadata.namespace;
  if (rt.tracksGeneration) obj.metadata.generation = 1;
  else delete obj.metadata.generation;
  if (rt.statusSubresource && scope !== 'all') delete obj.status;
  return obj;
}

/** Everything outside metadata and status: what a generation counts. */
function specContent(obj: KubeObject): unknown {
  return without(obj, 'metadata', 'status', 'apiVersion', 'kind');
}

function withStatusOf(target: KubeObject, source: KubeObject): KubeObject {
  const result = without(target, 'status') as KubeObject;
  if (source.status !== undefined) result.status = clone(source.status);
  return result;
}

const SYSTEM_METADATA = ['name', 'namespace', 'uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const;

/** `meta` with the fields only the server sets taken from `existing`. */
function withSystemMetadata(meta: ObjectMeta, existing: ObjectMeta): ObjectMeta {
  const result: Record<string, unknown> = { ...meta };
  for (const field of SYSTEM_METADATA) {
    if (existing[field] === undefined) delete result[field];
    else result[field] = existing[field];
  }
  return result as ObjectMeta;
}

/** The object to store for an update of `existing` (PUT or PATCH after the patch is applied). */
export function prepareUpdate(rt: ResourceType, existing: KubeObject, body: KubeObject, scope: WriteScope): KubeObject {
  let next: KubeObject;
  if (scope === 'status') {
    next = withStatusOf(clone(existing), body);
  } else {
    next = clone(body);
    if (scope === 'main' && rt.statusSubresource) next = withStatusOf(next, existing);
    next.metadata = withSystemMetadata(next.metadata, existing.metadata);
  }
  next.apiVersion = apiVersionOf(rt);
  next.kind = rt.kind;
  next.metadata.resourceVersion = existing.metadata.resourceVersion;
  if (rt.tracksGeneration) {
    const bump = jsonEqual(specContent(existing), specContent(next)) ? 0 : 1;
    next.metadata.generation = (existing.metadata.generation ?? 0) + bump;
  } else {
    delete next.metadata.generation;
  }
  return next;
}

/** Precondition checks of an update: resourceVersion (optimistic concurrency) and uid. */
export function checkUpdatePreconditions(rt: ResourceType, existing: KubeObject, body: KubeObject): void {
  const { uid, resourceVersion } = body.metadata;
  const name = existing.metadata.name ?? '';
  if (uid && uid !== existing.metadata.uid) {
    throw conflict(rt, name, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${existing.metadata.uid}`);
  }
  if (!resourceVersion) {
    if (!rt.unconditionalUpdate) {
      throw invalid(rt, name, 'metadata.resourceVersion', 'Invalid value: 0x0: must be specified for an update');
    }
    return;
  }
  if (resourceVersion !== existing.metadata.resourceVersion) throw conflict(rt, name);
}

export function hasFinalizers(obj: KubeObject): boolean {
  return (obj.metadata.finalizers?.length ?? 0) > 0;
}

export function isTerminating(obj: KubeObject): boolean {
  return obj.metadata.deletionTimestamp !== undefined;
}
