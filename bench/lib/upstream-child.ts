/**
 * Child process: HTTP upstreams on 127.0.0.1 (OS-chosen ports) answering
 * 200 with their name. Prints {"ports":[...]} on stdout once listening and
 * exits when its parent closes stdin or sends SIGTERM.
 * Usage: node upstream-child.js <count>
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const count = Number(process.argv[2] ?? '2');
const servers: Server[] = [];
for (let i = 0; i < count; i++) {
  const name = `u${i}`;
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(name.length) });
    res.end(name);
  });
  // HAProxy keeps idle server connections for reuse; never close one under it.
  server.keepAliveTimeout = 0;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  servers.push(server);
}
process.stdout.write(JSON.stringify({ ports: servers.map((s) => (s.address() as AddressInfo).port) }) + '\n');
const exit = (): void => {
  for (const s of servers) s.closeAllConnections();
  process.exit(0);
};
process.stdin.on('end', exit);
process.stdin.on('close', exit);
process.stdin.resume();
process.on('SIGTERM', exit);
