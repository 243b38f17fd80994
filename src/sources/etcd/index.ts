/** The etcd source: resources under a key prefix in etcd v3, listed then watched. */
export { EtcdSource, type EtcdSourceOptions, type EtcdSourceStats } from './etcd-source.js';
export { declareKv, etcdKeyOf, parseEtcdKey, parseEtcdSpec, parseValue, type EtcdSpec } from './keys.js';
