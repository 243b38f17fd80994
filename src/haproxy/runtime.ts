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
import { createConnection, isIP } from 'node:net';
import { assertSingleCommand, HaproxySocketError, sendCommand } from './socket.js';
import { parseServersState, parseShowInfo, parseShowStat, type ServerState, type StatRow } from './parse.js';

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
// ("Invalid addr ...", "problem converting port ..."). When neither changes,
// 2.6 says "no need to change the addr, no need to change the port by '...'"
// and 3.0 says "nothing changed" (and names only what changed otherwise):
// both are a success (measured on 2.6.12 and 3.0.11).
const ADDR_CLAUSE = /^(IP changed from '[^']*' to '[^']*'|no need to change the addr|port changed from '[^']*' to '[^']*'|no need to change the port)$/;
export function addrChanged(reply: string): boolean {
  if (reply === 'nothing changed') return true;
  const body = reply.replace(/ by '[^']*'$/, '');
  return body !== '' && body.split(', ').every((clause) => ADDR_CLAUSE.test(clause));
}

/** One command with the check its reply must pass (HAProxy reports errors as plain text). */
export interface RuntimeCommand {
  command: string;
  accept: (reply: string) => boolean;
}

/** What one command of a batch got back. */
export interface BatchReply {
  command: string;
  reply: string;
  ok: boolean;
}

/**
 * Validated server commands, shared by the one-command methods and batch().
 * Each throws (before anything is sent) on a bad name, state, address or weight.
 */
export const serverCommands = {
  add(backend: string, server: string, argsString: string): RuntimeCommand {
    const srv = target(backend, server);
    if (argsString.trim() === '') throw new Error(`addServer ${srv}: argsString needs at least the address`);
    return { command: `add server ${srv} ${argsString.trim()}`, accept: (r) => r === 'New server registered.' };
  },
  del(backend: string, server: string): RuntimeCommand {
    return { command: `del server ${target(backend, server)}`, accept: (r) => r === 'Server deleted.' };
  },
  state(backend: string, server: string, state: ServerAdminState): RuntimeCommand {
    const srv = target(backend, server);
    if (state !== 'ready' && state !== 'drain' && state !== 'maint') {
      throw new Error(`setServerState: state must be ready, drain or maint, not ${JSON.stringify(state)}`);
    }
    return { command: `set server ${srv} state ${state}`, accept: EMPTY };
  },
  addr(backend: string, server: string, addr: string, port: number): RuntimeCommand {
    const srv = target(backend, server);
    if (isIP(addr) === 0) throw new Error(`setServerAddr ${srv}: ${JSON.stringify(addr)} is not an IP address`);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new Error(`setServerAddr ${srv}: port must be an integer from 1 to 65535, not ${port}`);
    }
    return { command: `set server ${srv} addr ${addr} port ${port}`, accept: addrChanged };
  },
  weight(backend: string, server: string, weight: number): RuntimeCommand {
    const srv = target(backend, server);
    if (!Number.isInteger(weight) || weight < 0 || weight > 256) {
      throw new Error(`setServerWeight ${srv}: weight must be an integer from 0 to 256, not ${weight}`);
    }
    return { command: `set server ${srv} weight ${weight}`, accept: EMPTY };
  },
  enableHealth(backend: string, server: string): RuntimeCommand {
    return { command: `enable health ${target(backend, server)}`, accept: EMPTY };
  },
  disableHealth(backend: string, server: string): RuntimeCommand {
    return { command: `disable health ${target(backend, server)}`, accept: EMPTY };
  },
  /** Closes every stream on the server (before deleting it). */
  shutdownSessions(backend: string, server: string): RuntimeCommand {
    return { command: `shutdown sessions server ${target(backend, server)}`, accept: EMPTY };
  },
};

// In interactive mode ("prompt") HAProxy ends every command's reply with "\n> ".
const PROMPT = '\n> ';

/**
 * Splits what an interactive session answered into one reply per command.
 * The session is "prompt", the commands, "quit": HAProxy prints the prompt
 * after "prompt" and after each command, and nothing after "quit". Returns
 * undefined when the count does not match (a cut connection, a reply that
 * held a prompt).
 */
export function splitPromptReplies(output: string, commands: number): string[] | undefined {
  const parts = output.split(PROMPT);
  // [reply of "prompt" (empty), reply 1, ..., reply n, "" (after the last prompt; quit prints nothing)]
  if (parts.length !== commands + 2 || parts[0]!.trim() !== '' || parts[parts.length - 1] !== '') return undefined;
  return parts.slice(1, -1).map((p) => p.trim());
}

export function describeRefusal(command: string, reply: string): string {
  const hint = HINTS.find(([re]) => re.test(reply))?.[1];
  const firstLine = reply.split('\n')[0] || '(empty reply)';
  return `HAProxy refused "${command}": ${firstLine}${hint ? ` (${hint})` : ''}`;
}

const HINTS: [RegExp, string][] = [
  [/Only servers in maintenance mode can be deleted/, 'set its state to maint first'],
  [/still has connections|connections attached/i, 'wait until its connections end (drain or maint, then retry)'],
  [/Permission denied|Access denied/i, 'the stats socket needs "level admin"'],
  [/Unknown command/, 'this HAProxy version does not know the command'],
];

export class RuntimeApi {
  readonly socketPath: string;
  private readonly timeoutMs: number;

  constructor(options: RuntimeApiOptions) {
    this.socketPath = options.socketPath;
    this.timeoutMs = options.timeoutMs ?? 5000;
  }

  /**
   * Sends one command and returns the raw reply (no error check). With a
   * payload, sends `<command> <<`, the payload and an empty line (see
   * assertPayload in socket.ts for what a payload may hold).
   */
  execute(command: string, payload?: string): Promise<string> {
    return sendCommand(this.socketPath, command, { timeoutMs: this.timeoutMs, ...(payload !== undefined ? { payload } : {}) });
  }

  private async expect(command: string, accept: (reply: string) => boolean): Promise<string> {
    const reply = (await this.execute(command)).trim();
    if (accept(reply)) return reply;
    throw new RuntimeApiError(describeRefusal(command, reply), command, reply);
  }

  private run(c: RuntimeCommand): Promise<string> {
    return this.expect(c.command, c.accept);
  }

  /**
   * Runs many commands over one connection, in order, and checks each reply.
   * Uses HAProxy's interactive mode (one command per line, a prompt after
   * each reply), so every reply is matched to its command; a failed command
   * does not stop the ones after it. Rejects (HaproxySocketError) only when
   * the session itself fails or the replies cannot be matched, in which case
   * any prefix of the commands may have run.
   */
  async batch(commands: readonly RuntimeCommand[], options: { chunkSize?: number } = {}): Promise<BatchReply[]> {
    for (const c of commands) assertSingleCommand(c.command);
    const chunk = options.chunkSize ?? 500;
    const out: BatchReply[] = [];
    for (let i = 0; i < commands.length; i += chunk) {
      const part = commands.slice(i, i + chunk);
      const replies = await this.session(part.map((c) => c.command));
      part.forEach((c, j) => out.push({ command: c.command, reply: replies[j]!, ok: c.accept(replies[j]!) }));
    }
    return out;
  }

  private session(commands: string[]): Promise<string[]> {
    const path = this.socketPath;
    const label = `${commands.length} batched command(s) starting with "${commands[0]}"`;
    const timeoutMs = this.timeoutMs + commands.length * 2;
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let settled = false;
      const socket = createConnection({ path });
      const finish = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (err) return reject(err);
        const replies = splitPromptReplies(Buffer.concat(chunks).toString('utf8'), commands.length);
        if (replies) return resolve(replies);
        reject(
          new HaproxySocketError(`HAProxy socket ${path}: the replies to ${label} do not match the commands (connection cut?)`, path, commands[0]!, 'EBATCH'),
        );
      };
      const timer = setTimeout(
        () => finish(new HaproxySocketError(`HAProxy socket ${path}: no complete reply to ${label} within ${timeoutMs} ms`, path, commands[0]!, 'TIMEOUT')),
        timeoutMs,
      );
      socket.on('connect', () => socket.write(`prompt\n${commands.join('\n')}\nquit\n`));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('end', () => finish());
      socket.on('close', () => finish());
      socket.on('error', (cause: NodeJS.ErrnoException) =>
        finish(
          new HaproxySocketError(`HAProxy socket ${path}: ${label} failed: ${cause.code ?? cause.message}`, path, commands[0]!, cause.code ?? 'EUNKNOWN', {
            cause,
          }),
        ),
      );
    });
  }

  async showServersState(backend?: string): Promise<ServerState[]> {
    if (backend !== undefined) assertName('backend', backend);
    const command = backend === undefined ? 'show servers state' : `show servers state ${backend}`;
    const reply = await this.expect(command, (r) => r.startsWith('1\n') || r === '1');
    return parseServersState(reply);
  }

  async showStat(): Promise<StatRow[]> {
    return parseShowStat(await this.expect('show stat', (r) => r.startsWith('# ')));
  }

  async showInfo(): Promise<Record<string, string | number>> {
    return parseShowInfo(await this.expect('show info', (r) => r.startsWith('Name:')));
  }

  /**
   * `add server backend/server <argsString>`, e.g. "10.0.0.1:8080 check weight 10".
   * The server starts in maint and ignores default-server.
   */
  async addServer(backend: string, server: string, argsString: string): Promise<void> {
    await this.run(serverCommands.add(backend, server, argsString));
  }

  /** Deletes a server that is in maint and has no connections left. */
  async delServer(backend: string, server: string): Promise<void> {
    await this.run(serverCommands.del(backend, server));
  }

  async setServerState(backend: string, server: string, state: ServerAdminState): Promise<void> {
    await this.run(serverCommands.state(backend, server, state));
  }

  /** Sets address (an IP literal: HAProxy resolves no names here) and port. */
  async setServerAddr(backend: string, server: string, addr: string, port: number): Promise<void> {
    await this.run(serverCommands.addr(backend, server, addr, port));
  }

  /** Absolute weight, 0 to 256. */
  async setServerWeight(backend: string, server: string, weight: number): Promise<void> {
    await this.run(serverCommands.weight(backend, server, weight));
  }

  /** Starts health checks (needed for servers added with `check`). */
  async enableHealth(backend: string, server: string): Promise<void> {
    await this.run(serverCommands.enableHealth(backend, server));
  }

  async disableHealth(backend: string, server: string): Promise<void> {
    await this.run(serverCommands.disableHealth(backend, server));
  }
}
