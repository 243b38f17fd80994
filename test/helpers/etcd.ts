/**
 * A real etcd (Debian's etcd-server) for tests: loopback ports found free by
 * listening on 0, a temporary data directory, stopped after the test. It can
 * be killed and started again on the same ports and data, and a TCP proxy in
 * front of it can cut the network without stopping etcd.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Etcd3 } from 'etcd3';
import { freePort } from './haproxy.js';

export const ETCD_BIN = '/usr/bin/etcd';

/** The command line of a one-member etcd on loopback, quiet but for errors (tests and the kube-apiserver tier). */
export function etcdArgs(name: string, dataDir: string, clientPort: number, peerPort: number): string[] {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return [
    ...['--name', name, '--data-dir', dataDir],
    ...['--listen-client-urls', client, '--advertise-client-urls', client],
    ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer],
    ...['--initial-cluster', `${name}=${peer}`, '--initial-cluster-state', 'new'],
    ...['--logger', 'zap', '--log-level', 'error'],
  ];
}

export interface EtcdServer {
  /** `127.0.0.1:PORT` of the client URL. */
  endpoint: string;
  clientPort: number;
  dataDir: string;
  /** A client for the test's own reads and writes (closed after the test). */
  client: Etcd3;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and data; resolves when it answers /health. */
  restart(): Promise<void>;
  /** Compacts the history up to the current revision; returns that revision. */
  compactAll(): Promise<number>;
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/health', agent: false, timeout: 500 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(res.statusCode === 200 && body.includes('true')));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts etcd; it and its data directory are removed after the test. */
export async function startEtcd(t: TestContext): Promise<EtcdServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'nh-etcd-'));
  const clientPort = await freePort();
  let peerPort = await freePort();
  while (peerPort === clientPort) peerPort = await freePort();
  let child: ChildProcess | undefined;
  let stderr = '';

  const launch = async () => {
    stderr = '';
    child = spawn(ETCD_BIN, etcdArgs('test', dataDir, clientPort, peerPort), { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const deadline = Date.now() + 15_000;
    while (!(await healthy(clientPort))) {
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`etcd did not become healthy on 127.0.0.1:${clientPort} within 15 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  const kill = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await exited(c);
  };

  const client = new Etcd3({ hosts: `http://127.0.0.1:${clientPort}` });
  t.after(async () => {
    client.close();
    await kill();
    await rm(dataDir, { recursive: true, force: true });
  });
  await launch();

  return {
    endpoint: `127.0.0.1:${clientPort}`,
    clientPort,
    dataDir,
    client,
    kill,
    async restart() {
      await kill();
      await launch();
    },
    async compactAll() {
      const r = await client.get('nh-test-compaction-probe').exec();
      const revision = Number(r.header.revision);
      await client.kv.compact({ revision: String(revision), physical: true });
      return revision;
    },
  };
}

export interface TcpProxy {
  port: number;
  /** Closes every connection and refuses new ones (a network cut). */
  cut(): void;
  /** Accepts connections again. */
  heal(): void;
}

/** A TCP proxy on 127.0.0.1 to `targetPort`; closed after the test. */
export async function startTcpProxy(t: TestContext, targetPort: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((inbound) => {
    if (!open) {
      inbound.destroy();
      return;
    }
    const outbound = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(inbound).add(outbound);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
      sockets.delete(inbound);
      sockets.delete(outbound);
    };
    inbound.on('error', close).on('close', close);
    outbound.on('error', close).on('close', close);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  t.after(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return {
    port: (server.address() as { port: number }).port,
    cut() {
      open = false;
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    heal() {
      open = true;
    },
  };
}
