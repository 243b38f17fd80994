/** The verbs on resources: list, get, create, update, patch, delete, deletecollection and watch. */
import type { ServerResponse } from 'node:http';
import { isJsonObject, without } from './json.js';
import type { KubeObject, ObjectList } from './objects.js';
import { jsonPatch, mergePatch } from './patch.js';
import type { ResourceTarget, ResourceVerb } from './routes.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import { both, parseFieldSelector, parseLabelSelector, type Selector } from './selectors.js';
import { badRequest, notFound, success, unsupportedMediaType } from './status.js';
import type { DeletePreconditions, ObjectStore } from './store.js';
import { assertObjectBody, type WriteScope } from './strategy.js';
import type { ExpiredWatchResponse, WatchHub, WatchStart } from './watch.js';

export interface ApiRequest {
  readonly verb: ResourceVerb;
  readonly target: ResourceTarget;
  readonly query: URLSearchParams;
  /** Parsed JSON body, undefined when the request had none. */
  readonly body: unknown;
  readonly contentType: string;
}

export interface ApiResponse {
  readonly code: number;
  readonly body: unknown;
}

const PATCH_TYPES = {
  json: 'application/json-patch+json',
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
} as const;

function requireName(target: ResourceTarget): string {
  if (target.name === undefined) throw badRequest('a resource name is required');
  return target.name;
}

function scopeOf(target: ResourceTarget): WriteScope {
  return target.subresource === 'status' ? 'status' : 'main';
}

function selectorFrom(query: URLSearchParams, rt: ResourceType, name: string | undefined): Selector {
  const fields = [query.get('fieldSelector'), name === undefined ? null : `metadata.name=${name}`].filter((s) => s).join(',');
  return both(parseLabelSelector(query.get('labelSelector')), parseFieldSelector(fields, rt));
}

/** Typed lists leave kind/apiVersion off their items; custom resource lists keep them. */
function listItem(rt: ResourceType, obj: KubeObject): KubeObject {
  return rt.custom ? obj : (without(obj, 'apiVersion', 'kind') as KubeObject);
}

function parseRevision(value: string): number {
  if (!/^\d+$/.test(value)) throw badRequest(`invalid resource version: "${value}"`);
  return Number(value);
}

function watchStart(resourceVersion: string | null): WatchStart {
  if (!resourceVersion || resourceVersion === '0') return 'current-state';
  return { afterRevision: parseRevision(resourceVersion) };
}

function deletePreconditions(body: unknown): DeletePreconditions {
  if (body === undefined) return {};
  if (!isJsonObject(body)) throw badRequest('DeleteOptions in request body is not a JSON object');
  const pre = body.preconditions;
  if (!isJsonObject(pre)) return {};
  return {
    ...(typeof pre.uid === 'string' ? { uid: pre.uid } : {}),
    ...(typeof pre.resourceVersion === 'string' ? { resourceVersion: pre.resourceVersion } : {}),
  };
}

export class ResourceApi {
  constructor(
    private readonly store: ObjectStore,
    private readonly hub: WatchHub,
    private readonly expiredWatchResponse: () => ExpiredWatchResponse,
  ) {}

  /** Answers every verb but watch. */
  handle(req: ApiRequest): ApiResponse {
    switch (req.verb) {
      case 'get':
        return this.get(req.target);
      case 'list':
        return { code: 200, body: this.list(req.target, req.query) };
      case 'create':
        return this.create(req.target, req.body);
      case 'update':
        return this.update(req.target, req.body);
      case 'patch':
        return this.patch(req.target, req.body, req.contentType);
      case 'delete':
        return this.delete(req.target, req.body);
      case 'deletecollection':
        return this.deleteCollection(req.target, req.query, req.body);
      case 'watch':
        throw new Error('watch is streamed: call watch()');
    }
  }

  watch(res: ServerResponse, target: ResourceTarget, query: URLSearchParams): void {
    const timeoutSeconds = query.get('timeoutSeconds');
    const spec = {
      resource: target.resource,
      namespace: target.namespace,
      selector: selectorFrom(query, target.resource, target.name),
      allowBookmarks: query.get('allowWatchBookmarks') === 'true',
      timeoutMs: timeoutSeconds ? Number(timeoutSeconds) * 1000 : undefined,
    };
    this.hub.start(res, spec, watchStart(query.get('resourceVersion')), this.expiredWatchResponse());
  }

  list(target: ResourceTarget, query: URLSearchParams): ObjectList {
    const rt = target.resource;
    const items = this.store.list(rt, target.namespace, selectorFrom(query, rt, undefined));
    return this.listOf(rt, items);
  }

  private listOf(rt: ResourceType, items: KubeObject[]): ObjectList {
    return {
      kind: `${rt.kind}List`,
      apiVersion: apiVersionOf(rt),
      metadata: { resourceVersion: String(this.store.currentRevision) },
      items: items.map((item) => listItem(rt, item)),
    };
  }

  private get(target: ResourceTarget): ApiResponse {
    const name = requireName(target);
    const obj = this.store.get(target.resource, target.namespace, name);
    if (!obj) throw notFound(target.resource, name);
    return { code: 200, body: obj };
  }

  private create(target: ResourceTarget, body: unknown): ApiResponse {
    const obj = assertObjectBody(target.resource, body);
    return { code: 201, body: this.store.create(target.resource, target.namespace, obj) };
  }

  private update(target: ResourceTarget, body: unknown): ApiResponse {
    const obj = assertObjectBody(target.resource, body);
    const result = this.store.update(target.resource, target.namespace, requireName(target), obj, scopeOf(target));
    return { code: result.created ? 201 : 200, body: result.object };
  }

  private patch(target: ResourceTarget, patch: unknown, contentType: string): ApiResponse {
    const rt = target.resource;
    const name = requireName(target);
    const existing = this.store.get(rt, target.namespace, name);
    if (!existing) throw notFound(rt, name);
    const patched = assertObjectBody(rt, this.applyPatch(rt, existing, patch, contentType));
    const result = this.store.update(rt, target.namespace, name, patched, scopeOf(target));
    return { code: 200, body: result.object };
  }

  private applyPatch(rt: ResourceType, existing: KubeObject, patch: unknown, contentType: string): unknown {
    if (contentType === PATCH_TYPES.json) return jsonPatch(existing, patch);
    if (contentType === PATCH_TYPES.merge || (contentType === PATCH_TYPES.strategic && !rt.custom)) {
      if (!isJsonObject(patch)) throw badRequest('json: cannot unmarshal array into Go value of type map[string]interface {}');
      return mergePatch(existing, patch);
    }
    const accepted = rt.custom ? [PATCH_TYPES.json, PATCH_TYPES.merge] : Object.values(PATCH_TYPES);
    throw unsupportedMediaType(contentType, accepted);
  }

  private delete(target: ResourceTarget, body: unknown): ApiResponse {
    const rt = target.resource;
    const name = requireName(target);
    const { object, deleted } = this.store.delete(rt, target.namespace, name, deletePreconditions(body));
    const answer = !deleted || rt.deleteReturnsObject ? object : success(rt, name, object.metadata.uid);
    return { code: 200, body: answer };
  }

  private deleteCollection(target: ResourceTarget, query: URLSearchParams, body: unknown): ApiResponse {
    const rt = target.resource;
    const preconditions = deletePreconditions(body);
    const matching = this.store.list(rt, target.namespace, selectorFrom(query, rt, undefined));
    const removed = matching.map((obj) => this.store.delete(rt, obj.metadata.namespace, obj.metadata.name ?? '', preconditions).object);
    return { code: 200, body: this.listOf(rt, removed) };
  }
}
