/**
 * Parsers for the text HAProxy 2.6 answers on its CLI. Pure: no I/O.
 * Each throws an Error quoting the unexpected input when the text is not what
 * the command produces (an error reply, another version's format).
 */

// ---------------------------------------------------------------- show proc

export interface ProcEntry {
  pid: number;
  /** "master", "worker", or a program name. */
  type: string;
  /** Reloads this process has lived through (for the master: all reloads). */
  reloads: number;
  /** As HAProxy prints it, e.g. "0d00h00m04s". */
  uptime: string;
  version: string;
}

export interface MasterEntry extends ProcEntry {
  /** Failed reloads since the last successful one (2.6 resets it on success). */
  failedReloads: number;
}

export interface ShowProc {
  master: MasterEntry;
  /** Workers running the current configuration. */
  workers: ProcEntry[];
  /** Workers of earlier configurations still finishing their connections. */
  oldWorkers: ProcEntry[];
  programs: ProcEntry[];
}

const MASTER_LINE = /^(\d+)\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]\s+(\S+)\s*(\S*)/;
const PROC_LINE = /^(\d+)\s+(\S+)\s+(\d+)\s+(\S+)\s*(\S*)/;

function unexpected(what: string, text: string): Error {
  const shown = text.length > 300 ? text.slice(0, 300) + '...' : text;
  return new Error(`Unexpected ${what} output from HAProxy: ${JSON.stringify(shown)}`);
}

/** Parses the master CLI's `show proc`. */
export function parseShowProc(text: string): ShowProc {
  let master: MasterEntry | undefined;
  const sections: Record<string, ProcEntry[]> = { workers: [], 'old workers': [], programs: [], 'old programs': [] };
  let current: ProcEntry[] | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#<')) continue;
    if (line.startsWith('#')) {
      current = sections[line.slice(1).trim()];
      continue;
    }
    const m = MASTER_LINE.exec(line);
    if (m) {
      master = {
        pid: Number(m[1]),
        type: 'master',
        reloads: Number(m[2]),
        failedReloads: Number(m[3]),
        uptime: m[4]!,
        version: m[5]!,
      };
      continue;
    }
    const p = PROC_LINE.exec(line);
    if (!p) throw unexpected('show proc', text);
    current?.push({ pid: Number(p[1]), type: p[2]!, reloads: Number(p[3]), uptime: p[4]!, version: p[5]! });
  }
  if (!master) throw unexpected('show proc (no master line)', text);
  return { master, workers: sections.workers!, oldWorkers: sections['old workers']!, programs: sections.programs! };
}

// ---------------------------------------------------------------- show stat

export type StatValue = string | number | undefined;
/** One `show stat` row keyed by column name (pxname, svname, status, scur...). */
export type StatRow = Record<string, StatValue>;

const NUMBER = /^-?\d+(\.\d+)?$/;

function toValue(field: string): StatValue {
  if (field === '') return undefined;
  return NUMBER.test(field) ? Number(field) : field;
}

/** Splits one CSV line; HAProxy quotes fields holding commas or quotes. */
export function splitCsvLine(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}

/** Parses `show stat` CSV: numbers become numbers, empty fields undefined. */
export function parseShowStat(text: string): StatRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = lines[0];
  if (header === undefined || !header.startsWith('# ')) throw unexpected('show stat', text);
  const columns = splitCsvLine(header.slice(2));
  while (columns.length > 0 && columns[columns.length - 1] === '') columns.pop();
  return lines.slice(1).map((line) => {
    const fields = splitCsvLine(line);
    const row: StatRow = {};
    columns.forEach((name, i) => {
      row[name] = toValue(fields[i] ?? '');
    });
    return row;
  });
}

// ---------------------------------------------------------------- show info

/** Parses `show info` ("Key: value" lines); numeric values become numbers. */
export function parseShowInfo(text: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw unexpected('show info', text);
    const value = line.slice(colon + 1).trim();
    out[line.slice(0, colon)] = NUMBER.test(value) ? Number(value) : value;
  }
  if (Object.keys(out).length === 0) throw unexpected('show info (empty)', text);
  return out;
}

// ------------------------------------------------------- show servers state

/** srv_admin_state bits (HAProxy's SRV_ADMF_*). */
export const AdminFlag = {
  ForcedMaint: 0x01,
  InheritedMaint: 0x02,
  ConfigMaint: 0x04,
  ForcedDrain: 0x08,
  InheritedDrain: 0x10,
  ResolutionMaint: 0x20,
  HostnameMaint: 0x40,
} as const;

/**
 * Bits that take a server out of rotation: forced (CLI), inherited (track),
 * resolution and hostname maintenance. Not ConfigMaint: config `disabled`
 * sets 0x04 together with 0x01, `set server state ready` clears only 0x01,
 * and 0x04 alone does not stop traffic (measured on 2.6).
 */
const MAINT_MASK = AdminFlag.ForcedMaint | AdminFlag.InheritedMaint | AdminFlag.ResolutionMaint | AdminFlag.HostnameMaint;
const DRAIN_MASK = AdminFlag.ForcedDrain | AdminFlag.InheritedDrain;

/** srv_op_state values (HAProxy's SRV_ST_*). */
export type OpState = 'stopped' | 'starting' | 'running' | 'stopping';
const OP_STATES: readonly OpState[] = ['stopped', 'starting', 'running', 'stopping'];

export interface ServerState {
  backendId: number;
  backend: string;
  serverId: number;
  server: string;
  addr: string;
  port: number;
  opState: OpState;
  /** Raw srv_admin_state bits; see AdminFlag. */
  adminFlags: number;
  /** What `set server ... state` would set to get here. */
  admin: 'ready' | 'drain' | 'maint';
  /** Current (user) weight and the weight from the configuration. */
  weight: number;
  initialWeight: number;
  secondsSinceLastChange: number;
  /** srv_fqdn, undefined when "-". */
  fqdn: string | undefined;
  /** Every column as text, keyed by its header name. */
  raw: Record<string, string>;
}

/** The admin state srv_admin_state bits give a server in practice. */
export function adminMode(flags: number): ServerState['admin'] {
  if (flags & MAINT_MASK) return 'maint';
  if (flags & DRAIN_MASK) return 'drain';
  return 'ready';
}

/** Parses `show servers state [backend]` (format version 1). */
export function parseServersState(text: string): ServerState[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines[0]?.trim() !== '1') throw unexpected('show servers state (expected format version 1)', text);
  const header = lines[1];
  if (header === undefined || !header.startsWith('# ')) throw unexpected('show servers state', text);
  const columns = header.slice(2).trim().split(/\s+/);
  return lines.slice(2).map((line) => {
    const fields = line.trim().split(/\s+/);
    const raw: Record<string, string> = {};
    columns.forEach((name, i) => {
      raw[name] = fields[i] ?? '';
    });
    const num = (name: string): number => {
      const v = Number(raw[name]);
      if (raw[name] === '' || !Number.isFinite(v)) throw unexpected(`show servers state (column ${name})`, line);
      return v;
    };
    const flags = num('srv_admin_state');
    return {
      backendId: num('be_id'),
      backend: raw.be_name!,
      serverId: num('srv_id'),
      server: raw.srv_name!,
      addr: raw.srv_addr!,
      port: num('srv_port'),
      opState: OP_STATES[num('srv_op_state')] ?? 'stopped',
      adminFlags: flags,
      admin: adminMode(flags),
      weight: num('srv_uweight'),
      initialWeight: num('srv_iweight'),
      secondsSinceLastChange: num('srv_time_since_last_change'),
      fqdn: raw.srv_fqdn === '-' || raw.srv_fqdn === undefined ? undefined : raw.srv_fqdn,
      raw,
    };
  });
}
