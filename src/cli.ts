#!/usr/bin/env node
/**
 * node-haproxy command line: run, render, validate, demo. Wiring only: every
 * behaviour lives in the modules it calls.
 *
 * Exit codes: 0 success; 1 invalid manifests (validate) or a runtime failure;
 * 2 usage errors (unknown command or flag, missing argument); plan and stop
 * document their own.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createLogger, type Logger, type LogLevel } from './log.js';
import { tuneHeap } from './heap.js';
import { DEFAULTS, globalSettings, restOptionsProblem, startController } from './controller.js';
import { formatIssue, type Issue } from './model/types.js';
import { explainPlan, PLAN_EXIT_CODES, PLAN_EXIT_NO_STATE, PLAN_REPORT_VERSION } from './plan/explain.js';
import { formatPlanMarkdown, formatPlanText } from './plan/format.js';
import { readRunningState } from './plan/running-state.js';
import { planSources, PlanSourceError } from './plan/plan-sources.js';
import { runningFilesFromDigests, sha256Hex } from './plan/file-digests.js';
import { computeDesired } from './reconcile/desired.js';
import { plan as planConfig } from './reconcile/plan.js';
import { resolve, type Declared } from './model/resolve.js';
import { validateReport } from './model/validate-report.js';
import { regexFields } from './model/routing.js';
import { checkRegexes, isMissingBinary } from './haproxy/regex-check.js';
import type { Frontend } from './model/types.js';
import { stateDirOf } from './render/model.js';
import { readAuxFiles, writeAuxFiles } from './haproxy/aux-files.js';
import { isMapFile } from './render/routing-maps.js';
import { writeFileAtomic } from './util/atomic-file.js';
import { mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { loadRenderer } from './render/render.js';
import { loadDirectory } from './sources/files/load.js';
import { parseRawConfigKeywords } from './model/raw-config.js';
import { runDemo } from './demo.js';
import { DEFAULT_STOP_TIMEOUT_MS, STOP_EXIT_CODES, stopStateDirHaproxy } from './haproxy/stop-command.js';
import { KUBERNETES_FLAGS, KUBERNETES_HELP, kubernetesOptions } from './sources/kubernetes/cli-options.js';
import { hostname } from 'node:os';
import { join, resolve as resolvePath } from 'node:path';

class UsageError extends Error {}

const MAIN_HELP = `node-haproxy: keeps a running HAProxy in line with declared Frontend and Backend resources.

Usage: node-haproxy <command> [options]

Commands:
  run       Run the controller: watch sources, keep HAProxy in line
  render    Print the HAProxy configuration that run would apply, and the files beside it
  validate  Check manifests; exit 1 with one line per problem
  plan      Show what applying a directory of manifests would do to a running HAProxy
  demo      Run the demo: upstream servers on loopback and HAProxy in front
  stop      Stop the HAProxy a controller left running in a state directory

Run "node-haproxy <command> --help" for a command's options.`;

/** Port 9101 is the HAProxy exporter's registered default, so existing scrape configs find it. */
const DEFAULT_HTTP_ADDRESS = '0.0.0.0:9101';

const RUN_HELP = `Usage: node-haproxy run --source SOURCE [--source SOURCE ...] [options]

Sources (give --source once per source; the same resource from two sources is a
conflict, reported on both):
  --source DIR                 Directory of YAML manifests (*.yaml, *.yml, multi-document),
                               watched for changes
  --source kubernetes          Frontend and Backend custom resources, and the members of
                               Services from EndpointSlices, from the Kubernetes API
                               (options below)
  --source rest                The REST API (our shape under /api/v1, thalassa-aqueduct's
                               routes at /frontends, /backends, /haproxy/config) on
                               --http-address; what it is told is kept in the state
                               directory, or in etcd when an etcd source is given
  --source etcd://HOST:PORT/PREFIX
                               etcd v3: resources as JSON or YAML under
                               PREFIX/frontends/NAMESPACE/NAME and PREFIX/backends/NAMESPACE/NAME

Options:
  --state-dir DIR              HAProxy's state: haproxy.cfg, master.sock, admin.sock
                               (default: ./.node-haproxy). One controller per directory: a
                               second one on it exits 1 naming the first (controller.lock)
  --haproxy-bin PATH           HAProxy executable, 2.6 or newer (default: haproxy)
  --debounce-ms N              Coalesce changes arriving within N ms (default: ${DEFAULTS.debounceMs})
  --min-reload-interval-ms N   At least N ms between reloads (default: ${DEFAULTS.minReloadIntervalMs})
  --no-runtime-updates         Reload for member and certificate changes too, instead of the runtime API
  --hard-stop-after DURATION   Longest an old worker keeps serving after a reload (default: ${DEFAULTS.hardStopAfter})
  --close-spread-time DURATION Spread closing an old worker's connections over DURATION (default: off;
                               on 2.6 it resets keep-alive connections: docs/decisions/0003)
  --maxconn N                  HAProxy's global maxconn (default: derived by HAProxy from
                               the file-descriptor limit)
  --stats-address HOST:PORT    Serve HAProxy's stats page (/stats) and built-in exporter (/metrics)
  --http-address HOST:PORT     The controller's HTTP server: /metrics, /healthz, /readyz, the live
                               stats stream (/stream) and the REST API with --source rest
                               (default: ${DEFAULT_HTTP_ADDRESS})
  --api-address HOST:PORT      A second listener for the REST API and /stream; --http-address
                               then serves only /metrics, /healthz and /readyz (for example
                               public probes and metrics, the API on 127.0.0.1:9102)
  --no-server-metrics          Leave haproxy_server_* out of /metrics (most of the series at scale)
  --metrics-include NAMES      Export only these haproxy_* families (comma-separated, * wildcard)
  --metrics-exclude NAMES      Never export these haproxy_* families (comma-separated, * wildcard)
  --stream-interval-ms N       Live stats stream: send changes every N ms (default: 1000)
  --api-token-file FILE        REST API: bearer token for changes, on the file's first line
                               (re-read when the file changes). Without it the API is read-only
  --api-auth-reads             REST API: reads (GET, HEAD) need the token too, on every API route
                               and on /stream; /metrics, /healthz and /readyz stay open. Needs
                               --api-token-file (default: reads are open)
  --allow-raw-config           Accept raw HAProxy lines (aqueduct "natives", the raw-config
                               annotation) from every source: files, Kubernetes, the REST API
                               and etcd. Whoever can declare a resource can then add HAProxy
                               directives to its own section: header rewrites, redirects,
                               fixed responses, ACLs, timeouts, options, health checks. Each
                               line is read as HAProxy reads it and must pass an allow-list:
                               nothing that reads files, runs programs, reads the environment,
                               opens sockets or reaches other namespaces' proxies
                               (docs/decisions/0005-raw-config-policy.md)
  --raw-config-keywords LIST   With --allow-raw-config: allow only these directives
                               (comma-separated entries of the default allow-list, like
                               "http-request set-header,timeout server", or first words
                               like "timeout"); it can only narrow the default list
  --api-max-body-bytes N       REST API: largest request body (default: 1048576)
  --api-max-stored-bytes N     REST API without etcd: most bytes all resources it keeps in the
                               state directory may take together (default: 33554432)
  --aqueduct-namespace NS      REST API: namespace of thalassa-aqueduct keys (default: default)
  --stop-haproxy-on-exit       Stop HAProxy when the controller stops (default: leave it
                               running, so a restarted controller adopts it without a blip;
                               "node-haproxy stop" stops it later. An HAProxy this run started
                               whose configuration was never applied in full, as when a port
                               is in use, is stopped anyway)
  --share-ports                Let HAProxy share listening ports with other processes of
                               this user that hold them with SO_REUSEPORT, such as another
                               replica's HAProxy on the same host network (the kernel splits
                               connections between them). Default: such a port is refused
  --log-format json|pretty     Log format (default: json)
  --log-level LEVEL            debug, info, warn or error (default: info)
  -h, --help                   Show this help

${KUBERNETES_HELP}`;

const RENDER_HELP = `Usage: node-haproxy render DIR [--state-dir DIR] [--out-dir DIR] [--no-maps] [run's options that change
                           the text: --stats-address, --hard-stop-after, --close-spread-time, --maxconn]
                           [--allow-raw-config [--raw-config-keywords LIST]]

Prints the HAProxy configuration that "run --source DIR" would apply, as run
writes it: host and path rules route through map files beside haproxy.cfg.
Those files (routing maps, crt-lists, certificates) follow it as comments,
a certificate by name and sha256 only (it holds a private key). Invalid
resources are left out and reported on stderr; the exit code is then 1.

The printed text names the files in run's state directory: "haproxy -c" on it
needs them there. To check it, write everything with --out-dir and run
"haproxy -c -f DIR/haproxy.cfg"; for a file that needs nothing beside it,
use --no-maps.

Options:
  --state-dir DIR              run's state directory, for the socket, state file, map and
                               certificate paths (default: ./.node-haproxy, or --out-dir)
  --out-dir DIR                Write haproxy.cfg and every file run writes beside it (maps/,
                               certs/, private keys included, mode 0600) into DIR instead of
                               printing; prints the paths written. DIR must be new, empty,
                               or written by an earlier render (its .node-haproxy-render file
                               lists what it wrote; only those files are replaced or removed)
  --no-maps                    A self-contained configuration, every rule as ACLs (the form
                               render printed before maps; not what run serves)
  --stats-address HOST:PORT    Include HAProxy's stats listener, as run --stats-address does
  --hard-stop-after DURATION   As run --hard-stop-after (default: ${DEFAULTS.hardStopAfter})
  --close-spread-time DURATION As run --close-spread-time (default: off)
  --maxconn N                  As run --maxconn
  --allow-raw-config           Accept the raw-config annotation, as "run --allow-raw-config"
                               does (default: refused); each line is checked
  --raw-config-keywords LIST   Narrow the raw-config allow-list, as "run --raw-config-keywords" does`;

const VALIDATE_HELP = `Usage: node-haproxy validate DIR [--haproxy-bin PATH] [--allow-raw-config [--raw-config-keywords LIST]]

Checks every manifest below DIR against the schema and the cross-resource rules
(unknown backends, duplicate names, two frontends on one address and port), and
every regular expression in the rules with HAProxy's own engine (one "haproxy -c"
of a generated file; without an HAProxy binary they are not checked, and a
warning on stderr says so).
Every problem of every resource is reported in one run (a resource the
schema refuses still has the references of its well-formed parts checked),
sorted by file, document and field. Certificates in the Secrets DIR declares
are judged as "run" judges them: expired, not yet valid or a key that does not
match is a problem; one that expires within 14 days is a warning. A Secret or
ConfigMap no manifest in DIR declares is a warning (it may live in the cluster).
Exit 0 when all are valid (warnings on stderr allowed); else 1, with one line
per problem on stdout:
  FILE#DOCUMENT: KIND NAMESPACE/NAME: FIELD: PROBLEM

Options:
  --haproxy-bin PATH           HAProxy executable that checks regular expressions (default: haproxy)
  --allow-raw-config           Accept the raw-config annotation, as "run --allow-raw-config"
                               does (default: refused); each line is checked
  --raw-config-keywords LIST   Narrow the raw-config allow-list, as "run --raw-config-keywords" does`;

const PLAN_HELP = `Usage: node-haproxy plan DIR [--state-dir DIR | --from http://HOST:PORT [--token-file FILE]]
                         [--output text|json|markdown] [--allow-raw-config] [--no-runtime-updates]
                         [--source-name PATH]

Compares what DIR declares with what a controller runs, and prints what
applying DIR would do: noop, runtime (each runtime API operation) or reload
(each reason, and the resources and fields that differ). Problems in the
manifests are printed as validate prints them; an invalid resource is left
out and keeps the version that runs, as the controller would do.

What runs is read from the controller's state directory (--state-dir, default
./.node-haproxy) or from a running controller's HTTP server (--from, on its
--http-address, or its --api-address when it has one).

DIR replaces what one of the controller's directory sources (--source DIR)
declares: the one at DIR's absolute path, else its only one. Resources of
its other sources (the REST API, etcd, Kubernetes, other directories) are
kept as they run.

Options:
  --state-dir DIR              a controller's state directory (its controller-state.json)
  --from URL                   a running controller, e.g. http://127.0.0.1:9101
  --token-file FILE            the API token (first line), when the controller runs with
                               --api-auth-reads
  --output FORMAT              text (default), json (a stable shape, apiVersion
                               ${PLAN_REPORT_VERSION}) or markdown (a pull-request comment)
  --no-runtime-updates         plan as "run --no-runtime-updates" does (member and certificate changes reload)
  --source-name PATH           the controller's directory source DIR replaces (its --source PATH, absolute);
                               needed when it has several and none is at DIR's path
  --allow-raw-config           accept the raw-config annotation, as "run --allow-raw-config" does
  --raw-config-keywords LIST   narrow the raw-config allow-list, as "run --raw-config-keywords" does

Exit codes: ${PLAN_EXIT_CODES.noop} noop, ${PLAN_EXIT_CODES.runtime} runtime changes only, ${PLAN_EXIT_CODES.reload} reload, ${PLAN_EXIT_CODES.invalid} a manifest is invalid,
${PLAN_EXIT_NO_STATE} the running state cannot be read, 2 bad usage.`;

const DEMO_HELP = `Usage: node-haproxy demo [--log-format json|pretty]

Starts four small HTTP servers on 127.0.0.1:9001-9004 and HAProxy on
127.0.0.1:8080 in front of them, routed by the manifests in examples/.
Edit those files while it runs: routing changes live. Ctrl-C stops everything.`;

const STOP_HELP = `Usage: node-haproxy stop [--state-dir DIR] [--hard] [--timeout-ms N]

Stops the HAProxy that runs from a state directory. "run" leaves HAProxy
running when it stops (unless given --stop-haproxy-on-exit), so that a
restarted controller adopts it without dropping a connection; this is how to
stop it for good. The pid in DIR/haproxy.pid must be that directory's HAProxy
master (its command line names DIR's haproxy.cfg and master socket): a stale
pid file never signals another process. haproxy.cfg and the files beside it
are kept; "run" starts HAProxy again.

A controller must not run on DIR: it would start HAProxy again. Stop the
controller first (SIGTERM or Ctrl-C), then run this command.

Options:
  --state-dir DIR              the controller's state directory (default: ./.node-haproxy)
  --hard                       SIGTERM: close connections now (default: SIGUSR1, a soft stop:
                               workers finish their connections, at most the configuration's
                               hard-stop-after, 30s by default)
  --timeout-ms N               wait at most N ms for every HAProxy process to exit
                               (default: ${DEFAULT_STOP_TIMEOUT_MS}); then a soft stop gives up (exit 1), a hard stop kills
                               what is left (SIGKILL)

Exit codes: ${STOP_EXIT_CODES.stopped} stopped (or no HAProxy ran), ${STOP_EXIT_CODES.failed} not stopped (the pid file names another
process, HAProxy still runs after --timeout-ms, or the signal was refused),
2 bad usage, ${STOP_EXIT_CODES.locked} a controller runs on the state directory.`;

const common = {
  help: { type: 'boolean', short: 'h' },
  'log-format': { type: 'string' },
  'log-level': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const allowRawConfig = { 'allow-raw-config': { type: 'boolean' }, 'raw-config-keywords': { type: 'string' } } as const satisfies ParseArgsConfig['options'];

/** --allow-raw-config and --raw-config-keywords, as validateResource takes them. */
function rawConfigFlags(values: { 'allow-raw-config'?: boolean; 'raw-config-keywords'?: string }): { allowRawConfig: boolean; rawConfigKeywords?: string[] } {
  const list = values['raw-config-keywords'];
  if (list === undefined) return { allowRawConfig: values['allow-raw-config'] ?? false };
  if (!values['allow-raw-config']) throw new UsageError('--raw-config-keywords narrows what --allow-raw-config accepts; give --allow-raw-config too');
  try {
    return { allowRawConfig: true, rawConfigKeywords: parseRawConfigKeywords(list) };
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function parse<O extends ParseArgsConfig['options']>(args: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function makeLogger(values: { 'log-format'?: string; 'log-level'?: string }, defaultFormat: 'json' | 'pretty' = 'json'): Logger {
  const format = values['log-format'] ?? defaultFormat;
  if (format !== 'json' && format !== 'pretty') throw new UsageError(`--log-format must be json or pretty, not ${format}`);
  const level = (values['log-level'] ?? 'info') as LogLevel;
  if (!['debug', 'info', 'warn', 'error'].includes(level)) throw new UsageError(`--log-level must be debug, info, warn or error, not ${level}`);
  return createLogger({ format, level });
}

function intOption(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a whole number, not ${v}`);
  return n;
}

function durationOption(name: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,9}(us|ms|s|m|h|d)?$/.test(v)) throw new UsageError(`--${name} must be a duration like 30s or 500ms, not ${v}`);
  return v;
}

export function hostPort(name: string, v: string | undefined): { address: string; port: number } | undefined {
  if (v === undefined) return undefined;
  const m = /^(\[[0-9A-Fa-f:.]+\]|[0-9.]+|\*|localhost):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new UsageError(`--${name} must be HOST:PORT like 127.0.0.1:8404, not ${v}`);
  return { address: m[1] === 'localhost' ? '127.0.0.1' : m[1]!, port };
}

async function cmdRun(args: string[]): Promise<number> {
  const { values } = parse(args, {
    ...common,
    source: { type: 'string', multiple: true },
    'state-dir': { type: 'string' },
    'haproxy-bin': { type: 'string' },
    'debounce-ms': { type: 'string' },
    'min-reload-interval-ms': { type: 'string' },
    'no-runtime-updates': { type: 'boolean' },
    'hard-stop-after': { type: 'string' },
    'close-spread-time': { type: 'string' },
    maxconn: { type: 'string' },
    'stats-address': { type: 'string' },
    'stop-haproxy-on-exit': { type: 'boolean' },
    'share-ports': { type: 'boolean' },
    'http-address': { type: 'string' },
    'api-address': { type: 'string' },
    'api-token-file': { type: 'string' },
    'api-auth-reads': { type: 'boolean' },
    ...allowRawConfig,
    'api-max-body-bytes': { type: 'string' },
    'api-max-stored-bytes': { type: 'string' },
    'aqueduct-namespace': { type: 'string' },
    'no-server-metrics': { type: 'boolean' },
    'metrics-include': { type: 'string', multiple: true },
    'metrics-exclude': { type: 'string', multiple: true },
    'stream-interval-ms': { type: 'string' },
    ...KUBERNETES_FLAGS,
  });
  if (values.help) return print(RUN_HELP);
  if (!values.source?.length) {
    throw new UsageError('run needs --source DIR (a directory of YAML manifests), --source kubernetes, --source rest or --source etcd://HOST:PORT/PREFIX');
  }
  const api = { apiTokenFile: values['api-token-file'], apiAuthReads: values['api-auth-reads'] };
  const apiProblem = restOptionsProblem(api);
  if (apiProblem) throw new UsageError(apiProblem);
  const rawConfig = rawConfigFlags(values);
  let kubernetes;
  try {
    kubernetes = kubernetesOptions(values, { POD_NAME: process.env.POD_NAME, POD_NAMESPACE: process.env.POD_NAMESPACE }, hostname());
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const logger = makeLogger(values);
  tuneHeap();
  const controller = await startController({
    sources: values.source,
    stateDir: values['state-dir'] ?? '.node-haproxy',
    haproxyBin: values['haproxy-bin'],
    logger,
    debounceMs: intOption('debounce-ms', values['debounce-ms']),
    minReloadIntervalMs: intOption('min-reload-interval-ms', values['min-reload-interval-ms']),
    runtimeUpdates: !values['no-runtime-updates'],
    hardStopAfter: durationOption('hard-stop-after', values['hard-stop-after']),
    closeSpreadTime: durationOption('close-spread-time', values['close-spread-time']),
    maxconn: intOption('maxconn', values.maxconn),
    statsListener: hostPort('stats-address', values['stats-address']),
    stopHaproxyOnExit: values['stop-haproxy-on-exit'],
    sharePorts: values['share-ports'],
    httpAddress: hostPort('http-address', values['http-address'] ?? DEFAULT_HTTP_ADDRESS),
    apiAddress: hostPort('api-address', values['api-address']),
    ...api,
    ...rawConfig,
    apiMaxBodyBytes: intOption('api-max-body-bytes', values['api-max-body-bytes']),
    apiMaxStoredBytes: intOption('api-max-stored-bytes', values['api-max-stored-bytes']),
    aqueductNamespace: values['aqueduct-namespace'],
    observe: {
      haproxyMetrics: {
        serverMetrics: !values['no-server-metrics'],
        include: values['metrics-include']?.flatMap((v) => v.split(',')).filter((v) => v !== ''),
        exclude: values['metrics-exclude']?.flatMap((v) => v.split(',')).filter((v) => v !== ''),
      },
      stream: { intervalMs: intOption('stream-interval-ms', values['stream-interval-ms']) },
    },
    kubernetes,
  });
  await waitForSignal(logger);
  await controller.stop();
  return 0;
}

export function waitForSignal(logger: Logger): Promise<void> {
  return new Promise((resolveWait) => {
    const done = (signal: string) => {
      logger.info('stopping', { signal });
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolveWait();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
  });
}

async function cmdRender(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...common,
      ...allowRawConfig,
      'state-dir': { type: 'string' },
      'stats-address': { type: 'string' },
      'hard-stop-after': { type: 'string' },
      'close-spread-time': { type: 'string' },
      maxconn: { type: 'string' },
      'out-dir': { type: 'string' },
      'no-maps': { type: 'boolean' },
    },
    true,
  );
  if (values.help) return print(RENDER_HELP);
  if (positionals.length !== 1) throw new UsageError('render needs exactly one DIR');
  const outDir = values['out-dir'] === undefined ? undefined : resolvePath(values['out-dir']);
  const previousRender = outDir ? await claimOutDir(outDir) : undefined;
  const loaded = await loadDirectory(positionals[0]!, rawConfigFlags(values));
  // The absolute state directory, as run uses it: HAProxy reads a relative socket path without "./" as host:port.
  // With --out-dir and no --state-dir, the files are named where they are written, so "haproxy -c" checks that directory.
  const stateDir = values['state-dir'] !== undefined ? resolvePath(values['state-dir']) : (outDir ?? resolvePath('.node-haproxy'));
  const global = {
    // run's options that change the text, so that render prints byte for byte what run writes.
    ...globalSettings(stateDir, {
      statsListener: hostPort('stats-address', values['stats-address']),
      hardStopAfter: durationOption('hard-stop-after', values['hard-stop-after']),
      closeSpreadTime: durationOption('close-spread-time', values['close-spread-time']),
      maxconn: intOption('maxconn', values.maxconn),
    }),
    // --no-maps: the self-contained form, every rule as ACLs (decision 0011, phase 1).
    ...(values['no-maps'] ? { routingMaps: false } : {}),
  };
  // Exactly what run computes: the text, and the files it writes beside it (routing maps, certificates, crt-lists, CA bundles).
  const desired = computeDesired({ declared: loaded.declared, discovered: loaded.discovered }, new Map(), global, loadRenderer());
  const problems = [...loaded.issues.filter((i) => i.reason === 'ParseError')];
  for (const o of desired.resolution.outcomes.values()) if (!o.accepted) problems.push(...o.issues);
  for (const p of problems) process.stderr.write(`${formatIssue(p)}\n`);
  const files = desired.files ?? new Map<string, string>();
  if (outDir) {
    await mkdir(outDir, { recursive: true }).catch((err: unknown) => {
      throw new Error(`cannot create --out-dir ${outDir}; pass a directory path that can be created`, { cause: err });
    });
    await writeFileAtomic(join(outDir, 'haproxy.cfg'), desired.text, 0o600);
    // Files an earlier render wrote (and listed in its marker) that this one does not name are removed, as run removes them; nothing else is touched.
    for (const rel of previousRender ?? []) if (rel !== 'haproxy.cfg' && !files.has(rel)) await unlink(join(outDir, rel)).catch(() => undefined);
    await writeAuxFiles(outDir, files);
    await writeFileAtomic(join(outDir, RENDER_MARKER), ['haproxy.cfg', ...[...files.keys()].sort()].join('\n') + '\n', 0o600);
    for (const rel of ['haproxy.cfg', ...[...files.keys()].sort()]) process.stdout.write(`${join(outDir, rel)}\n`);
  } else if (values['no-maps']) {
    process.stdout.write(desired.text);
  } else {
    process.stdout.write(desired.text + auxFilesListing(files, stateDir));
  }
  return problems.length > 0 ? 1 : 0;
}

/** What render --out-dir wrote, one path per line: the only files a later render of the same directory may replace or remove. */
const RENDER_MARKER = '.node-haproxy-render';

/**
 * render --out-dir writes only into a new or empty directory, or one an
 * earlier render wrote (its marker lists the files; returned). It never writes
 * over a controller's state directory (its haproxy.cfg is what HAProxy last
 * accepted) nor over anything else: /etc/haproxy's certificates are not ours.
 */
async function claimOutDir(dir: string): Promise<string[] | undefined> {
  for (const name of ['controller-state.json', 'master.sock', 'haproxy.pid', 'controller.lock']) {
    const found = await stat(join(dir, name)).then(
      () => true,
      () => false,
    );
    if (found) {
      throw new UsageError(
        `--out-dir ${dir} holds ${name}: it is a controller's state directory, and render does not write over what HAProxy runs; pass an empty or new directory (compare with the running one using "diff -r")`,
      );
    }
  }
  const marker = await readFile(join(dir, RENDER_MARKER), 'utf8').catch(() => undefined);
  if (marker !== undefined) return marker.split('\n').filter((l) => l !== '' && !l.startsWith('/') && !l.split('/').includes('..'));
  const entries = await readdir(dir).catch(() => []);
  if (entries.length > 0) {
    throw new UsageError(
      `--out-dir ${dir} is not empty and was not written by render (no ${RENDER_MARKER} in it); render does not replace or remove files it did not write: pass an empty or new directory`,
    );
  }
  return undefined;
}

/**
 * The files run writes beside haproxy.cfg, after it as comments (the whole
 * output stays valid HAProxy syntax): routing maps and crt-lists line by line,
 * certificates and CA bundles by name and sha256 only (a .pem holds a private key).
 */
function auxFilesListing(files: ReadonlyMap<string, string>, stateDir: string): string {
  if (files.size === 0) return '';
  const out = [
    '',
    '# ---------------------------------------------------------------------------',
    `# Files "run" writes beside haproxy.cfg, in ${stateDir}; the lines above name them.`,
    '# "render --out-dir DIR" writes them all (check with haproxy -c -f DIR/haproxy.cfg);',
    '# "render --no-maps" prints a self-contained haproxy.cfg, every rule as ACLs.',
    '# ---------------------------------------------------------------------------',
  ];
  const order = (p: string) => (isMapFile(p) ? 0 : 1);
  for (const path of [...files.keys()].sort((a, b) => order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0))) {
    const content = files.get(path)!;
    if (path.endsWith('.pem')) {
      const what = path.endsWith('.ca.pem') ? 'a CA bundle' : 'a certificate and its private key';
      out.push(`# ==> ${path} <== ${what}, not printed; sha256 ${sha256Hex(content)}`);
      continue;
    }
    const lines = content.split('\n');
    if (lines.at(-1) === '') lines.pop();
    out.push(`# ==> ${path} <== ${lines.length} line(s)`, ...lines.map((l) => `#   ${l}`));
  }
  return out.join('\n') + '\n';
}

async function cmdPlan(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    {
      ...common,
      ...allowRawConfig,
      'state-dir': { type: 'string' },
      from: { type: 'string' },
      'token-file': { type: 'string' },
      output: { type: 'string' },
      'no-runtime-updates': { type: 'boolean' },
      'source-name': { type: 'string' },
    },
    true,
  );
  if (values.help) return print(PLAN_HELP);
  if (positionals.length !== 1) throw new UsageError('plan needs exactly one DIR');
  const output = values.output ?? 'text';
  if (!['text', 'json', 'markdown'].includes(output)) throw new UsageError(`--output ${output}: use text, json or markdown`);
  if (values.from !== undefined && values['state-dir'] !== undefined) throw new UsageError('give either --state-dir or --from, not both');
  const loaded = await loadDirectory(positionals[0]!, rawConfigFlags(values));
  let state;
  try {
    state = await readRunningState({ stateDir: values['state-dir'], from: values.from, tokenFile: values['token-file'] });
  } catch (err) {
    process.stderr.write(`node-haproxy: ${(err as Error).message}\n`);
    return PLAN_EXIT_NO_STATE;
  }
  const lastAccepted = new Map(state.accepted.map((r) => [`${r.kind}/${r.metadata.namespace}/${r.metadata.name}`, r] as const));
  // DIR replaces what its directory source declared; the other sources' resources stay as they run.
  let sources;
  try {
    sources = planSources({
      declared: loaded.declared,
      discovered: loaded.discovered,
      dir: resolvePath(positionals[0]!),
      ...(values['source-name'] !== undefined ? { sourceName: values['source-name'] } : {}),
      running: state,
    });
  } catch (err) {
    if (err instanceof PlanSourceError) throw new UsageError(err.message);
    throw err;
  }
  const desired = computeDesired({ declared: sources.declared, discovered: sources.discovered }, lastAccepted, state.model.global, loadRenderer());
  const problems = new Map<string, Issue>();
  for (const i of loaded.issues) problems.set(formatIssue(i), i);
  for (const o of desired.resolution.outcomes.values()) if (!o.accepted) for (const i of o.issues) problems.set(formatIssue(i), i);
  // From a state directory the running auxiliary files are on disk: certificate changes plan at run time as the controller would.
  // From a running controller, the certificate files come as digests (they hold private keys): equal digests are unchanged files.
  const stateDir = values.from === undefined ? resolvePath(values['state-dir'] ?? '.node-haproxy') : undefined;
  const files = stateDir ? await readAuxFiles(stateDir) : state.auxFiles ? runningFilesFromDigests(state.auxFiles, desired.files) : new Map<string, string>();
  // The saved model carries the routing maps HAProxy runs (render/routing-maps.ts): a map change plans as a runtime update.
  for (const [path, content] of Object.entries(state.model.mapFiles ?? {})) if (!files.has(path)) files.set(path, content);
  const verdict = planConfig(
    desired,
    { text: state.text, model: state.model, ...(files.size > 0 ? { files } : {}) },
    {
      runtimeUpdates: !values['no-runtime-updates'],
      maxReasons: 1000,
      ...(files.size > 0 && !values['no-runtime-updates'] ? { certificates: { stateDir: state.model.global.stateDir ?? stateDirOf(state.model.global) } } : {}),
    },
  );
  const report = explainPlan({
    plan: verdict,
    desired: desired.model,
    running: state.model,
    problems: [...problems.values()],
    frontends: desired.resolution.frontends,
    sources: { ...(sources.replaces ? { replaces: sources.replaces } : {}), notes: sources.notes },
  });
  process.stdout.write(
    output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : output === 'markdown' ? formatPlanMarkdown(report) : formatPlanText(report),
  );
  return PLAN_EXIT_CODES[report.result];
}

async function cmdValidate(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...common, ...allowRawConfig, 'haproxy-bin': { type: 'string' } }, true);
  if (values.help) return print(VALIDATE_HELP);
  if (positionals.length !== 1) throw new UsageError('validate needs exactly one DIR');
  const loaded = await loadDirectory(positionals[0]!, rawConfigFlags(values));
  const r = resolve({ declared: loaded.declared, lastAccepted: new Map(), discovered: loaded.discovered });
  const all: Issue[] = [...loaded.issues];
  for (const o of r.outcomes.values()) if (!o.accepted) all.push(...o.issues);
  all.push(...(await regexIssues(loaded.declared, values['haproxy-bin'] ?? 'haproxy')));
  // Basic-auth lines that `run` skips, or no user left (model/basic-auth.ts): warnings, exit code unchanged.
  const originOf = new Map(loaded.declared.map((d) => [d.key, d.origin]));
  const authWarnings: Issue[] = [];
  for (const [key, o] of r.outcomes) {
    for (const n of o.notes ?? []) {
      if (!n.startsWith('spec.basicAuth.')) continue;
      const at = n.indexOf(': ');
      const resource = `${key.split('/')[0]} ${key.split('/').slice(1).join('/')}`;
      authWarnings.push({ origin: originOf.get(key), resource, field: n.slice(0, at), message: n.slice(at + 2), reason: 'InvalidSpec' });
    }
  }
  // A Secret or ConfigMap DIR does not declare may live in the cluster the manifests go to: a warning, not a problem.
  const { problems, warnings } = validateReport(all, [...r.warnings, ...authWarnings], positionals[0]!);
  for (const l of problems) process.stdout.write(`${l}\n`);
  for (const l of warnings) process.stderr.write(`warning: ${l}\n`);
  const resources = loaded.declared.length;
  const warned = warnings.length > 0 ? `, ${warnings.length} warning(s)` : '';
  if (problems.length === 0) {
    process.stderr.write(`${resources} resource(s) in ${loaded.files.length} file(s): all valid${warned}\n`);
    return 0;
  }
  process.stderr.write(`${problems.length} problem(s) in ${positionals[0]}${warned}\n`);
  return 1;
}

/**
 * Every regular expression in the declared Frontends' rules, checked by
 * HAProxy's own engine: one issue per expression it refuses, naming the field.
 * Without an HAProxy binary, a warning on stderr and no issues.
 */
async function regexIssues(declared: readonly Declared[], haproxyBin: string): Promise<Issue[]> {
  const found: { d: Declared; f: Frontend; field: string; value: string }[] = [];
  for (const d of declared) {
    if (d.resource?.kind !== 'Frontend') continue;
    const f = d.resource;
    f.spec.rules.forEach((rule, i) => {
      for (const x of regexFields(rule, i)) found.push({ d, f, ...x });
    });
  }
  if (found.length === 0) return [];
  let verdicts;
  try {
    verdicts = await checkRegexes(
      found.map((x) => x.value),
      { haproxyBin },
    );
  } catch (err) {
    if (!isMissingBinary(err)) throw err;
    process.stderr.write(
      `warning: ${found.length} regular expression(s) not checked: cannot run HAProxy binary "${haproxyBin}"; install HAProxy or pass its path with --haproxy-bin\n`,
    );
    return [];
  }
  const out: Issue[] = [];
  for (const x of found) {
    const words = verdicts.get(x.value);
    if (words === undefined) continue;
    out.push({
      origin: x.d.origin,
      resource: `Frontend ${x.f.metadata.namespace}/${x.f.metadata.name}`,
      field: x.field,
      reason: 'InvalidSpec',
      message: `HAProxy refuses this regular expression: ${words}`,
    });
  }
  return out;
}

async function cmdDemo(args: string[]): Promise<number> {
  const { values } = parse(args, common);
  if (values.help) return print(DEMO_HELP);
  const logger = makeLogger(values, 'pretty');
  tuneHeap();
  const demo = await runDemo({ logger });
  await waitForSignal(logger);
  await demo.stop();
  return 0;
}

async function cmdStop(args: string[]): Promise<number> {
  const { values } = parse(args, {
    help: { type: 'boolean', short: 'h' },
    'state-dir': { type: 'string' },
    hard: { type: 'boolean' },
    'timeout-ms': { type: 'string' },
  });
  if (values.help) return print(STOP_HELP);
  return stopStateDirHaproxy({
    stateDir: resolvePath(values['state-dir'] ?? '.node-haproxy'),
    hard: values.hard,
    timeoutMs: intOption('timeout-ms', values['timeout-ms']),
    say: (line) => process.stderr.write(`node-haproxy: ${line}\n`),
  });
}

function print(text: string): number {
  process.stdout.write(text + '\n');
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await cmdRun(rest);
      case 'render':
        return await cmdRender(rest);
      case 'validate':
        return await cmdValidate(rest);
      case 'plan':
        return await cmdPlan(rest);
      case 'demo':
        return await cmdDemo(rest);
      case 'stop':
        return await cmdStop(rest);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        return print(MAIN_HELP);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`node-haproxy: ${err.message}\nRun "node-haproxy --help" for usage.\n`);
      return 2;
    }
    const e = err as Error;
    process.stderr.write(`node-haproxy: ${e.message}${e.cause instanceof Error ? `: ${e.cause.message}` : ''}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`node-haproxy: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
