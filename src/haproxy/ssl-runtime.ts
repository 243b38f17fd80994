/**
 * Certificates through the runtime API (stats socket, `level admin`), without
 * a reload: update a loaded certificate, load a new one and add it to a
 * crt-list, remove one, update a CA file, read a loaded certificate back.
 *
 * HAProxy keeps one certificate transaction and one CA-file transaction at a
 * time, for the whole process: `set ssl cert` opens (or updates) it, `commit`
 * applies it, `abort` drops it. Every operation here aborts its transaction
 * when a step fails, so a refused payload leaves the running certificate as
 * it was and no transaction behind.
 *
 * Measured on 2.6.12 and 3.0.11 (same replies on both, except where noted):
 * - `set ssl cert P <<` answers "Transaction created|updated for certificate P!";
 *   a payload HAProxy cannot read answers "unable to load certificate ...\n
 *   Can't load the payload\nCan't update P!" (3.0 adds OpenSSL's reason) and
 *   opens no transaction;
 * - `commit ssl cert P` answers "Committing P.\nSuccess!";
 * - a command larger than tune.bufsize (16384 bytes by default) gets no reply
 *   at all on 2.6 (the connection is closed) and "The command is too big for
 *   the buffer size..." on 3.0: payloads are checked against bufsizeBytes
 *   before they are sent;
 * - `del ssl crt-list` refuses the bind's default certificate (the first line
 *   of the crt-list), and `del ssl cert` refuses a certificate still in a
 *   crt-list;
 * - `set ssl ca-file` + `commit ssl ca-file` work on both (a bind's
 *   `ca-file` for client certificates is replaced in place).
 *
 * Payloads hold private keys: they never appear in an error or a log line.
 */
import { HaproxySocketError, commandText, sendCommand } from './socket.js';
import { RuntimeApiError } from './runtime.js';

/** HAProxy's default tune.bufsize: a CLI command and its payload must fit in one buffer. */
export const DEFAULT_CLI_BUFSIZE_BYTES = 16384;

export interface SslRuntimeOptions {
  /** The `stats socket` path declared with `level admin`. */
  socketPath: string;
  /** Per command. Default 5000 ms. */
  timeoutMs?: number;
  /** HAProxy's tune.bufsize: larger commands are refused before sending. Default 16384. */
  bufsizeBytes?: number;
  /** How long to retry while HAProxy answers "Operations on certificates are currently locked". Default 2000 ms. */
  lockedRetryMs?: number;
}

/** What `show ssl cert <path>` reports about a loaded certificate. */
export interface LoadedCertificate {
  filename: string;
  /** "Used" or "Unused" (a certificate loaded with `new ssl cert` and in no crt-list). */
  status?: string;
  /** Uppercase hex, as HAProxy prints it. */
  serial: string;
  notBefore?: Date;
  notAfter?: Date;
  subject?: string;
  issuer?: string;
  /** DNS names from the subject alternative name. */
  dnsNames: string[];
  algorithm?: string;
  sha1Fingerprint?: string;
}

/** Parses the reply of `show ssl cert <path>`. Pure. */
export function parseShowSslCert(reply: string): LoadedCertificate {
  const fields = new Map<string, string>();
  for (const line of reply.split('\n')) {
    const m = /^([A-Za-z][A-Za-z0-9 ]*?):\s?(.*)$/.exec(line);
    if (m && !fields.has(m[1]!)) fields.set(m[1]!, m[2]!.trim());
  }
  const filename = fields.get('Filename');
  const serial = fields.get('Serial');
  if (filename === undefined || serial === undefined) {
    throw new Error(`Cannot read "show ssl cert": expected "Filename:" and "Serial:" lines, got ${JSON.stringify(reply.slice(0, 200))}`);
  }
  const date = (k: string): Date | undefined => {
    const v = fields.get(k);
    const d = v ? new Date(v) : undefined;
    return d && !Number.isNaN(d.getTime()) ? d : undefined;
  };
  const out: LoadedCertificate = { filename, serial, dnsNames: [] };
  const status = fields.get('Status');
  if (status) out.status = status;
  const notBefore = date('notBefore');
  if (notBefore) out.notBefore = notBefore;
  const notAfter = date('notAfter');
  if (notAfter) out.notAfter = notAfter;
  if (fields.get('Subject')) out.subject = fields.get('Subject');
  if (fields.get('Issuer')) out.issuer = fields.get('Issuer');
  if (fields.get('Algorithm')) out.algorithm = fields.get('Algorithm');
  if (fields.get('SHA1 FingerPrint')) out.sha1Fingerprint = fields.get('SHA1 FingerPrint');
  out.dnsNames = (fields.get('Subject Alternative Name') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4));
  return out;
}

// Paths go on the command line as one word: HAProxy splits on spaces and reads "\", ";" and "#" specially.
const PATH = /^\/[A-Za-z0-9._+@/-]+$/;
// SNI filters: DNS names, wildcards ("*.example.com") and negations ("!a.example.com").
const FILTER = /^!?[A-Za-z0-9*][A-Za-z0-9*._-]*$/;

function assertPath(what: string, path: string): void {
  if (!PATH.test(path) || path.includes('/../') || path.endsWith('/..')) {
    throw new Error(
      `Invalid ${what} path ${JSON.stringify(path)}: runtime commands take an absolute path of letters, digits and "._+@/-" (no spaces), as written in haproxy.cfg`,
    );
  }
}

const PEM_LINE = /^(-----(BEGIN|END) [A-Z0-9 ]+-----|[A-Za-z0-9+/=]+)$/;

/**
 * Throws unless `pem` is PEM text only: one or more BEGIN/END blocks of
 * base64 lines, nothing between or around them, no empty line (HAProxy ends
 * a payload at an empty line). Names the line, never its content. Pure.
 */
export function assertPemPayload(what: string, pem: string): void {
  const lines = pem.replace(/\r\n/g, '\n').replace(/\n+$/, '').split('\n');
  if (lines.length === 1 && lines[0] === '') throw new Error(`${what}: the PEM text is empty`);
  let open: string | undefined;
  let blocks = 0;
  lines.forEach((line, i) => {
    const where = `${what}: PEM line ${i + 1}`;
    if (line.trim() === '') throw new Error(`${where} is empty (HAProxy would end the payload there); remove empty lines`);
    if (!PEM_LINE.test(line)) throw new Error(`${where} is not PEM (only BEGIN/END lines and base64 are sent to HAProxy)`);
    const m = /^-----(BEGIN|END) ([A-Z0-9 ]+)-----$/.exec(line);
    if (m?.[1] === 'BEGIN') {
      if (open !== undefined) throw new Error(`${where} opens "${m[2]}" inside "${open}"`);
      open = m[2];
    } else if (m?.[1] === 'END') {
      if (open !== m[2]) throw new Error(`${where} ends "${m[2]}" but ${open ? `"${open}" is open` : 'no block is open'}`);
      open = undefined;
      blocks++;
    } else if (open === undefined) throw new Error(`${where} is outside a BEGIN/END block`);
  });
  if (open !== undefined) throw new Error(`${what}: the PEM block "${open}" has no END line`);
  if (blocks === 0) throw new Error(`${what}: no PEM block`);
}

/** The reply's lines joined, as one sentence for an error message. */
function haproxyWords(reply: string): string {
  const words = reply
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .join(' / ');
  return words || '(no reply: HAProxy closed the connection; on 2.6 this is what a command larger than tune.bufsize gets)';
}

const LOCKED = /Operations on certificates are currently locked/;

export class SslRuntime {
  readonly socketPath: string;
  private readonly timeoutMs: number;
  private readonly bufsize: number;
  private readonly lockedRetryMs: number;

  constructor(options: SslRuntimeOptions) {
    this.socketPath = options.socketPath;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.bufsize = options.bufsizeBytes ?? DEFAULT_CLI_BUFSIZE_BYTES;
    this.lockedRetryMs = options.lockedRetryMs ?? 2000;
  }

  /** Sends one command (retrying while certificate operations are locked by another commit) and returns the trimmed reply. */
  private async send(command: string, payload?: string): Promise<string> {
    if (payload !== undefined) {
      const bytes = Buffer.byteLength(commandText(command, payload));
      // The command line, the payload and HAProxy's own bookkeeping share one buffer of tune.bufsize bytes.
      if (bytes > this.bufsize - 16) {
        throw new RuntimeApiError(
          `Refusing to send "${command} <<": the command and its payload are ${bytes} bytes, and HAProxy reads at most tune.bufsize (${this.bufsize} bytes) per command; raise tune.bufsize (and bufsizeBytes) or apply the certificate with a reload`,
          `${command} <<`,
          '',
        );
      }
    }
    const deadline = Date.now() + this.lockedRetryMs;
    for (;;) {
      const reply = (await sendCommand(this.socketPath, command, { timeoutMs: this.timeoutMs, ...(payload !== undefined ? { payload } : {}) })).trim();
      if (!LOCKED.test(reply) || Date.now() >= deadline) return reply;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private async expect(command: string, accept: (reply: string) => boolean, payload?: string): Promise<string> {
    const reply = await this.send(command, payload);
    if (accept(reply)) return reply;
    const shown = payload === undefined ? command : `${command} <<`;
    throw new RuntimeApiError(`HAProxy refused "${shown}": ${haproxyWords(reply)}`, shown, reply);
  }

  /**
   * Replaces the content of a certificate HAProxy has loaded (from a crt-list
   * or a `crt`): `set ssl cert` + `commit ssl cert`, `abort ssl cert` when
   * either fails. New handshakes use the new certificate once this resolves.
   */
  async updateCert(path: string, pem: string): Promise<void> {
    assertPath('certificate', path);
    assertPemPayload(`certificate ${path}`, pem);
    await this.transaction('cert', path, pem);
  }

  /**
   * Loads a certificate HAProxy does not know yet (`new ssl cert` + set +
   * commit), ready for addCrtListLine. On failure the empty entry is deleted
   * again.
   */
  async newCert(path: string, pem: string): Promise<void> {
    assertPath('certificate', path);
    assertPemPayload(`certificate ${path}`, pem);
    await this.expect(`new ssl cert ${path}`, (r) => r.startsWith('New empty certificate store'));
    try {
      await this.transaction('cert', path, pem);
    } catch (err) {
      await this.send(`del ssl cert ${path}`).catch(() => undefined);
      throw err;
    }
  }

  /**
   * `add ssl crt-list <crtList> <<` with the line `<path> <filters...>`: the
   * certificate (loaded, see newCert) is served for those SNI names on every
   * bind that uses the crt-list. Without filters HAProxy takes the names from
   * the certificate.
   */
  async addCrtListLine(crtList: string, path: string, sniFilters: readonly string[] = []): Promise<void> {
    assertPath('crt-list', crtList);
    assertPath('certificate', path);
    for (const f of sniFilters) {
      if (!FILTER.test(f)) throw new Error(`Invalid SNI filter ${JSON.stringify(f)} for ${path}: expected a DNS name, "*.name" or "!name"`);
    }
    await this.expect(`add ssl crt-list ${crtList}`, (r) => /(^|\n)Success!$/.test(r), [path, ...sniFilters].join(' '));
  }

  /** `del ssl crt-list <crtList> <path>`: stops serving the certificate on that crt-list's binds (not for the default certificate). */
  async delCrtListLine(crtList: string, path: string): Promise<void> {
    assertPath('crt-list', crtList);
    assertPath('certificate', path);
    await this.expect(`del ssl crt-list ${crtList} ${path}`, (r) => r.startsWith('Entry ') && r.includes(' deleted in crtlist '));
  }

  /** `del ssl cert <path>`: unloads a certificate that no crt-list uses any more. */
  async delCert(path: string): Promise<void> {
    assertPath('certificate', path);
    await this.expect(`del ssl cert ${path}`, (r) => /^Certificate '.*' deleted!$/.test(r));
  }

  /**
   * Replaces a CA file HAProxy has loaded (a bind's `ca-file` for client
   * certificates, a server's `ca-file`): `set ssl ca-file` + `commit ssl
   * ca-file`, `abort ssl ca-file` when either fails. Available on 2.6 and 3.0.
   */
  async updateCaFile(path: string, pem: string): Promise<void> {
    assertPath('CA file', path);
    assertPemPayload(`CA file ${path}`, pem);
    await this.transaction('ca-file', path, pem);
  }

  /** `show ssl cert <path>`: serial, validity, names of the certificate HAProxy serves (the committed one). */
  async showCert(path: string): Promise<LoadedCertificate> {
    assertPath('certificate', path);
    return parseShowSslCert(await this.expect(`show ssl cert ${path}`, (r) => r.startsWith('Filename:')));
  }

  /** `show ssl cert`: the loaded certificates, and the one with an uncommitted transaction. */
  async listCerts(): Promise<{ loaded: string[]; transaction?: string }> {
    const reply = await this.expect('show ssl cert', (r) => r.startsWith('#') || r === '');
    const loaded: string[] = [];
    let transaction: string | undefined;
    for (const line of reply.split('\n')) {
      if (line.startsWith('*')) transaction = line.slice(1);
      else if (line !== '' && !line.startsWith('#')) loaded.push(line);
    }
    return { loaded, ...(transaction !== undefined ? { transaction } : {}) };
  }

  private async transaction(kind: 'cert' | 'ca-file', path: string, pem: string): Promise<void> {
    try {
      await this.setAndCommit(kind, path, pem).catch(async (err: unknown) => {
        // A transaction left open on another file (by a crashed run, or a person at the CLI) blocks ours: abort it once and retry.
        const stale = err instanceof RuntimeApiError ? /The ongoing transaction is about '([^']+)'/.exec(err.reply)?.[1] : undefined;
        if (stale === undefined || stale === path || !PATH.test(stale)) throw err;
        await this.expect(`abort ssl ${kind} ${stale}`, (r) => /aborted/i.test(r));
        await this.setAndCommit(kind, path, pem);
      });
    } catch (err) {
      // Drop our transaction (if any) so the next operation starts clean; the committed certificate keeps serving.
      await this.send(`abort ssl ${kind} ${path}`).catch(() => undefined);
      if (err instanceof HaproxySocketError)
        throw new Error(`Updating ${kind === 'cert' ? 'certificate' : 'CA file'} ${path} failed: ${err.message}`, { cause: err });
      throw err;
    }
  }

  private async setAndCommit(kind: 'cert' | 'ca-file', path: string, pem: string): Promise<void> {
    const set = kind === 'cert' ? /^Transaction (created|updated) for certificate / : /^transaction (created|updated) for CA /i;
    await this.expect(`set ssl ${kind} ${path}`, (r) => set.test(r), pem);
    await this.expect(`commit ssl ${kind} ${path}`, (r) => /(^|\n)Success!$/.test(r));
  }
}
