export { KubernetesIntegration, DEFAULT_LEASE_NAME, type KubernetesOptions, type LeaderElectionSettings } from './integration.js';
export {
  KubernetesSource,
  declaredFromObject,
  trimCustomResource,
  type KubernetesSourceOptions,
  type MembersFrom,
  type DeclaredInfo,
} from './kubernetes-source.js';
export { Reflector, type ReflectorOptions, type WatchRestart, type WatchRestartReason } from './reflector.js';
export { LeaderElector, type LeaderElectionOptions } from './leader-election.js';
export { StatusWriter, DEFAULT_STATUS_CONCURRENCY, type StatusWriterOptions } from './status-writer.js';
export { EventRecorder, REPORTING_CONTROLLER } from './events.js';
export { KubeClient, loadKubeConfig, contextNamespace, collectionPath, RESOURCES, type ClusterAccess } from './client.js';
export {
  membersFromSlices,
  membersFromEndpoints,
  memberName,
  sliceEndpointState,
  slimEndpointSlice,
  slimEndpoints,
  slimService,
  SERVICE_NAME_LABEL,
} from './members.js';
export { desiredStatus, mergeStatus, statusMatches, conditionChanges } from './status.js';
export { Backoff, jittered } from '../../util/backoff.js';
