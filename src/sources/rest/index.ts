/** The REST source: the API handler, its storage in the state directory, and aqueduct translation. */
export { RestApi, API_PREFIX, DEFAULT_MAX_BODY_BYTES, type RestApiOptions } from './api.js';
export { RestSource, REST_SOURCE, REST_STATE_FILE, type RestSourceOptions } from './rest-source.js';
export { TokenFileAuthenticator, readTokenFile, tokensEqual, type Authenticator } from './auth.js';
export { StorageUnavailableError, type ResourceWriter } from './writer.js';
export { AQUEDUCT_ANNOTATION, backendFromAqueduct, backendToAqueduct, frontendFromAqueduct, frontendToAqueduct } from './aqueduct.js';
