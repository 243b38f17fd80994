/**
 * The file on disk against the live servers: what `show servers state`
 * reports must be what haproxy.cfg declares (name, address, port, weight,
 * maint or not), so that a reload changes nothing a runtime plan did.
 */
import type { ServerState } from '../../src/haproxy/parse.js';
import { liveAdmin } from '../../src/reconcile/server-updater.js';

export interface FileServer {
  backend: string;
  name: string;
  address: string;
  port: number;
  weight: number;
  maint: boolean;
}

const SERVER_LINE = /^\s+server (\S+) (?:\[([^\]]+)\]|([^\s:]+)):(\d+) weight (\d+)(.*)$/;

/** The `server` lines of haproxy.cfg text, with their backend. */
export function fileServers(configText: string): FileServer[] {
  const out: FileServer[] = [];
  let backend: string | undefined;
  for (const line of configText.split('\n')) {
    const section = /^(\S+)\s+(\S+)?/.exec(line);
    if (section) {
      backend = section[1] === 'backend' ? section[2] : undefined;
      continue;
    }
    const m = SERVER_LINE.exec(line);
    if (!m || backend === undefined) continue;
    out.push({
      backend,
      name: m[1]!,
      address: m[2] ?? m[3]!,
      port: Number(m[4]),
      weight: Number(m[5]),
      maint: / disabled$/.test(m[6]!),
    });
  }
  return out;
}

/** Every difference between the file's servers and the live ones; empty when they match. */
export function fileVsLive(configText: string, live: readonly ServerState[]): string[] {
  const diffs: string[] = [];
  const file = new Map(fileServers(configText).map((s) => [`${s.backend}/${s.name}`, s]));
  const seen = new Set<string>();
  for (const l of live) {
    const key = `${l.backend}/${l.server}`;
    seen.add(key);
    const f = file.get(key);
    if (!f) {
      diffs.push(`${key} is live but not in the file`);
      continue;
    }
    const liveMaint = liveAdmin(l) === 'maint';
    const got = `${l.addr}:${l.port} weight ${l.weight}${liveMaint ? ' maint' : ''}`;
    const want = `${f.address}:${f.port} weight ${f.weight}${f.maint ? ' maint' : ''}`;
    if (got !== want) diffs.push(`${key}: live ${got}, file ${want}`);
  }
  for (const key of file.keys()) if (!seen.has(key)) diffs.push(`${key} is in the file but not live`);
  return diffs;
}
