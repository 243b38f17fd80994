/**
 * The one client for HAProxy's unix sockets (stats socket and master CLI):
 * one command, its reply whole (sendCommand) or piece by piece as it arrives
 * (streamCommand: the stats reader parses `show stat` while HAProxy is still
 * writing it).
 *
 * HAProxy's non-interactive mode answers one command line and then closes the
 * connection, so a reply is "everything until the peer closes".
 */
import { createConnection } from 'node:net';
import { StringDecoder } from 'node:string_decoder';

export interface SendCommandOptions {
  /** Give up (and close the connection) after this long. Default 5000 ms. */
  timeoutMs?: number;
  /**
   * A payload for the command, sent with HAProxy's payload syntax
   * (`<command> <<`, the payload lines, an empty line). It must pass
   * assertPayload: no empty line inside (HAProxy ends the payload at the first
   * one) and no NUL or lone carriage return. Never part of an error message.
   */
  payload?: string;
  /**
   * Streams the reply: each piece of text as it arrives (a multi-byte
   * character is never split), and sendCommand resolves with ''. When it
   * throws, the reply is not read further and sendCommand rejects with its error.
   */
  onText?: (text: string) => void;
}

/** Why a socket command failed: the socket code (ENOENT, ECONNREFUSED...) or TIMEOUT. */
export class HaproxySocketError extends Error {
  override readonly name = 'HaproxySocketError';
  constructor(
    message: string,
    readonly socketPath: string,
    readonly command: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const FORBIDDEN = /[\n\r;\0]/;

/**
 * Throws when `command` holds a character HAProxy would read as a second
 * command (`;`, a line break) or a NUL. Commands come from code, so such a
 * character is a bug or an injection, never something to pass on.
 */
export function assertSingleCommand(command: string): void {
  if (command.trim() === '') throw new Error('HAProxy command is empty');
  const bad = FORBIDDEN.exec(command);
  if (bad) {
    const what = bad[0] === ';' ? 'a ";" (HAProxy runs it as a second command)' : 'a line break or NUL';
    throw new Error(`Refusing to send HAProxy command ${JSON.stringify(command)}: it contains ${what}`);
  }
}

/**
 * Throws when `payload` cannot be sent as one HAProxy CLI payload: empty, or
 * holding an empty (or whitespace-only) line, which HAProxy reads as the end
 * of the payload so that the rest would run as commands, or a NUL or a
 * carriage return that does not end a line. The message names the line, never
 * its content (payloads hold private keys). Line ends may be LF or CRLF.
 */
export function assertPayload(payload: string): void {
  const lines = normalizePayload(payload).split('\n');
  if (lines.length === 1 && lines[0] === '') throw new Error('HAProxy payload is empty');
  lines.forEach((line, i) => {
    if (line.trim() === '') throw new Error(`Refusing to send HAProxy payload: line ${i + 1} is empty (HAProxy ends a payload at an empty line)`);
    if (/[\0\r]/.test(line)) throw new Error(`Refusing to send HAProxy payload: line ${i + 1} holds a NUL or a carriage return`);
  });
}

/** CRLF → LF, without the trailing line breaks (the payload's end is marked by the empty line sendCommand adds). */
export function normalizePayload(payload: string): string {
  return payload.replace(/\r\n/g, '\n').replace(/\n+$/, '');
}

/** The bytes sent for `command` (and its payload): what HAProxy must fit in one buffer (tune.bufsize). */
export function commandText(command: string, payload?: string): string {
  return payload === undefined ? command + '\n' : `${command} <<\n${normalizePayload(payload)}\n\n`;
}

function hint(code: string): string {
  switch (code) {
    case 'ENOENT':
      return 'the socket file does not exist: is HAProxy running with this socket configured?';
    case 'ECONNREFUSED':
      return 'nobody listens on it: HAProxy is stopped or in the middle of a reload';
    case 'EACCES':
      return 'permission denied: run as the user that owns the socket';
    default:
      return code;
  }
}

/**
 * Sends `command` (and its payload) and resolves with HAProxy's whole reply
 * text. Rejects (without connecting) when the command holds `;` or a line
 * break, or the payload fails assertPayload.
 */
export function sendCommand(socketPath: string, command: string, options: SendCommandOptions = {}): Promise<string> {
  try {
    assertSingleCommand(command);
    // HAProxy reads a line ending with "<<" (3.0: "<<" and up to 7 more characters) as the start of a payload.
    if (/(^|\s)<<\S{0,7}$/.test(command.trim())) {
      throw new Error(`Refusing to send HAProxy command ${JSON.stringify(command)}: it ends with "<<"; pass the payload as options.payload`);
    }
    if (options.payload !== undefined) assertPayload(options.payload);
  } catch (err) {
    return Promise.reject(err);
  }
  const timeoutMs = options.timeoutMs ?? 5000;
  const onText = options.onText;
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const decoder = onText && new StringDecoder('utf8');
    let settled = false;
    const socket = createConnection({ path: socketPath });
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) return reject(err);
      if (!decoder) return resolve(Buffer.concat(chunks).toString('utf8'));
      try {
        const tail = decoder.end();
        if (tail !== '') onText(tail);
        resolve('');
      } catch (e) {
        reject(e as Error);
      }
    };
    const timer = setTimeout(() => {
      finish(new HaproxySocketError(`HAProxy socket ${socketPath}: no complete reply to "${command}" within ${timeoutMs} ms`, socketPath, command, 'TIMEOUT'));
    }, timeoutMs);
    // Half-close after the command: the master CLI answers only once the client has finished sending.
    socket.on('connect', () => socket.end(commandText(command, options.payload)));
    socket.on('data', (chunk: Buffer) => {
      if (!decoder) return void chunks.push(chunk);
      try {
        onText(decoder.write(chunk));
      } catch (err) {
        finish(err as Error); // the reply is not what was expected: stop reading it
      }
    });
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    socket.on('error', (cause: NodeJS.ErrnoException) => {
      const code = cause.code ?? 'EUNKNOWN';
      finish(new HaproxySocketError(`HAProxy socket ${socketPath}: "${command}" failed: ${hint(code)}`, socketPath, command, code, { cause }));
    });
  });
}

/** Sends `command` and hands its reply to `onText` piece by piece as it arrives (see SendCommandOptions.onText). */
export async function streamCommand(socketPath: string, command: string, onText: (text: string) => void, timeoutMs = 5000): Promise<void> {
  await sendCommand(socketPath, command, { timeoutMs, onText });
}
