/**
 * The runtime API (stats socket, `level admin`): read state and change servers
 * without a reload. Every change checks HAProxy's reply, since HAProxy reports
 * errors as ordinary text.
 *
 * Measured on 2.6: a server made with `add server` does not inherit
 * `default-server` and starts in maint (follow with setServerState 'ready',
 * and enableHealth when it has `check`); `del server` needs the server in
 * maint and without connections.
 */
import { isIP } from 'node:net';
import { sendCommand } from './socket.js';
import {
  parseServersState,
  parseShowInfo,
  parseShowStat,
  type ServerState,
  type StatRow,
} from './parse.js';

export type ServerAdminState = 'ready' | 'drain' | 'maint';

export interface RuntimeApiOptions {
  /** The `stats socket` path declared with `level admin`. */
  socketPath: string;
  /** Per command. Default 5000 ms. */
  timeoutMs?: number;
}

/** HAProxy answered a runtime command with an error text. */
export class RuntimeApiError extends Error {
  override readonly name = 'RuntimeApiError';
  constructor(
    message: string,
    readonly command: string,
    readonly reply: string,
  ) {
    super(message);
  }
}

// HAProxy's own rule for proxy and server names (invalid_char in tools.c).
const NAME = /^[A-Za-z0-9_.:-]+$/;

function assertName(kind: string, name: string): void {
  if (!NAME.test(name)) {
    throw new Error(`Invalid ${kind} name ${JSON.stringify(name)}: HAProxy names use only letters, digits and "_.:-"`);
  }
}

/** "backend/server", after checking both names. */
function target(backend: string, server: string): string {
  assertName('backend', backend);
  assertName('server', server);
  return `${backend}/${server}`;
}

const EMPTY = (reply: string): boolean => reply === '';

// `set server addr` answers with clauses like "IP changed from 'a' to 'b', port
// changed from '1' to '2' by 'stats socket command'"; errors come as other text
// ("Invalid addr ...", "problem converting port ...").
const ADDR_CLAUSE = /^(IP changed from '[^']*' to '[^']*'|no need to change the addr|port changed from '[^']*' to '[^']*'|no need to change the port)$/;
function addrChanged(reply: string): boolean {
  const body = reply.replace(/ by '[^']*'$/, '');
  return body !== '' && body.split(', ').every((clause) => ADDR_CLAUSE.test(clause));
}

const HINTS: [RegExp, string][] = [
  [/Only servers in maintenance mode can be deleted/, 'set its state to maint first'],
  [/still has connections|connections attached/i, 'wait until its connections end (drain or maint, then retry)'],
  [/Permission denied|Access denied/i, 'the stats socket needs "level admin"'],
  [/Unknown command/, 'this HAProxy version does not know the command'],
];

export class RuntimeApi {
  readonly socketPath: string;
  readonly #timeoutMs: number;

  constructor(options: RuntimeApiOptions) {
    this.socketPath = options.socketPath;
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  /** Sends one command and returns the raw reply (no error check). */
  execute(command: string): Promise<string> {
    return sendCommand(this.socketPath, command, { timeoutMs: this.#timeoutMs });
  }

  async #expect(command: string, accept: (reply: string) => boolean): Promise<string> {
    const reply = (await this.execute(command)).trim();
    if (accept(reply)) return reply;
    const hint = HINTS.find(([re]) => re.test(reply))?.[1];
    const firstLine = reply.split('\n')[0] || '(empty reply)';
    throw new RuntimeApiError(
      `HAProxy refused "${command}": ${firstLine}${hint ? ` (${hint})` : ''}`,
      command,
      reply,
    );
  }

  async showServersState(backend?: string): Promise<ServerState[]> {
    if (backend !== undefined) assertName('backend', backend);
    const command = backend === undefined ? 'show servers state' : `show servers state ${backend}`;
    const reply = await this.#expect(command, (r) => r.startsWith('1\n') || r === '1');
    return parseServersState(reply);
  }

  async showStat(): Promise<StatRow[]> {
    return parseShowStat(await this.#expect('show stat', (r) => r.startsWith('# ')));
  }

  async showInfo(): Promise<Record<string, string | number>> {
    return parseShowInfo(await this.#expect('show info', (r) => r.startsWith('Name:')));
  }

  /**
   * `add server backend/server <argsString>`, e.g. "10.0.0.1:8080 check weight 10".
   * The server starts in maint and ignores default-server.
   */
  async addServer(backend: string, server: string, argsString: string): Promise<void> {
    const srv = target(backend, server);
    if (argsString.trim() === '') throw new Error(`addServer ${srv}: argsString needs at least the address`);
    await this.#expect(`add server ${srv} ${argsString.trim()}`, (r) => r === 'New server registered.');
  }

  /** Deletes a server that is in maint and has no connections left. */
  async delServer(backend: string, server: string): Promise<void> {
    const srv = target(backend, server);
    await this.#expect(`del server ${srv}`, (r) => r === 'Server deleted.');
  }

  async setServerState(backend: string, server: string, state: ServerAdminState): Promise<void> {
    const srv = target(backend, server);
    if (state !== 'ready' && state !== 'drain' && state !== 'maint') {
      throw new Error(`setServerState: state must be ready, drain or maint, not ${JSON.stringify(state)}`);
    }
    await this.#expect(`set server ${srv} state ${state}`, EMPTY);
  }

  /** Sets address (an IP literal: HAProxy resolves no names here) and port. */
  async setServerAddr(backend: string, server: string, addr: string, port: number): Promise<void> {
    const srv = target(backend, server);
    if (isIP(addr) === 0) throw new Error(`setServerAddr ${srv}: ${JSON.stringify(addr)} is not an IP address`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`setServerAddr ${srv}: port must be an integer from 1 to 65535, not ${port}`);
    }
    await this.#expect(`set server ${srv} addr ${addr} port ${port}`, addrChanged);
  }

  /** Absolute weight, 0 to 256. */
  async setServerWeight(backend: string, server: string, weight: number): Promise<void> {
    const srv = target(backend, server);
    if (!Number.isInteger(weight) || weight < 0 || weight > 256) {
      throw new Error(`setServerWeight ${srv}: weight must be an integer from 0 to 256, not ${weight}`);
    }
    await this.#expect(`set server ${srv} weight ${weight}`, EMPTY);
  }

  /** Starts health checks (needed for servers added with `check`). */
  async enableHealth(backend: string, server: string): Promise<void> {
    const srv = target(backend, server);
    await this.#expect(`enable health ${srv}`, EMPTY);
  }

  async disableHealth(backend: string, server: string): Promise<void> {
    const srv = target(backend, server);
    await this.#expect(`disable health ${srv}`, EMPTY);
  }
}
