/**
 * What `node-haproxy plan DIR` declares: DIR in place of the one directory
 * source of the controller it stands for, and every resource of the
 * controller's other sources (the REST API, etcd, Kubernetes, other
 * directories) as it runs. Pure: the running state says which source
 * declared each resource (PersistedState.declaredBy).
 */
import { MEMBERS } from '../model/discovered.js';
import type { Declared } from '../model/resolve.js';
import type { Member, Resource, ResourceKey } from '../model/types.js';
import type { ConfigModel } from '../render/model.js';
import type { DeclaredBy } from '../reconcile/pass.js';

/** The prefix of a directory source's name (`files:/etc/node-haproxy/manifests`, controller.ts). */
export const FILES_SOURCE_PREFIX = 'files:';

/** DIR stands for no single directory source of the controller, and no `--source-name` says which. */
export class PlanSourceError extends Error {}

export interface PlanSourcesInput {
  /** DIR's resources, as loaded. */
  declared: readonly Declared[];
  /** DIR's discovered data (its Secrets). */
  discovered: ReadonlyMap<string, ReadonlyMap<string, unknown>>;
  /** DIR as an absolute path. */
  dir: string;
  /** `--source-name`: the controller's directory source DIR replaces (`/abs/path` or `files:/abs/path`). */
  sourceName?: string;
  running: { declaredBy?: Record<ResourceKey, DeclaredBy[]>; accepted: readonly Resource[]; model: ConfigModel };
}

export interface PlanSources {
  declared: Declared[];
  discovered: Map<string, Map<string, unknown>>;
  /** The running source DIR replaces (undefined: none, or the running state does not say). */
  replaces?: string;
  /** What the plan assumed, for the report. */
  notes: string[];
}

/** Resource names a note lists per source; the rest are counted. */
const KEPT_NAMES_SHOWN = 5;

const pathOf = (source: string) => source.slice(FILES_SOURCE_PREFIX.length);

export function planSources(i: PlanSourcesInput): PlanSources {
  const discovered = new Map<string, Map<string, unknown>>([...i.discovered].map(([k, v]) => [k, new Map(v)]));
  const declaredBy = i.running.declaredBy;
  if (!declaredBy) {
    return {
      declared: [...i.declared],
      discovered,
      notes: [
        'the running state does not say which source declared each resource (saved by a node-haproxy older than this one): every running resource DIR does not declare, the REST API, etcd and Kubernetes ones included, is planned as removed; upgrade the controller for a plan that keeps them',
      ],
    };
  }
  const notes: string[] = [];
  const fileSources = new Set<string>();
  for (const list of Object.values(declaredBy)) for (const d of list) if (d.source.startsWith(FILES_SOURCE_PREFIX)) fileSources.add(d.source);
  const listed = () => [...fileSources].map(pathOf).sort().join(', ');
  let replaces: string | undefined;
  if (i.sourceName !== undefined) {
    replaces = i.sourceName.startsWith(FILES_SOURCE_PREFIX) ? i.sourceName : `${FILES_SOURCE_PREFIX}${i.sourceName}`;
    if (!fileSources.has(replaces)) {
      notes.push(
        `no running resource comes from the directory source ${pathOf(replaces)}${fileSources.size > 0 ? ` (the controller's directory sources with resources: ${listed()})` : ''}: DIR's resources are planned beside the running ones`,
      );
    }
  } else if (fileSources.has(`${FILES_SOURCE_PREFIX}${i.dir}`)) {
    replaces = `${FILES_SOURCE_PREFIX}${i.dir}`;
  } else if (fileSources.size === 1) {
    replaces = [...fileSources][0]!;
    notes.push(`DIR stands for the controller's only directory source, ${pathOf(replaces)}`);
  } else if (fileSources.size > 1) {
    throw new PlanSourceError(
      `the controller runs ${fileSources.size} directory sources (${listed()}) and ${i.dir} is none of them: pass --source-name PATH, the one DIR replaces`,
    );
  } else {
    notes.push("no running resource comes from a directory source: DIR's resources are planned beside the running ones");
  }
  const accepted = new Map<string, Resource>(i.running.accepted.map((r) => [`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r]));
  const dirKeys = new Set(i.declared.map((d) => d.key));
  const runningBackends = new Map<string, ConfigModel['backends'][number]>(i.running.model.backends.map((b) => [b.key, b]));
  let members = discovered.get(MEMBERS.name);
  const declared = [...i.declared];
  const kept = new Map<string, string[]>();
  for (const [key, list] of Object.entries(declaredBy)) {
    const resource = accepted.get(key);
    for (const d of list) {
      if (d.source === replaces) continue;
      if (resource) {
        declared.push({ key, origin: d.origin, source: d.source, resource, issues: [] });
        const names = kept.get(d.source) ?? [];
        names.push(`${resource.metadata.namespace}/${resource.metadata.name}`);
        kept.set(d.source, names);
      } else if (dirKeys.has(key)) {
        // Declared there but not serving (invalid): it still conflicts with DIR's version, as in the controller.
        declared.push({ key, origin: d.origin, source: d.source, issues: [] });
      }
    }
    // Members that source discovered (Kubernetes endpoints) are the running servers.
    const running = runningBackends.get(key);
    if (resource?.kind === 'Backend' && resource.spec.service && running && list.some((d) => d.source !== replaces)) {
      if (!members) discovered.set(MEMBERS.name, (members = new Map()));
      const list: Member[] = running.servers.map((s) => ({ name: s.name, address: s.address, port: s.port, weight: s.weight, state: s.state }));
      members.set(key, list);
    }
  }
  if (kept.size > 0) {
    const count = [...kept.values()].reduce((n, l) => n + l.length, 0);
    const bySource = [...kept]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([source, names]) => {
        const shown = [...names].sort().slice(0, KEPT_NAMES_SHOWN);
        const more = names.length > shown.length ? ` and ${names.length - shown.length} more` : '';
        return `${shown.join(', ')}${more} from ${source.startsWith(FILES_SOURCE_PREFIX) ? pathOf(source) : source}`;
      });
    notes.push(`${count} running resource(s) of other sources are kept as they run (${bySource.join('; ')})`);
  }
  return { declared, discovered, ...(replaces ? { replaces } : {}), notes };
}
