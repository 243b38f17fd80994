/**
 * Maps a request to what it addresses and the Kubernetes verb:
 *   /api/v1/[watch/]namespaces/{ns}/{plural}[/{name}[/status]]
 *   /apis/{group}/{version}/[watch/]namespaces/{ns}/{plural}[/{name}[/status]]
 *   /api/v1/{plural} and /apis/{group}/{version}/{plural}: all namespaces (or cluster-scoped items)
 */
import { discoveryDocument } from './discovery.js';
import type { RequestRecord, Verb } from './request-log.js';
import type { ResourceRegistry, ResourceType } from './resources.js';
import { ApiError, failure, resourceNotFound } from './status.js';

export type ResourceVerb = Exclude<Verb, 'discovery' | 'unknown'>;

export interface ResourceTarget {
  readonly resource: ResourceType;
  /** Undefined for an all-namespaces collection or a cluster-scoped kind. */
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  readonly subresource: 'status' | undefined;
}

export type Route =
  | { readonly verb: 'discovery'; readonly document: object }
  | { readonly verb: ResourceVerb; readonly target: ResourceTarget }
  | { readonly verb: 'unknown'; readonly error: ApiError };

interface ParsedPath {
  readonly target: ResourceTarget;
  readonly legacyWatch: boolean;
}

function methodNotAllowed(): ApiError {
  return new ApiError(failure(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'));
}

function groupVersionAndRest(segments: string[]): { group: string; version: string; rest: string[] } | undefined {
  if (segments[0] === 'api' && segments.length >= 3) return { group: '', version: segments[1], rest: segments.slice(2) };
  if (segments[0] === 'apis' && segments.length >= 4) return { group: segments[1], version: segments[2], rest: segments.slice(3) };
  return undefined;
}

function parseResourcePath(segments: string[], registry: ResourceRegistry): ParsedPath {
  const gv = groupVersionAndRest(segments);
  if (!gv) throw resourceNotFound();
  let rest = gv.rest;
  const legacyWatch = rest[0] === 'watch';
  if (legacyWatch) rest = rest.slice(1);
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [plural, name, subresource, ...extra] = rest;
  const resource = plural === undefined ? undefined : registry.byPath(gv.group, gv.version, plural);
  const scopeMismatch = resource !== undefined && (resource.namespaced ? namespace === undefined && name !== undefined : namespace !== undefined);
  const badSubresource = subresource !== undefined && !(subresource === 'status' && resource?.statusSubresource);
  if (!resource || scopeMismatch || badSubresource || extra.length > 0) throw resourceNotFound();
  return { target: { resource, namespace, name, subresource: subresource === 'status' ? 'status' : undefined }, legacyWatch };
}

function resourceVerb(method: string, target: ResourceTarget, watch: boolean): ResourceVerb {
  const isItem = target.name !== undefined;
  const verb = ((): ResourceVerb | undefined => {
    switch (method) {
      case 'GET':
        return watch ? 'watch' : isItem ? 'get' : 'list';
      case 'POST':
        return isItem ? undefined : 'create';
      case 'PUT':
        return isItem ? 'update' : undefined;
      case 'PATCH':
        return isItem ? 'patch' : undefined;
      case 'DELETE':
        return isItem ? 'delete' : 'deletecollection';
      default:
        return undefined;
    }
  })();
  const allowedOnStatus = verb === 'get' || verb === 'update' || verb === 'patch';
  if (verb === undefined || (target.subresource !== undefined && !allowedOnStatus)) throw methodNotAllowed();
  return verb;
}

export function route(method: string, url: URL, registry: ResourceRegistry, serverAddress: string): Route {
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const document = discoveryDocument(segments, registry, serverAddress);
  if (document !== undefined) return method === 'GET' ? { verb: 'discovery', document } : { verb: 'unknown', error: methodNotAllowed() };
  try {
    const { target, legacyWatch } = parseResourcePath(segments, registry);
    const watchParam = url.searchParams.get('watch');
    const watch = legacyWatch || watchParam === 'true' || watchParam === '1';
    return { verb: resourceVerb(method, target, watch), target };
  } catch (err) {
    if (err instanceof ApiError) return { verb: 'unknown', error: err };
    throw err;
  }
}

export function describeRoute(method: string, path: string, r: Route): RequestRecord {
  if (!('target' in r)) return { method, path, verb: r.verb };
  const { resource, namespace, name, subresource } = r.target;
  return {
    method,
    path,
    verb: r.verb,
    resource: subresource ? `${resource.plural}/${subresource}` : resource.plural,
    group: resource.group,
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
  };
}
