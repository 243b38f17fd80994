/** WebSocket test clients for the live stats stream tests (unit and integration observe-stream). */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import type { TestContext } from 'node:test';
import { WebSocket } from 'ws';

export interface StreamClient {
  ws: WebSocket;
  /** Every message received so far, parsed. */
  messages: any[];
  /** The next message (after those already returned) that satisfies `pred`. */
  next(pred?: (m: any) => boolean, timeoutMs?: number): Promise<any>;
}

/** A ws client on ws://127.0.0.1:<port><path>, collecting parsed JSON messages; terminated after the test. */
export async function streamClient(t: TestContext, port: number, path = '/stream', headers: Record<string, string> = {}): Promise<StreamClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
  t.after(() => ws.terminate());
  const messages: any[] = [];
  let waiter: (() => void) | undefined;
  ws.on('message', (d) => {
    messages.push(JSON.parse(d.toString()));
    waiter?.();
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  let seen = 0;
  return {
    ws,
    messages,
    async next(pred = () => true, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        while (seen < messages.length) {
          const m = messages[seen++];
          if (pred(m)) return m;
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages.map((m) => m.type))}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
}

/**
 * A WebSocket client on a raw socket: it does the handshake, then only
 * writes (sendText): it never reads what the server sends and never answers
 * a ping. Destroyed after the test.
 */
export async function rawStreamClient(t: TestContext, port: number, path = '/stream'): Promise<{ socket: Socket; sendText(text: string): void }> {
  const socket = connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  await new Promise((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        socket.off('data', onData);
        socket.pause();
        resolve();
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
  if (!head.startsWith('HTTP/1.1 101')) throw new Error(`WebSocket handshake refused: ${head.split('\r\n')[0]}`);
  return {
    socket,
    sendText(text: string) {
      // Client frames are masked (RFC 6455 5.3).
      const payload = Buffer.from(text);
      const mask = randomBytes(4);
      const header =
        payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 255]);
      socket.write(Buffer.concat([header, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))]));
    },
  };
}
