/**
 * One command over an HAProxy unix socket, its reply handed over piece by
 * piece as it arrives (the stats reader parses `show stat` while HAProxy is
 * still writing it). Same rules as sendCommand: one command, the reply ends
 * when HAProxy closes.
 */
import { createConnection } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { assertSingleCommand, HaproxySocketError } from '../haproxy/socket.js';

export function streamCommand(socketPath: string, command: string, onText: (text: string) => void, timeoutMs = 5000): Promise<void> {
  try {
    assertSingleCommand(command);
  } catch (err) {
    return Promise.reject(err);
  }
  return new Promise<void>((resolve, reject) => {
    const decoder = new StringDecoder('utf8');
    const socket = createConnection({ path: socketPath });
    let settled = false;
    const finish = (err?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) return reject(err);
      try {
        const tail = decoder.end();
        if (tail !== '') onText(tail);
        resolve();
      } catch (e) {
        reject(e as Error);
      }
    };
    const timer = setTimeout(
      () =>
        finish(
          new HaproxySocketError(`HAProxy socket ${socketPath}: no complete reply to "${command}" within ${timeoutMs} ms`, socketPath, command, 'TIMEOUT'),
        ),
      timeoutMs,
    );
    socket.on('connect', () => socket.end(command + '\n'));
    socket.on('data', (chunk: Buffer) => {
      try {
        onText(decoder.write(chunk));
      } catch (err) {
        finish(err as Error); // the reply is not what was expected: stop reading it
      }
    });
    socket.on('end', () => finish());
    socket.on('close', () => finish());
    socket.on('error', (cause: NodeJS.ErrnoException) =>
      finish(
        new HaproxySocketError(
          `HAProxy socket ${socketPath}: "${command}" failed: ${cause.code ?? cause.message}`,
          socketPath,
          command,
          cause.code ?? 'EUNKNOWN',
          { cause },
        ),
      ),
    );
  });
}
