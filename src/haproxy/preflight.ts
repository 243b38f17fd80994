/**
 * Bind pre-flight: finds new `bind` addresses that another process already
 * holds, or that no interface of this machine has.
 *
 * Why: `haproxy -c` does not bind, and on 2.6 a reload that cannot bind first
 * pauses every listener of the running workers while it retries (~1 s), then
 * fails; measured here: ~2 s of refused connections for all frontends. Trying
 * the port from Node first turns that outage into a rejected apply.
 *
 * Only TCP binds on IP literals are tried, and only addresses the running
 * configuration does not bind already (those come over from the old worker).
 * Also run before HAProxy starts: HAProxy binds with SO_REUSEPORT, so a port
 * another HAProxy (or any SO_REUSEPORT socket of this user) holds does not stop
 * it from starting; it shares the port and the kernel splits the connections.
 * Node binds without SO_REUSEPORT, which fails on such a port.
 */
import { readdir, readFile, readlink } from 'node:fs/promises';
import { createServer, isIP } from 'node:net';
import { endianness } from 'node:os';
import { bindOverlap, bindValue, formatIPv6, type BindValue } from '../model/ip-address.js';

export interface BindAddress {
  host: string;
  port: number;
  /** 1-based line in the configuration. */
  line: number;
}

const SKIPPED_PREFIXES = /^(unix|abns|fd|sockpair|udp[46]?|quic[46]?|rhttp)@/;
const TCP_PREFIX = /^(ipv4|ipv6|tcp|tcp4|tcp6)@/;
const MAX_RANGE = 64;

function parseOne(spec: string, line: number): BindAddress[] {
  if (SKIPPED_PREFIXES.test(spec) || spec.startsWith('/') || spec.includes('$')) return [];
  const bare = spec.replace(TCP_PREFIX, '');
  const colon = bare.lastIndexOf(':');
  if (colon < 0) return [];
  let host = bare.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  if (host === '' || host === '*') host = '0.0.0.0';
  if (isIP(host) === 0) return [];
  const range = /^(\d+)(?:-(\d+))?$/.exec(bare.slice(colon + 1));
  if (!range) return [];
  const first = Number(range[1]);
  const last = range[2] === undefined ? first : Number(range[2]);
  if (first < 1 || last > 65535 || last < first || last - first >= MAX_RANGE) return [];
  const out: BindAddress[] = [];
  for (let port = first; port <= last; port++) out.push({ host, port, line });
  return out;
}

/** The TCP addresses of every `bind` line (first argument, comma-separated). */
export function parseBindAddresses(configText: string): BindAddress[] {
  const out: BindAddress[] = [];
  configText.split('\n').forEach((raw, i) => {
    const m = /^\s*bind\s+(\S+)/.exec(raw);
    if (!m) return;
    for (const spec of m[1]!.split(',')) out.push(...parseOne(spec, i + 1));
  });
  return out;
}

/** Why HAProxy could not bind host:port now, or undefined when it could. */
function bindProblem(host: string, port: number): Promise<'inuse' | 'noaddr' | undefined> {
  return new Promise((resolve) => {
    // Without SO_REUSEPORT (Node 20 never sets it on TCP): a socket another process
    // holds with SO_REUSEPORT, like another HAProxy's, makes this fail too.
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      // EACCES is not a verdict: HAProxy may hold cap_net_bind_service where Node does not.
      if (err.code === 'EADDRINUSE') resolve('inuse');
      else if (err.code === 'EADDRNOTAVAIL') resolve('noaddr');
      else resolve(undefined);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

export interface Listener {
  value: BindValue;
  port: number;
  inode: string;
}

/** `0100007F` (host byte order words, as /proc/net/tcp* prints them) → bytes. */
function procBytes(hex: string): number[] {
  const out: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => parseInt(hex.slice(w + i, w + i + 2), 16));
    out.push(...(endianness() === 'LE' ? word.reverse() : word));
  }
  return out;
}

/** Listening TCP sockets of this network namespace (Linux /proc), or undefined when unreadable. */
export async function listeningSockets(): Promise<Listener[] | undefined> {
  const out: Listener[] = [];
  let read = 0;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
      read++;
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A: LISTEN
      const [addrHex, portHex] = f[1]!.split(':');
      const b = procBytes(addrHex!);
      let address: string;
      if (b.length === 4) address = b.join('.');
      else if (b.slice(0, 10).every((x) => x === 0) && b[10] === 255 && b[11] === 255) address = b.slice(12).join('.');
      else address = formatIPv6(Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!));
      const value = bindValue(address);
      if (value) out.push({ value, port: parseInt(portHex!, 16), inode: f[9]! });
    }
  }
  return read > 0 ? out : undefined;
}

/** Socket inodes each of `pids` has open (those it can read). */
async function socketInodes(pids: Iterable<number>): Promise<Map<string, number>> {
  const owners = new Map<string, number>();
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = await readdir(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) owners.set(m[1]!, pid);
    }
  }
  return owners;
}

/** `haproxy (pid 123)`, for the processes that hold these inodes (as far as this user may see). */
async function describeHolders(inodes: readonly string[]): Promise<string> {
  if (inodes.length === 0) return '';
  const pids = (await readdir('/proc').catch(() => [] as string[])).filter((n) => /^\d+$/.test(n)).map(Number);
  const owners = await socketInodes(pids);
  const named = new Set<string>();
  for (const inode of inodes) {
    const pid = owners.get(inode);
    if (pid === undefined) continue;
    const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '?')).trim();
    named.add(`${comm}, pid ${pid}`);
  }
  return named.size > 0 ? ` (${[...named].join('; ')})` : '';
}

export interface PreflightOptions {
  /**
   * The processes of our own HAProxy (master and workers). Their sockets are
   * not "taken": the running workers pass them on to the new ones. Without
   * them, a bind that overlaps one the running configuration has is not checked.
   */
  ownPids?: readonly number[];
  /** Ports other processes hold are fine (shared with SO_REUSEPORT): report only addresses no interface has. */
  sharePorts?: boolean;
}

const endpointText = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/**
 * Problems (one line each, HAProxy-alert style) for binds of `candidate` that
 * another process holds (even with SO_REUSEPORT, which HAProxy would share and
 * so split the traffic) or that no interface has. Binds `running` has already
 * (by value) are not checked: they come over from the running workers. Empty when none.
 */
export async function findTakenBinds(candidate: string, running: string, options: PreflightOptions = {}): Promise<string[]> {
  const runningBinds = parseBindAddresses(running).flatMap((b) => {
    const value = bindValue(b.host);
    return value ? [{ ...b, value }] : [];
  });
  let listeners: Promise<Listener[] | undefined> | undefined;
  let own: Promise<Map<string, number>> | undefined;
  const ownPids = options.ownPids;
  /** Listening sockets on `port` that overlap `value`: inodes of the others', and how many are ours (undefined: cannot tell). */
  const holders = async (value: BindValue, port: number): Promise<{ others: string[]; ours: number } | undefined> => {
    const all = await (listeners ??= listeningSockets());
    if (!all) return undefined;
    const mine = await (own ??= socketInodes(ownPids ?? []));
    const here = all.filter((l) => l.port === port && bindOverlap(l.value, value));
    const others = here.filter((l) => !mine.has(l.inode)).map((l) => l.inode);
    return { others, ours: here.length - others.length };
  };

  const problems: string[] = [];
  const seen = new Set<string>();
  for (const b of parseBindAddresses(candidate)) {
    const value = bindValue(b.host);
    if (!value || seen.has(`${b.host} ${b.port}`)) continue;
    seen.add(`${b.host} ${b.port}`);
    const mine = runningBinds.filter((r) => r.port === b.port && bindOverlap(r.value, value));
    if (mine.some((r) => bindOverlap(r.value, value) === 'same')) continue;
    let problem: string | undefined;
    const NO_ADDRESS =
      'no interface of this machine has that address. A reload would pause every listener for about 2 s trying to bind it and then fail; change the bind or add the address';
    const IN_USE =
      '. HAProxy binds with SO_REUSEPORT: it would share the port with that process and split its connections, ' +
      'or (if that process did not set SO_REUSEPORT) pause every listener for about 2 s on a reload and fail; free the port or change the bind';
    if (mine.length === 0) {
      const verdict = await bindProblem(b.host, b.port);
      if (verdict === 'noaddr') problem = NO_ADDRESS;
      else if (verdict === 'inuse' && !options.sharePorts) {
        const h = await holders(value, b.port);
        // Held only by our own processes (an old worker letting go of it): not taken.
        if (!(h && h.others.length === 0 && h.ours > 0)) {
          problem = `address already in use by another process${await describeHolders(h?.others ?? [])}${IN_USE}`;
        }
      }
    } else {
      // Our HAProxy holds an overlapping socket (a wildcard and an address on one port):
      // binding this port from here would fail on ours. The address is tried on any port,
      // and the port's listeners that are not ours are looked for.
      if ((value.kind === 'ip4' || value.kind === 'ip6') && (await bindProblem(b.host, 0)) === 'noaddr') {
        problem = NO_ADDRESS;
      } else if (ownPids && !options.sharePorts) {
        const h = await holders(value, b.port);
        if (h && h.others.length > 0) problem = `address already in use by another process${await describeHolders(h.others)}${IN_USE}`;
      }
    }
    if (problem) {
      problems.push(`[PREFLIGHT] bind ${endpointText(b.host, b.port)} (line ${b.line}): ${problem}.`);
    }
  }
  return problems;
}
