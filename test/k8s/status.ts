/**
 * metav1.Status bodies exactly as the apiserver writes them
 * (k8s.io/apimachinery/pkg/api/errors), and the error that carries one.
 */
import { STATUS_CODES } from 'node:http';
import { qualifiedKind, qualifiedResource, type ResourceType } from './resources.js';

export type StatusReason =
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'BadRequest'
  | 'MethodNotAllowed'
  | 'UnsupportedMediaType'
  | 'Unauthorized'
  | 'Forbidden'
  | 'TooManyRequests'
  | 'Timeout'
  | 'ServiceUnavailable'
  | 'InternalError';

export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: StatusReason;
  details?: StatusDetails;
  code: number;
}

/** Thrown inside request handling; the server answers with its Status. */
export class ApiError extends Error {
  readonly status: Status;

  constructor(status: Status) {
    super(status.message ?? `HTTP ${status.code}`);
    this.name = 'ApiError';
    this.status = status;
  }
}

export function failure(code: number, reason: StatusReason | undefined, message: string, details?: StatusDetails): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    ...(reason === undefined ? {} : { reason }),
    ...(details === undefined ? {} : { details }),
    code,
  };
}

export function success(rt: ResourceType, name: string, uid: string | undefined): Status {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Success',
    details: { ...resourceDetails(rt, name), ...(uid ? { uid } : {}) },
    code: 200,
  };
}

function resourceDetails(rt: ResourceType, name: string): StatusDetails {
  return rt.group === '' ? { name, kind: rt.plural } : { name, group: rt.group, kind: rt.plural };
}

function subject(rt: ResourceType, name: string): string {
  return `${qualifiedResource(rt)} "${name}"`;
}

export function notFound(rt: ResourceType, name: string): ApiError {
  return new ApiError(failure(404, 'NotFound', `${subject(rt, name)} not found`, resourceDetails(rt, name)));
}

export function alreadyExists(rt: ResourceType, name: string): ApiError {
  return new ApiError(failure(409, 'AlreadyExists', `${subject(rt, name)} already exists`, resourceDetails(rt, name)));
}

export const MODIFIED_CONFLICT = 'the object has been modified; please apply your changes to the latest version and try again';

export function conflict(rt: ResourceType, name: string, why: string = MODIFIED_CONFLICT): ApiError {
  const message = `Operation cannot be fulfilled on ${subject(rt, name)}: ${why}`;
  return new ApiError(failure(409, 'Conflict', message, resourceDetails(rt, name)));
}

/** 422 for a single invalid field, as field.Invalid / field.Required produce it. */
export function invalid(rt: ResourceType, name: string, field: string, detail: string, causeReason = 'FieldValueInvalid'): ApiError {
  const message = `${qualifiedKind(rt)} "${name}" is invalid: ${field}: ${detail}`;
  const details: StatusDetails = {
    name,
    ...(rt.group === '' ? {} : { group: rt.group }),
    kind: rt.kind,
    causes: [{ reason: causeReason, message: detail, field }],
  };
  return new ApiError(failure(422, 'Invalid', message, details));
}

export function badRequest(message: string): ApiError {
  return new ApiError(failure(400, 'BadRequest', message));
}

/** 410 for a resourceVersion older than the retained history (reason Expired, as the apiserver sends it). */
export function expired(requested: number, oldest: number): Status {
  return failure(410, 'Expired', `too old resource version: ${requested} (${oldest})`);
}

export function internalError(message: string): ApiError {
  return new ApiError(failure(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] }));
}

export function methodNotSupported(rt: ResourceType, verb: string): ApiError {
  const message = `${verb} is not supported on resources of kind "${qualifiedResource(rt)}"`;
  return new ApiError(failure(405, 'MethodNotAllowed', message, { group: rt.group, kind: rt.plural }));
}

export function unsupportedMediaType(contentType: string, accepted: readonly string[]): ApiError {
  const message = `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`;
  return new ApiError(failure(415, 'UnsupportedMediaType', message, { causes: [{ reason: 'UnexpectedServerResponse', message: contentType }] }));
}

export function resourceNotFound(): ApiError {
  return new ApiError(failure(404, 'NotFound', 'the server could not find the requested resource', {}));
}

export function unauthorized(): Status {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

const REASON_BY_CODE: Readonly<Record<number, StatusReason>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  409: 'Conflict',
  410: 'Gone',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A Status for an arbitrary code (fault injection), with the reason the apiserver pairs with it. */
export function statusForCode(code: number, message?: string): Status {
  const reason = REASON_BY_CODE[code];
  const text = message ?? (code === 500 ? 'Internal error occurred: injected failure' : (STATUS_CODES[code] ?? 'injected failure'));
  const details: StatusDetails | undefined = code === 429 || code === 503 || code === 504 ? { retryAfterSeconds: 1 } : undefined;
  return failure(code, reason, text, details);
}
