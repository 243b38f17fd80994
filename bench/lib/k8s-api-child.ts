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
import { backendObject, frontendObject, serviceObject, sliceObject } from '../../test/k8s/fixtures.js';
import type { KubeObject } from '../../test/k8s/index.js';
import { RuntimeApi } from '../../src/haproxy/runtime.js';

type Op =
  | { op: 'applyBackends'; count: number }
  | { op: 'applyServices'; count: number; endpoints: number; frontendPort: number }
  | { op: 'setEndpointReady'; service: number; endpoint: number; ready: boolean }
  | { op: 'setEndpointReadyUntilLive'; service: number; endpoint: number; ready: boolean; adminSocket: string; backend: string; timeoutMs: number }
  | { op: 'setLatency'; ms: number }
  | { op: 'programmed'; kind: string }
  | { op: 'stop' };
type Request = Op & { id: number };

/** Service `svc-<i>`: port `http` 8080. */
export const serviceName = (i: number): string => `svc-${String(i).padStart(4, '0')}`;
/** Backend `be-<i>` follows Service `svc-<i>`. */
export const serviceBackendName = (i: number): string => `be-${String(i).padStart(4, '0')}`;
/** Endpoint `e` of Service `i`: 10.<i>/<e>, a distinct IPv4 address. */
export const endpointAddress = (i: number, e: number): string => `10.${(i >> 8) & 255}.${i & 255}.${e + 1}`;

const endpointReady = new Map<number, boolean[]>();
function slice(i: number): KubeObject {
  const ready = endpointReady.get(i)!;
  return sliceObject(
    `${serviceName(i)}-1`,
    serviceName(i),
    { name: 'http', port: 8080 },
    ready.map((r, e) => ({ address: endpointAddress(i, e), ready: r })),
  );
}

/** `count` Services with one EndpointSlice of `endpoints` ready endpoints each, a Backend per Service and one Frontend routing to them by host. */
function applyServices(server: KubeApiTestServer, count: number, endpoints: number, frontendPort: number): void {
  for (let i = 0; i < count; i++) {
    endpointReady.set(
      i,
      Array.from({ length: endpoints }, () => true),
    );
    server.apply(serviceObject(serviceName(i), [{ name: 'http', port: 80, targetPort: 8080 }]));
    server.apply(slice(i));
    server.apply(backendObject(serviceBackendName(i), { service: { name: serviceName(i), port: 'http' } }));
  }
  const rules = Array.from({ length: count - 1 }, (_, i) => ({ host: `h${i + 1}.example.com`, backend: serviceBackendName(i + 1) }));
  server.apply(frontendObject('web', { binds: [{ address: '127.0.0.1', port: frontendPort }], defaultBackend: serviceBackendName(0), rules }));
}
export interface RemoteApiServer {
  kubeConfig(): KubeConfig;
  /** Creates `count` Backends (see applyBackends). */
  applyBackends(count: number): Promise<void>;
  /** Creates `count` Services × `endpoints` endpoints (EndpointSlices), their Backends and one Frontend (see applyServices). */
  applyServices(count: number, endpoints: number, frontendPort: number): Promise<void>;
  /** Sets `conditions.ready` of one endpoint of Service `service` (its EndpointSlice is replaced, as the endpoint-slice controller does). */
  setEndpointReady(service: number, endpoint: number, ready: boolean): Promise<void>;
  /**
   * setEndpointReady, then polls `show servers state <backend>` on HAProxy's admin socket
   * (every ~1 ms) until the endpoint's server is `ready` (ready) or `maint` (not ready):
   * ms from the write to the API server's store until HAProxy shows it, timed in this process.
   */
  setEndpointReadyUntilLive(service: number, endpoint: number, ready: boolean, adminSocket: string, backend: string, timeoutMs: number): Promise<number>;
  setLatency(ms: number): Promise<void>;
  /** How many objects of `kind` show Programmed=True in their status. */
  programmed(kind: string): Promise<number>;
  stop(): Promise<void>;
}

function programmedCount(server: KubeApiTestServer, kind: string): number {
  return server
    .listObjects(kind)
    .filter((o) =>
      (o.status as { conditions?: { type: string; status: string }[] } | undefined)?.conditions?.some((c) => c.type === 'Programmed' && c.status === 'True'),
    ).length;
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
      case 'applyServices':
        applyServices(server, m.count, m.endpoints, m.frontendPort);
        return reply();
      case 'setEndpointReady':
        endpointReady.get(m.service)![m.endpoint] = m.ready;
        server.apply(slice(m.service));
        return reply();
      case 'setEndpointReadyUntilLive': {
        const runtime = new RuntimeApi({ socketPath: m.adminSocket });
        const address = endpointAddress(m.service, m.endpoint);
        const want = m.ready ? 'ready' : 'maint';
        const t0 = performance.now();
        endpointReady.get(m.service)![m.endpoint] = m.ready;
        server.apply(slice(m.service));
        void (async () => {
          for (;;) {
            const s = (await runtime.showServersState(m.backend)).find((x) => x.addr === address);
            const elapsed = performance.now() - t0;
            if (s?.admin === want) return reply(elapsed);
            if (elapsed > m.timeoutMs) return reply(-1);
            await new Promise((r) => setTimeout(r, 1));
          }
        })();
        return;
      }
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
    applyServices: (count, endpoints, frontendPort) => call({ op: 'applyServices', count, endpoints, frontendPort }),
    setEndpointReady: (service, endpoint, ready) => call({ op: 'setEndpointReady', service, endpoint, ready }),
    setEndpointReadyUntilLive: (service, endpoint, ready, adminSocket, backend, timeoutMs) =>
      call({ op: 'setEndpointReadyUntilLive', service, endpoint, ready, adminSocket, backend, timeoutMs }),
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
