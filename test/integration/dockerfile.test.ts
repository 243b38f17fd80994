/**
 * The Dockerfile, checked against the repository the way `docker build` uses
 * it, without a Docker engine (there is none here or in CI).
 *
 * The test replays both stages in temporary folders that stand for each
 * stage's file system: FROM, WORKDIR, USER, COPY from the build context
 * (through .dockerignore, as Docker sends it) and from an earlier stage, and
 * the RUN steps it knows how to stand in for:
 *   npm ci                the repository's node_modules, after the check npm ci
 *                         makes (package-lock.json agrees with package.json);
 *   npx tsc ...           run for real, in the build stage's folder;
 *   npm prune --omit=dev  only the packages package-lock.json does not mark
 *                         "dev" stay (links into the repository's node_modules);
 *   apt-get, setcap, mkdir, chown, rm of apt lists   recorded or made.
 * Any other instruction or RUN step fails the test naming its line: teach it
 * here rather than let it pass unchecked.
 *
 * Then it checks the assembled /app as the image would run it: ENTRYPOINT and
 * CMD name files and directories that exist, CMD's flags are ones `run --help`
 * lists, EXPOSE has the CLI's default HTTP port, every package the compiled
 * src/ imports is a dependency and loads from the pruned node_modules, and the
 * CLI finds its templates and renders the examples.
 *
 * Not checked (needs Docker or the image): that the base image is what its tag
 * says (Node 20, Debian 12, a user "node" with uid 1000), that apt-get and
 * setcap succeed, and what the packages install: the Debian paths are the
 * constants below.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import yaml from 'js-yaml';
import ts from 'typescript';

const root = new URL('../../../', import.meta.url).pathname.replace(/\/$/, '');

/**
 * Where Debian 12 (bookworm) installs them, the base of node:20-bookworm-slim:
 * `dpkg-deb -c` of tini_0.19.0-1+b3 lists ./usr/bin/tini and of haproxy_2.6.12
 * ./usr/sbin/haproxy. Compared as strings: neither package need be installed
 * where the test runs.
 */
const DEBIAN_TINI = '/usr/bin/tini';
const DEBIAN_HAPROXY = '/usr/sbin/haproxy';

// ---------------------------------------------------------------------------
// .dockerignore, as Docker applies it (moby's patternmatcher): lines trimmed,
// "#" comments, "!" exceptions, patterns cleaned and a leading "/" dropped;
// "*" and "?" stop at "/", "**" crosses folders; a pattern that matches a
// folder excludes everything under it; the last matching line decides.

interface IgnoreRule {
  line: number;
  text: string;
  negate: boolean;
  re: RegExp;
}

function globToRegExp(p: string): RegExp {
  let re = '^';
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '*') {
      if (p[i + 1] === '*') {
        i++;
        if (p[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < p.length) re += p[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else if (c === '[') {
      const end = p.indexOf(']', i + 2);
      if (end < 0) throw new Error(`unterminated [ in ${p}`);
      re += `[${p.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`${re}$`);
}

function parseDockerignore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  text.split('\n').forEach((raw, i) => {
    let p = raw.trim();
    if (p === '' || p.startsWith('#')) return;
    const negate = p.startsWith('!');
    if (negate) p = p.slice(1).trim();
    p = posix.normalize(p).replace(/^\/+/, '').replace(/\/+$/, '');
    if (p === '' || p === '.') return;
    rules.push({ line: i + 1, text: raw.trim(), negate, re: globToRegExp(p) });
  });
  return rules;
}

/** The rule that excludes `path` (relative to the context, "/"-separated), if any. */
function excludedBy(rules: IgnoreRule[], path: string): IgnoreRule | undefined {
  const parts = path.split('/');
  let by: IgnoreRule | undefined;
  for (const r of rules) {
    for (let k = 1; k <= parts.length; k++) {
      if (r.re.test(parts.slice(0, k).join('/'))) {
        by = r.negate ? undefined : r;
        break;
      }
    }
  }
  return by;
}

// ---------------------------------------------------------------------------
// The Dockerfile: instructions with their first line, continuations joined.

interface Instruction {
  line: number;
  keyword: string;
  args: string;
}

function parseDockerfile(text: string): Instruction[] {
  const lines = text.split('\n');
  const blank = (l: string) => /^\s*(#.*)?$/.test(l);
  const out: Instruction[] = [];
  for (let i = 0; i < lines.length; ) {
    const line = i + 1;
    let body = lines[i++]!;
    if (blank(body)) continue;
    while (/\\\s*$/.test(body)) {
      body = body.replace(/\\\s*$/, ' ');
      let next: string | undefined;
      do next = lines[i++];
      while (next !== undefined && blank(next));
      if (next === undefined) break;
      body += next.trim();
    }
    const m = /^\s*(\S+)\s*(.*)$/s.exec(body)!;
    out.push({ line, keyword: m[1]!.toUpperCase(), args: m[2]!.trim() });
  }
  return out;
}

const OPERATOR = /^(&&|\|\||[;|&<>`$()])$/;

/** Shell words; unquoted operators (&&, ;, |, $, ...) come back as their own words, flagged. */
function shellWords(s: string): { word: string; op: boolean }[] {
  const out: { word: string; op: boolean }[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | undefined;
  const flush = () => {
    if (inWord) out.push({ word: cur, op: false });
    cur = '';
    inWord = false;
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(c)) flush();
    else if (/[;|&<>`$()]/.test(c)) {
      flush();
      const two = s.slice(i, i + 2);
      if (two === '&&' || two === '||') i++;
      out.push({ word: two === '&&' || two === '||' ? two : c, op: true });
    } else {
      cur += c;
      inWord = true;
    }
  }
  flush();
  return out;
}

// ---------------------------------------------------------------------------
// The replay.

interface Stage {
  index: number;
  name?: string;
  image: string;
  from: Instruction;
  /** The folder standing for this stage's "/". */
  root: string;
  workdir: string;
  user?: string;
  userAt?: Instruction;
  apt: Map<string, Instruction>;
  purged: Set<string>;
  setcap: { path: string; at: Instruction }[];
  owners: Map<string, string>;
  expose: { port: number; at: Instruction }[];
  entrypoint?: { argv: string[]; at: Instruction };
  cmd?: { argv: string[]; at: Instruction };
  prune?: Instruction;
}

interface Problem {
  kind: 'copy' | 'build';
  message: string;
}

const where = (ins: Instruction) => {
  const text = `${ins.keyword} ${ins.args}`.replace(/\s+/g, ' ');
  return `Dockerfile:${ins.line} (${text.length > 70 ? `${text.slice(0, 67)}...` : text})`;
};

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as Record<string, any>;

function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (lstatSync(p).isDirectory()) out.push(...walkFiles(p));
    else out.push(p);
  }
  return out;
}

/** What npm ci checks before installing: the lock file's root matches package.json. */
function lockProblem(pkg: Record<string, any>, lock: Record<string, any>): string | undefined {
  const rootEntry = lock.packages?.[''];
  if (!rootEntry) return 'package-lock.json has no "packages" root entry (lockfileVersion 2 or later): npm ci would refuse it';
  for (const field of ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies']) {
    const want = JSON.stringify(Object.entries(pkg[field] ?? {}).sort());
    const have = JSON.stringify(Object.entries(rootEntry[field] ?? {}).sort());
    if (want !== have) return `npm ci fails: package-lock.json's ${field} ${have} differ from package.json's ${want}; run npm install and commit the lock file`;
  }
  return undefined;
}

/** The packages `npm prune --omit=dev` keeps: top-level entries of the lock file not marked dev. */
function productionPackages(lock: Record<string, any>): string[] {
  return Object.entries(lock.packages as Record<string, { dev?: boolean }>)
    .filter(([key, v]) => /^node_modules\/(@[^/]+\/)?[^/]+$/.test(key) && !v.dev)
    .map(([key]) => key.slice('node_modules/'.length));
}

interface Build {
  stages: Stage[];
  problems: Problem[];
  ignore: IgnoreRule[];
}

function replay(instructions: Instruction[], tmp: string): Build {
  const ignoreFile = join(root, '.dockerignore');
  const ignore = existsSync(ignoreFile) ? parseDockerignore(readFileSync(ignoreFile, 'utf8')) : [];
  const stages: Stage[] = [];
  const problems: Problem[] = [];
  let stage: Stage | undefined;

  for (const ins of instructions) {
    const problem = (kind: Problem['kind'], message: string) => problems.push({ kind, message: `${where(ins)}: ${message}` });
    if (ins.keyword === 'FROM') {
      const w = ins.args.split(/\s+/);
      const index = stages.length;
      stage = {
        index,
        name: w[1]?.toUpperCase() === 'AS' ? w[2]?.toLowerCase() : undefined,
        image: w[0]!,
        from: ins,
        root: join(tmp, `stage${index}`),
        workdir: '/',
        apt: new Map(),
        purged: new Set(),
        setcap: [],
        owners: new Map(),
        expose: [],
      };
      mkdirSync(stage.root, { recursive: true });
      stages.push(stage);
      continue;
    }
    if (!stage) {
      problem('build', `${ins.keyword} before the first FROM is not replayed (this test expands no build arguments): teach it (test/integration/dockerfile.test.ts)`);
      continue;
    }
    const s = stage;
    if (ins.keyword !== 'RUN' && ins.args.includes('$')) {
      problem('build', 'uses a variable; this test does not expand variables: teach it (test/integration/dockerfile.test.ts)');
      continue;
    }
    /** A container path, absolute, resolved against WORKDIR. */
    const abs = (p: string) => posix.resolve(s.workdir, p);
    /** Where a container path lives in the stage's folder. */
    const local = (p: string) => join(s.root, abs(p));
    const execForm = (): string[] | undefined => {
      try {
        const v = JSON.parse(ins.args) as unknown;
        if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
      } catch {
        // reported below
      }
      problem('build', 'use the exec form (a JSON array of strings): in shell form /bin/sh runs the command and signals do not reach it');
      return undefined;
    };

    switch (ins.keyword) {
      case 'WORKDIR':
        s.workdir = abs(ins.args);
        mkdirSync(local(s.workdir), { recursive: true });
        break;
      case 'USER':
        s.user = ins.args.split(':')[0];
        s.userAt = ins;
        break;
      case 'EXPOSE':
        for (const w of ins.args.split(/\s+/)) {
          const m = /^(\d+)(\/(tcp|udp))?$/.exec(w);
          if (!m) problem('build', `"${w}" is not PORT or PORT/PROTO`);
          else s.expose.push({ port: Number(m[1]), at: ins });
        }
        break;
      case 'ENTRYPOINT':
      case 'CMD': {
        const argv = execForm();
        if (argv) s[ins.keyword === 'CMD' ? 'cmd' : 'entrypoint'] = { argv, at: ins };
        break;
      }
      case 'LABEL':
      case 'ENV':
        break;
      case 'COPY':
        copy(ins, s, stages, ignore, problem);
        break;
      case 'RUN': {
        const words = shellWords(ins.args);
        const op = words.find((w) => w.op && w.word !== '&&');
        if (op) {
          problem('build', `"${op.word}": this test replays only commands joined by &&: teach it (test/integration/dockerfile.test.ts)`);
          break;
        }
        const commands: string[][] = [[]];
        for (const w of words) {
          if (w.op) commands.push([]);
          else commands[commands.length - 1]!.push(w.word);
        }
        for (const argv of commands) {
          const failure = runStep(argv, s, ins);
          if (failure) {
            problem('build', `${argv.join(' ')}: ${failure}`);
            break;
          }
        }
        break;
      }
      default:
        problem('build', `this test does not know ${ins.keyword}: teach it (test/integration/dockerfile.test.ts)`);
    }
  }
  return { stages, problems, ignore };

  function runStep(argv: string[], s: Stage, ins: Instruction): string | undefined {
    const [cmd, ...args] = argv;
    const cwd = join(s.root, s.workdir);
    const plain = args.filter((a) => !a.startsWith('-'));
    const local = (p: string) => join(s.root, posix.resolve(s.workdir, p));
    switch (cmd) {
      case 'npm':
        if (args[0] === 'ci') {
          if (!existsSync(join(cwd, 'package.json')) || !existsSync(join(cwd, 'package-lock.json'))) {
            return `npm ci needs package.json and package-lock.json in WORKDIR ${s.workdir}; COPY them first`;
          }
          const lock = lockProblem(readJson(join(cwd, 'package.json')), readJson(join(cwd, 'package-lock.json')));
          if (lock) return lock;
          if (!existsSync(join(root, 'node_modules'))) return "the repository's node_modules stands in for npm ci and is missing: run npm ci";
          symlinkSync(join(root, 'node_modules'), join(cwd, 'node_modules'));
          return undefined;
        }
        if (args[0] === 'prune' && args.includes('--omit=dev')) {
          const nm = join(cwd, 'node_modules');
          if (!existsSync(nm)) return 'there is no node_modules in WORKDIR to prune';
          if (lstatSync(nm).isSymbolicLink()) unlinkSync(nm); // the stand-in for npm ci: never follow it
          else rmSync(nm, { recursive: true, force: true });
          for (const name of productionPackages(readJson(join(cwd, 'package-lock.json')))) {
            const target = join(root, 'node_modules', name);
            if (!existsSync(target)) return `package-lock.json lists ${name}, which the repository's node_modules lacks: run npm ci`;
            mkdirSync(dirname(join(nm, name)), { recursive: true });
            symlinkSync(target, join(nm, name));
          }
          s.prune = ins;
          return undefined;
        }
        return 'this test replays npm ci and npm prune --omit=dev only: teach it (test/integration/dockerfile.test.ts)';
      case 'npx': {
        if (args[0] !== 'tsc') return 'this test replays npx tsc only: teach it (test/integration/dockerfile.test.ts)';
        const tsc = join(cwd, 'node_modules', 'typescript', 'bin', 'tsc');
        if (!existsSync(tsc)) return 'typescript is not installed in WORKDIR (npm ci first)';
        const r = spawnSync(process.execPath, [tsc, ...args.slice(1)], { cwd, encoding: 'utf8', timeout: 60_000 });
        if (r.status !== 0) return `tsc failed (exit ${r.status}) on what the stage copied:\n${r.stdout}${r.stderr}`;
        return undefined;
      }
      case 'apt-get': {
        const [sub, ...pkgs] = plain;
        if (sub === 'update') return undefined;
        if (sub === 'install') for (const p of pkgs) s.apt.set(p, ins);
        else if (sub === 'purge' || sub === 'remove') {
          for (const p of pkgs) {
            s.apt.delete(p);
            s.purged.add(p);
          }
        } else return `apt-get ${sub} is not replayed: teach it (test/integration/dockerfile.test.ts)`;
        return undefined;
      }
      case 'setcap':
        s.setcap.push({ path: plain[plain.length - 1]!, at: ins });
        return undefined;
      case 'rm':
        // Recorded, never made: only the apt lists and /tmp may go.
        for (const p of plain) if (!/^\/(var\/lib\/apt\/lists|tmp)(\/|$)/.test(posix.resolve(s.workdir, p))) return `rm of ${p} is not replayed`;
        return undefined;
      case 'mkdir':
        for (const p of plain) mkdirSync(local(p), { recursive: true });
        return undefined;
      case 'chown': {
        const [owner, ...paths] = plain;
        for (const p of paths) {
          if (!existsSync(local(p))) return `${p} does not exist`;
          s.owners.set(posix.resolve(s.workdir, p), owner!.split(':')[0]!);
        }
        return undefined;
      }
      default:
        return `this test does not replay "${cmd}": teach it (test/integration/dockerfile.test.ts)`;
    }
  }
}

function copy(ins: Instruction, s: Stage, stages: Stage[], ignore: IgnoreRule[], problem: (kind: Problem['kind'], message: string) => void): void {
  let rest = ins.args;
  let from: Stage | undefined;
  for (let m; (m = /^(--\S+)\s+/.exec(rest)); rest = rest.slice(m[0].length)) {
    const [flag, value] = m[1]!.split('=');
    if (flag === '--from') {
      from = stages.find((st) => st.index < s.index && (st.name === value!.toLowerCase() || String(st.index) === value));
      if (!from) return problem('build', `--from=${value} is not an earlier stage (this test cannot look inside an image)`);
    } else if (flag !== '--chown' && flag !== '--chmod' && flag !== '--link') {
      return problem('build', `${flag} is not replayed: teach it (test/integration/dockerfile.test.ts)`);
    }
  }
  let list: string[];
  if (rest.startsWith('[')) list = JSON.parse(rest) as string[];
  else list = shellWords(rest).map((w) => w.word);
  const dest = list.pop();
  if (!dest || list.length === 0) return problem('build', 'COPY needs a source and a destination');
  const destAbs = posix.resolve(s.workdir, dest);
  const destLocal = join(s.root, destAbs);
  const intoDir = dest.endsWith('/') || list.length > 1;

  for (const src of list) {
    if (/[*?[]/.test(src)) {
      problem('build', `${src}: wildcards are not replayed: teach it (test/integration/dockerfile.test.ts)`);
      continue;
    }
    let srcLocal: string;
    let filter: ((p: string) => boolean) | undefined;
    if (from) {
      srcLocal = join(from.root, posix.resolve('/', src));
      if (!existsSync(srcLocal)) {
        problem('build', `${src} does not exist in stage ${from.name ?? from.index} (${where(from.from)}) at this point: the build did not produce it there`);
        continue;
      }
    } else {
      const rel = posix.normalize(src).replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
      if (rel.startsWith('..')) {
        problem('copy', `${src} is outside the build context`);
        continue;
      }
      srcLocal = join(root, rel);
      if (!existsSync(srcLocal)) {
        problem('copy', `${src} does not exist in the repository`);
        continue;
      }
      const files = statSync(srcLocal).isDirectory() ? walkFiles(srcLocal).map((f) => relative(root, f)) : [rel];
      const dropped = files.map((f) => ({ f, by: excludedBy(ignore, f) })).filter((x) => x.by);
      if (dropped.length > 0) {
        const first = dropped[0]!;
        const what = dropped.length === files.length ? `${src} (all of it)` : `${dropped.length} file(s) of ${src}, such as ${first.f}`;
        problem('copy', `.dockerignore:${first.by!.line} ("${first.by!.text}") leaves ${what} out of the build context`);
      }
      filter = (p: string) => p === srcLocal || !excludedBy(ignore, relative(root, p));
    }
    if (statSync(srcLocal).isDirectory()) {
      cpSync(srcLocal, destLocal, { recursive: true, verbatimSymlinks: true, filter });
    } else {
      const target = intoDir || (existsSync(destLocal) && statSync(destLocal).isDirectory()) ? join(destLocal, basename(srcLocal)) : destLocal;
      mkdirSync(dirname(target), { recursive: true });
      cpSync(srcLocal, target);
    }
  }
}

// ---------------------------------------------------------------------------

const dockerfile = parseDockerfile(readFileSync(join(root, 'Dockerfile'), 'utf8'));
let tmp = '';
let build: Build;
let final: Stage;

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'nh-dockerfile-'));
  build = replay(dockerfile, tmp);
  final = build.stages[build.stages.length - 1]!;
});

after(() => {
  // The stage folders hold links into the repository's node_modules: rmSync
  // removes links, never what they point at.
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function noIssues(issues: string[], what: string): void {
  assert.ok(issues.length === 0, `${what}:\n  ${issues.join('\n  ')}`);
}

/**
 * The checks on the assembled image need a build that replayed. A COPY source
 * missing from the context is reported by its own test; the replay goes on
 * without it, so the checks below show what its absence breaks.
 */
function replayed(): void {
  noIssues(
    build.problems.filter((p) => p.kind === 'build').map((p) => p.message),
    'the replayed build failed, so the image cannot be checked',
  );
}

/** Runs the image's CLI from the assembled /app, with only the pruned node_modules reachable. */
function cli(...args: string[]) {
  const script = nodeScript();
  assert.ok(script, 'ENTRYPOINT/CMD names no node script');
  return spawnSync(process.execPath, ['--preserve-symlinks', join(final.root, script), ...args], { cwd: tmp, encoding: 'utf8', timeout: 20_000 });
}

/** The script node runs: the first word after "node" in ENTRYPOINT + CMD that is not a flag. */
function nodeScript(): string | undefined {
  const argv = [...(final.entrypoint?.argv ?? []), ...(final.cmd?.argv ?? [])];
  const i = argv.indexOf('node');
  return i < 0 ? undefined : argv.slice(i + 1).find((a) => !a.startsWith('-'));
}

test(".dockerignore matching follows Docker's rules (the COPY check relies on it)", () => {
  const rules = (text: string) => parseDockerignore(text);
  const ex = (text: string, path: string) => excludedBy(rules(text), path) !== undefined;
  // The examples of Docker's .dockerignore reference.
  assert.ok(ex('*/temp*', 'somedir/temporary.txt'));
  assert.ok(ex('*/temp*', 'somedir/temp/x'));
  assert.ok(!ex('*/temp*', 'temporary.txt'));
  assert.ok(ex('*/*/temp*', 'somedir/subdir/temporary.txt'));
  assert.ok(ex('temp?', 'tempa') && !ex('temp?', 'tempab'));
  assert.ok(ex('**/*.go', 'a.go') && ex('**/*.go', 'x/y/a.go'));
  assert.ok(ex('*.md\n!README.md', 'a.md') && !ex('*.md\n!README.md', 'README.md'));
  assert.ok(ex('*.md\n!README*.md\nREADME-secret.md', 'README-secret.md'));
  assert.ok(!ex('*.md\nREADME-secret.md\n!README*.md', 'README-secret.md'));
  assert.ok(ex('/foo/bar', 'foo/bar') && ex('foo/bar/', 'foo/bar/baz') && !ex('foo/bar', 'bar'));
  // Not like .gitignore: a bare name matches at the root only.
  assert.ok(ex('node_modules', 'node_modules/x/y.js') && !ex('node_modules', 'src/node_modules/x.js'));
  assert.ok(!ex('*.log', 'a/b.log'));
});

test('every COPY source from the build context exists, and .dockerignore keeps all of it', () => {
  noIssues(
    build.problems.filter((p) => p.kind === 'copy').map((p) => p.message),
    'COPY sources the build context would not have',
  );
});

test('the build replays: npm ci accepts the lock file, tsc compiles what the build stage copied, COPY --from finds its output', () => {
  replayed();
  assert.ok(build.stages.length >= 2, 'expected a build stage and a final stage');
});

test("both stages use one Debian 12 (bookworm) Node image that package.json's engines accept", () => {
  const issues: string[] = [];
  const engines = /(\d+)/.exec(String(readJson(join(root, 'package.json')).engines?.node ?? ''));
  for (const st of build.stages) {
    const m = /^node:(\d+)[\d.]*-bookworm(-slim)?$/.exec(st.image);
    if (!m) issues.push(`${where(st.from)}: expected node:MAJOR-bookworm[-slim]: the apt packages and paths here are Debian 12's`);
    else if (engines && Number(m[1]) < Number(engines[1])) issues.push(`${where(st.from)}: Node ${m[1]} is older than package.json's engines.node`);
  }
  const images = new Set(build.stages.map((st) => st.image));
  if (images.size > 1) issues.push(`stages use ${[...images].join(' and ')}: node_modules is copied across stages, so they should be one image`);
  noIssues(issues, 'base images');
});

test("ENTRYPOINT runs tini at Debian's path, then node on a file the build produced", () => {
  replayed();
  const ep = final.entrypoint;
  assert.ok(ep, 'the final stage has no ENTRYPOINT');
  const issues: string[] = [];
  if (ep.argv[0] !== DEBIAN_TINI) issues.push(`${where(ep.at)}: expected ${DEBIAN_TINI} first (where Debian's tini package installs it), got ${ep.argv[0]}`);
  if (!final.apt.has('tini')) issues.push(`${where(ep.at)}: runs tini, which no apt-get install in the final stage installs`);
  if (ep.argv[1] !== '--') issues.push(`${where(ep.at)}: expected "--" after tini, so tini takes no flag meant for the program`);
  if (!ep.argv.includes('node')) issues.push(`${where(ep.at)}: does not run node`);
  const script = nodeScript();
  if (!script) issues.push(`${where(ep.at)}: names no script for node`);
  else if (!existsSync(join(final.root, script)) || !statSync(join(final.root, script)).isFile()) {
    issues.push(`${where(ep.at)}: ${script} is not in the image: the build (tsc -p tsconfig.build.json) and COPY --from put no file there`);
  }
  // Every other absolute path ENTRYPOINT passes (CMD's are checked with CMD;
  // tini's is a Debian package's, above).
  for (const a of ep.argv.flatMap((x) => x.split('=')).filter((x, i) => i > 0 && x.startsWith('/') && x !== script)) {
    if (!existsSync(join(final.root, a))) issues.push(`${where(ep.at)}: ${a} does not exist in the image`);
  }
  noIssues(issues, 'ENTRYPOINT');
});

test('apt-get installs haproxy and tini; setcap gives the capability to the HAProxy the controller runs', () => {
  replayed();
  const issues: string[] = [];
  for (const p of ['haproxy', 'tini']) {
    if (!final.apt.has(p)) issues.push(`${where(final.from)}: no apt-get install of ${p} in the final stage${final.purged.has(p) ? ' (it is purged)' : ''}`);
  }
  const argv = final.cmd?.argv ?? [];
  const i = argv.findIndex((a) => a === '--haproxy-bin' || a.startsWith('--haproxy-bin='));
  // Without --haproxy-bin the controller runs "haproxy" from PATH: Debian's, in /usr/sbin.
  const runs = i < 0 ? DEBIAN_HAPROXY : argv[i]!.includes('=') ? argv[i]!.split('=')[1]! : argv[i + 1]!;
  if (runs !== DEBIAN_HAPROXY) issues.push(`${where(final.cmd!.at)}: --haproxy-bin ${runs} is not Debian's ${DEBIAN_HAPROXY}`);
  for (const sc of final.setcap) {
    if (sc.path !== DEBIAN_HAPROXY) issues.push(`${where(sc.at)}: setcap on ${sc.path}, not on Debian's HAProxy ${DEBIAN_HAPROXY}`);
  }
  noIssues(issues, 'system packages');
});

test("EXPOSE has the CLI's default HTTP port (from run --help), and every other exposed port is one the examples bind", () => {
  replayed();
  const help = cli('run', '--help');
  assert.equal(help.status, 0, `run --help failed: ${help.stderr}`);
  const m = /--http-address\b[\s\S]*?\(default: [^)]*?:(\d+)\)/.exec(help.stdout);
  assert.ok(m, `cannot find --http-address's default in run --help:\n${help.stdout}`);
  const httpPort = Number(m[1]);
  const exposed = final.expose.map((e) => e.port);
  const at = final.expose[0]?.at ?? final.from;
  const issues: string[] = [];
  if (!exposed.includes(httpPort)) issues.push(`${where(at)}: does not expose ${httpPort}, the CLI's default --http-address port (/metrics, /healthz, /readyz)`);
  const examples = join(final.root, 'app', 'examples');
  const bound = new Set<number>();
  if (existsSync(examples)) {
    for (const f of readdirSync(examples).filter((n) => /\.ya?ml$/.test(n))) {
      for (const d of yaml.loadAll(readFileSync(join(examples, f), 'utf8')) as any[]) {
        if (d?.kind === 'Frontend') for (const b of d.spec?.binds ?? []) bound.add(Number(b.port));
      }
    }
  }
  for (const e of final.expose) {
    if (e.port !== httpPort && !bound.has(e.port)) issues.push(`${where(e.at)}: ${e.port} is neither the CLI's HTTP port (${httpPort}) nor a port a Frontend in examples/ binds (${[...bound].join(', ') || 'none'})`);
  }
  noIssues(issues, 'EXPOSE');
});

test('CMD is a CLI command whose every flag its --help lists; its directories exist and the state dir belongs to USER', () => {
  replayed();
  const cmd = final.cmd;
  assert.ok(cmd, 'the final stage has no CMD');
  const [command, ...args] = cmd.argv;
  const help = cli(command!, '--help');
  assert.equal(help.status, 0, `${where(cmd.at)}: "${command} --help" fails, so "${command}" is not a command of the CLI:\n${help.stderr}`);
  const issues: string[] = [];
  const value = (flag: string) => {
    const i = args.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    if (i < 0) return undefined;
    return args[i]!.includes('=') ? args[i]!.slice(flag.length + 1) : args[i + 1];
  };
  for (const a of args.filter((x) => x.startsWith('--'))) {
    const flag = a.split('=')[0]!;
    if (!new RegExp(`(^|\\s)${flag}(\\s|,|=|$)`, 'm').test(help.stdout)) issues.push(`${where(cmd.at)}: ${flag} is not an option of "${command}" (${command} --help does not list it)`);
  }
  if (!final.user || final.user === 'root' || final.user === '0') issues.push(`${where(final.userAt ?? final.from)}: the image should run as an unprivileged USER`);
  const stateDir = value('--state-dir');
  if (stateDir) {
    if (!existsSync(join(final.root, stateDir))) issues.push(`${where(cmd.at)}: --state-dir ${stateDir} is not created in the image`);
    else if (final.owners.get(stateDir) !== final.user) {
      issues.push(`${where(cmd.at)}: --state-dir ${stateDir} belongs to ${final.owners.get(stateDir) ?? 'root'}, but the controller runs as ${final.user}, who must write there (chown it)`);
    }
  }
  for (const a of args.flatMap((x) => x.split('=')).filter((x) => x.startsWith('/'))) {
    if (!existsSync(join(final.root, a))) issues.push(`${where(cmd.at)}: ${a} does not exist in the image`);
  }
  noIssues(issues, 'CMD');
});

test('every package the compiled src/ imports is in dependencies, and loads from the pruned node_modules', () => {
  replayed();
  const pkg = readJson(join(root, 'package.json'));
  const app = join(final.root, 'app');
  const dist = join(app, 'dist', 'src');
  assert.ok(existsSync(dist), 'the image has no /app/dist/src');
  const builtins = new Set(builtinModules);
  const imports = new Map<string, string>(); // specifier -> first file importing it
  for (const file of walkFiles(dist).filter((f) => f.endsWith('.js'))) {
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (/^(\.|\/|node:)/.test(fileName) || builtins.has(fileName.split('/')[0]!)) continue;
      if (!imports.has(fileName)) imports.set(fileName, relative(app, file));
    }
  }
  assert.ok(imports.size > 0, 'found no package imports in the compiled src/: the scan is broken');
  const issues: string[] = [];
  const prune = final.prune ?? build.stages.find((st) => st.prune)?.prune;
  for (const [spec, file] of imports) {
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
    if (!pkg.dependencies?.[name]) {
      const inDev = Boolean(pkg.devDependencies?.[name]);
      issues.push(`/app/${file} imports "${spec}", which package.json lists ${inDev ? 'only in devDependencies' : 'nowhere'}${prune ? `: ${where(prune)} leaves it out of the image` : ''}`);
    }
  }
  // Load each one from the image's /app, symlinks preserved, so only the pruned
  // node_modules (and the packages in it) can answer.
  const probe = join(dist, '.dockerfile-probe.mjs');
  writeFileSync(
    probe,
    `const bad = [];
for (const s of ${JSON.stringify([...imports.keys()])}) {
  try {
    const url = import.meta.resolve(s);
    if (!url.startsWith(${JSON.stringify(pathToFileURL(join(app, 'node_modules')).href + '/')})) bad.push(s + ': resolves outside /app/node_modules, to ' + url);
    else await import(s);
  } catch (e) { bad.push(s + ': ' + String(e.message).split('\\n')[0]); }
}
if (bad.length) { process.stderr.write(bad.join('\\n')); process.exitCode = 1; }
`,
  );
  const r = spawnSync(process.execPath, ['--preserve-symlinks', probe], { cwd: tmp, encoding: 'utf8', timeout: 20_000 });
  rmSync(probe);
  if (r.status !== 0) issues.push(`in the image, after ${prune ? where(prune) : 'the build'}, these imports fail:\n    ${r.stderr.trim().split('\n').join('\n    ')}`);
  noIssues(issues, 'runtime dependencies');
});

test('the assembled /app works as the image runs it: ES modules, templates found from dist/src, the examples render', () => {
  replayed();
  const script = nodeScript()!;
  // Node loads dist/ as ES modules only if the nearest package.json says so.
  let dir = dirname(join(final.root, script));
  while (!existsSync(join(dir, 'package.json')) && dir.startsWith(final.root)) dir = dirname(dir);
  const pkgFile = join(dir, 'package.json');
  assert.ok(dir.startsWith(final.root) && existsSync(pkgFile), `no package.json above ${script} in the image: COPY package.json next to dist/`);
  assert.equal(readJson(pkgFile).type, 'module', `${pkgFile.slice(final.root.length)} lacks "type": "module"`);
  // render reads templates/ from the folder above dist/src (src/paths.ts) and
  // imports handlebars, js-yaml, ajv: from the image's layout only.
  const r = cli('render', join(final.root, 'app', 'examples'));
  assert.equal(r.status, 0, `render of /app/examples failed in the assembled image:\n${r.stderr}`);
  assert.match(r.stdout, /^# Generated by node-haproxy/);
  assert.match(r.stdout, /\nfrontend /);
});
