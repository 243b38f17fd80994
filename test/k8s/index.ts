export { KubeApiTestServer, testKubeConfig, type KubeApiTestServerOptions, type KubeApiTestServerStats, type WatchFilter } from './api-server.js';
export type { FailureRule, RequestMatcher } from './faults.js';
export type { KubeObject, ObjectMeta, ObjectList, WatchEvent, WatchEventType } from './objects.js';
export type { RequestFilter, RequestRecord, Verb } from './request-log.js';
export { DEFAULT_RESOURCES, HAPROXY_API_VERSION, builtinResource, customResource, type ResourceType } from './resources.js';
export type { Status, StatusReason } from './status.js';
export type { ExpiredWatchResponse } from './watch.js';
export { waitFor, type WaitOptions } from './wait.js';
