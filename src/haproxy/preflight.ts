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
 */
import { createServer, isIP } from 'node:net';

export interface BindAddress {
  host: string;
  port: number;
  /** 1-based line in the configuration. */
  line: number;
}

const SKIPPED_PREFIXES = /^(unix|abns|fd|sockpair|udp[46]?|quic[46]?|rhttp)@/;
const TCP_PREFIX = /^(ipv4|ipv6|tcp|tcp4|tcp6)@/;
const MAX_RANGE = 64;
const WILDCARD = new Set(['0.0.0.0', '::']);

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
function bindProblem(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      // EACCES is not a verdict: HAProxy may hold cap_net_bind_service where Node does not.
      if (err.code === 'EADDRINUSE') resolve('address already in use by another process');
      else if (err.code === 'EADDRNOTAVAIL') resolve('no interface of this machine has that address');
      else resolve(undefined);
    });
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * Problems (one line each, HAProxy-alert style) for binds of `candidate` on
 * ports `running` does not bind that another process holds. Empty when none.
 */
export async function findTakenBinds(candidate: string, running: string): Promise<string[]> {
  // What the running workers bind comes over to the new ones. Where a wildcard meets a
  // specific address on one port, only HAProxy can tell (it binds with SO_REUSEPORT): skip.
  const runningBinds = parseBindAddresses(running);
  const held = new Set(runningBinds.map((b) => (WILDCARD.has(b.host) ? `*:${b.port}` : `${b.host}:${b.port}`)));
  const heldPorts = new Set(runningBinds.map((b) => b.port));
  const problems: string[] = [];
  for (const b of parseBindAddresses(candidate)) {
    if (held.has(`${b.host}:${b.port}`) || held.has(`*:${b.port}`) || (WILDCARD.has(b.host) && heldPorts.has(b.port))) continue;
    const problem = await bindProblem(b.host, b.port);
    if (problem) {
      problems.push(
        `[PREFLIGHT] bind ${b.host}:${b.port} (line ${b.line}): ${problem}. ` +
          'A reload would pause every listener for about 2 s trying to take it and then fail; free the port or change the bind.',
      );
    }
  }
  return problems;
}
