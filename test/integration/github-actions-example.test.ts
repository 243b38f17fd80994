/**
 * docs/examples/github-actions-plan.yaml, run without a runner: its `run`
 * steps are executed as GitHub Actions would (bash -eo pipefail, the job's and
 * step's env, secrets filled in, RUNNER_TEMP, GITHUB_OUTPUT,
 * GITHUB_STEP_SUMMARY) against a real controller, with the install step
 * replaced by this checkout's CLI on PATH. A member change passes with a
 * runtime plan in the summary; a broken manifest fails the job at validate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { load } from 'js-yaml';
import { packageRoot } from '../../src/paths.js';
import { API_VERSION, backendYaml, startTestController } from '../helpers/controller.js';
import { freePort } from '../helpers/haproxy.js';
import { TOKEN, tokenFile } from '../helpers/rest.js';
import { startUpstreams } from '../helpers/upstream.js';

interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}

const workflow = load(await readFile(join(packageRoot(), 'docs', 'examples', 'github-actions-plan.yaml'), 'utf8')) as {
  jobs: { plan: { env?: Record<string, string>; steps: Step[] } };
};

function bash(script: string, cwd: string, env: Record<string, string>): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

/** Runs the job's `run` steps in order, as a runner would; stops at the first failure. */
async function runJob(
  repo: string,
  secrets: Record<string, string>,
): Promise<{ failedAt?: string; outputs: Record<string, string>; summary: string; log: string }> {
  const temp = await mkdtemp(join(tmpdir(), 'nh-gha-'));
  const bin = join(temp, 'bin');
  await mkdir(bin);
  await writeFile(join(bin, 'node-haproxy'), `#!/bin/sh\nexec "${process.execPath}" "${join(packageRoot(), 'dist', 'src', 'cli.js')}" "$@"\n`);
  await chmod(join(bin, 'node-haproxy'), 0o755);
  const summaryFile = join(temp, 'summary.md');
  await writeFile(summaryFile, '');
  const outputs: Record<string, string> = {};
  let log = '';
  const fill = (v: string): string => v.replace(/\$\{\{\s*secrets\.(\w+)\s*\}\}/g, (_, k: string) => secrets[k] ?? '');
  try {
    for (const step of workflow.jobs.plan.steps) {
      if (!step.run || step.id === 'install') continue;
      const outputFile = join(temp, `output-${step.id ?? 'step'}`);
      await writeFile(outputFile, '');
      const env: Record<string, string> = {
        PATH: `${bin}:${process.env.PATH}`,
        HOME: temp,
        RUNNER_TEMP: temp,
        GITHUB_OUTPUT: outputFile,
        GITHUB_STEP_SUMMARY: summaryFile,
        ...Object.fromEntries(Object.entries(workflow.jobs.plan.env ?? {}).map(([k, v]) => [k, fill(String(v))])),
        ...Object.fromEntries(Object.entries(step.env ?? {}).map(([k, v]) => [k, fill(String(v))])),
      };
      const r = await bash(step.run, repo, env);
      log += `--- ${step.name}\n${r.output}`;
      for (const line of (await readFile(outputFile, 'utf8')).split('\n')) {
        const eq = line.indexOf('=');
        if (eq > 0) outputs[`${step.id}.${line.slice(0, eq)}`] = line.slice(eq + 1);
      }
      if (r.status !== 0) return { failedAt: step.id ?? step.name, outputs, summary: await readFile(summaryFile, 'utf8'), log };
    }
    return { outputs, summary: await readFile(summaryFile, 'utf8'), log };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

test('the GitHub Actions example: validate, then plan against a running controller, as a pull request would run it', async (t) => {
  const up = await startUpstreams(t, 'a');
  const port = await freePort();
  const fx = await startTestController(
    t,
    {
      'web.yaml': `apiVersion: ${API_VERSION}\nkind: Frontend\nmetadata:\n  name: web\nspec:\n  binds: [{ address: 127.0.0.1, port: ${port} }]\n  defaultBackend: app\n`,
      'app.yaml': backendYaml('app', [{ name: 'a', port: up.a!.port }]),
    },
    { httpAddress: { address: '127.0.0.1', port: 0 }, apiTokenFile: await tokenFile(t), apiAuthReads: true },
  );
  const repo = await mkdtemp(join(tmpdir(), 'nh-gha-repo-'));
  t.after(() => rm(repo, { recursive: true, force: true }));
  const manifests = join(repo, workflow.jobs.plan.env!.MANIFESTS!);
  await cp(fx.manifests, manifests, { recursive: true });
  const secrets = { NODE_HAPROXY_URL: `http://127.0.0.1:${fx.controller.httpAddress!.port}`, NODE_HAPROXY_TOKEN: TOKEN };

  // A pull request that re-weights a member: the job passes, the plan says runtime.
  await writeFile(join(manifests, 'app.yaml'), backendYaml('app', [{ name: 'a', port: up.a!.port, weight: 3 }]));
  let job = await runJob(repo, secrets);
  assert.equal(job.failedAt, undefined, job.log);
  assert.equal(job.outputs['plan.exit'], '4', job.log);
  assert.match(job.summary, /node-haproxy plan: \*\*runtime\*\*/);
  assert.match(job.summary, /set server default_app\/a weight 3/);

  // Without the token secret the plan step fails (the controller wants it for reads).
  job = await runJob(repo, { ...secrets, NODE_HAPROXY_TOKEN: '' });
  assert.equal(job.failedAt, 'plan', job.log);
  assert.equal(job.outputs['plan.exit'], '3');

  // A pull request with a broken manifest fails at validate, naming the file and field.
  await writeFile(join(manifests, 'app.yaml'), `apiVersion: ${API_VERSION}\nkind: Backend\nmetadata: { name: app }\nspec:\n  balance: fastest\n`);
  job = await runJob(repo, secrets);
  assert.equal(job.failedAt, 'validate', job.log);
  assert.match(job.log, /app\.yaml#1: Backend default\/app: spec\.balance/);
});
