/** The master CLI (`-S <path>`): process list, reload, and routing to workers. */
import { sendCommand } from './socket.js';
import { parseShowProc, type ShowProc } from './parse.js';

export class MasterCli {
  constructor(
    readonly socketPath: string,
    private readonly timeoutMs = 5000,
  ) {}

  async showProc(): Promise<ShowProc> {
    return parseShowProc(await sendCommand(this.socketPath, 'show proc', { timeoutMs: this.timeoutMs }));
  }

  /**
   * Asks the master to reload. In 2.6 the master re-executes itself at once and
   * closes the connection without a status: confirm with showProc().
   */
  async reload(): Promise<void> {
    await sendCommand(this.socketPath, 'reload', { timeoutMs: this.timeoutMs });
  }

  /** Runs a command in a worker: `which` is a relative number (1 = newest) or `!pid`. */
  toWorker(which: number | `!${number}`, command: string): Promise<string> {
    return sendCommand(this.socketPath, `@${which} ${command}`, { timeoutMs: this.timeoutMs });
  }
}
