/**
 * A KubeApiTestServer in a child process, so that a benchmark's measured
 * process spends its CPU on the controller's side only (a real apiserver runs
 * elsewhere). Started by `startRemoteApiServer()`; driven over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeApiTestServer, testKubeConfig } from '../../test/k8s/index.js';
import { applyBackends } from '../../test/k8s/status-writer-harness.js';

type Op = { op: 'applyBackends'; count: number } | { op: 'setLatency'; ms: number } | { op: 'programmed'; kind: string } | { op: 'stop' };
type Request = Op & { id: number };

export interface RemoteApiServer {
  kubeConfig(): KubeConfig;
  /** Creates `count` Backends (see applyBackends). */
  applyBackends(count: number): Promise<void>;
  setLatency(ms: number): Promise<void>;
  /** How many objects of `kind` show Programmed=True in their status. */
  programmed(kind: string): Promise<number>;
  stop(): Promise<void>;
}

function programmedCount(server: KubeApiTestServer, kind: string): number {
  return server
    .listObjects(kind)
    .filter((o) => (o.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True')).length;
}

async function child(): Promise<void> {
  const server = new KubeApiTestServer({ bookmarkIntervalMs: 0 });
  await server.start();
  process.on('message', (m: Request) => {
    const reply = (result: unknown = null): void => void process.send!({ id: m.id, result });
    switch (m.op) {
      case 'applyBackends':
        applyBackends(server, m.count);
        return reply();
      case 'setLatency':
        server.setLatency(m.ms);
        return reply();
      case 'programmed':
        return reply(programmedCount(server, m.kind));
      case 'stop':
        void server.stop().then(() => process.send!({ id: m.id, result: null }, () => process.exit(0)));
    }
  });
  process.send!({ id: 0, result: { url: server.url, token: server.token } });
}

export async function startRemoteApiServer(): Promise<RemoteApiServer> {
  const proc: ChildProcess = fork(fileURLToPath(import.meta.url), ['--child'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<number, (result: unknown) => void>();
  proc.on('message', (m: { id: number; result: unknown }) => {
    waiting.get(m.id)?.(m.result);
    waiting.delete(m.id);
  });
  let nextId = 1;
  const call = <T>(req: Op): Promise<T> => {
    const id = nextId++;
    return new Promise<T>((resolve) => {
      waiting.set(id, resolve as (r: unknown) => void);
      proc.send({ ...req, id });
    });
  };
  const { url, token } = await new Promise<{ url: string; token: string }>((resolve, reject) => {
    waiting.set(0, resolve as (r: unknown) => void);
    proc.once('exit', (code) => reject(new Error(`Kubernetes API test server child exited (${code})`)));
  });
  return {
    kubeConfig: () => testKubeConfig(url, token),
    applyBackends: (count) => call({ op: 'applyBackends', count }),
    setLatency: (ms) => call({ op: 'setLatency', ms }),
    programmed: (kind) => call({ op: 'programmed', kind }),
    async stop() {
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      await call({ op: 'stop' });
      await exited;
    },
  };
}

if (process.argv[2] === '--child') await child();
