#!/usr/bin/env node
// Makes sure the system programs a task needs are installed.
//   node scripts/ensure-deps.mjs start   HAProxy, openssl (npm start)
//   node scripts/ensure-deps.mjs test    HAProxy, etcd, etcdctl, promtool, openssl (npm test)
//   node scripts/ensure-deps.mjs bench   the test set plus wrk (npm run bench)
// Missing ones are installed from Debian's packages when running as root on a
// system with apt-get; otherwise it says what to install and exits 1.
import { spawnSync } from 'node:child_process';

const PROGRAMS = {
  haproxy: { pkg: 'haproxy', args: ['-v'] },
  etcd: { pkg: 'etcd-server', args: ['--version'] },
  etcdctl: { pkg: 'etcd-client', args: ['version'] },
  promtool: { pkg: 'prometheus', args: ['--version'] },
  wrk: { pkg: 'wrk', args: ['--version'] },
  // The demo's self-signed certificate, the tests' certificates.
  openssl: { pkg: 'openssl', args: ['version'] },
};
const PROFILES = {
  start: ['haproxy', 'openssl'],
  test: ['haproxy', 'etcd', 'etcdctl', 'promtool', 'openssl'],
  bench: ['haproxy', 'etcd', 'etcdctl', 'promtool', 'wrk', 'openssl'],
};

const profile = process.argv[2] ?? 'start';
const wanted = PROFILES[profile];
if (!wanted) {
  console.error(`usage: ensure-deps.mjs ${Object.keys(PROFILES).join('|')}`);
  process.exit(2);
}
// HAPROXY_BIN (the tests' and benchmarks' HAProxy, e.g. 3.0 from
// scripts/build-haproxy.sh) stands in for Debian's package when set.
const haproxyBin = process.env.HAPROXY_BIN;
const present = (name) => {
  const r = spawnSync(name === 'haproxy' && haproxyBin ? haproxyBin : name, PROGRAMS[name].args, { stdio: 'ignore' });
  return r.error === undefined; // wrk --version exits 1 but runs
};
if (haproxyBin && wanted.includes('haproxy') && !present('haproxy')) {
  console.error(
    `HAPROXY_BIN=${haproxyBin} cannot be run: build it (scripts/build-haproxy.sh prints the path of HAProxy 3.0) or unset HAPROXY_BIN to use the haproxy on PATH.`,
  );
  process.exit(1);
}
const missing = wanted.filter((p) => !present(p));
if (missing.length === 0) process.exit(0);

const pkgs = [...new Set(missing.map((p) => PROGRAMS[p].pkg))];
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (isRoot && hasApt) {
  console.error(`Installing Debian packages for "${profile}": ${pkgs.join(' ')} (apt-get)...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Packages must not start their own services (haproxy, etcd, prometheus): we start what we need.
  const policy = spawnSync(
    'sh',
    ['-c', "[ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && echo created; }"],
    { encoding: 'utf8' },
  );
  const steps = [
    ['apt-get', ['update', '-qq']],
    ['apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...pkgs]],
  ];
  let ok = true;
  for (const [cmd, args] of steps) {
    if (spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'], env }).status !== 0) {
      ok = false;
      break;
    }
  }
  if (policy.stdout?.includes('created')) spawnSync('rm', ['-f', '/usr/sbin/policy-rc.d']);
  const still = wanted.filter((p) => !present(p));
  if (ok && still.length === 0) process.exit(0);
  console.error(`apt-get could not provide: ${still.join(', ') || pkgs.join(', ')}`);
  process.exit(1);
}
console.error(`Missing programs for "${profile}": ${missing.join(', ')}. Install them first:
  Debian/Ubuntu:  sudo apt-get install ${pkgs.join(' ')}
  other systems:  install ${missing.join(', ')} (HAProxy 2.6 or newer) and put them on PATH
then run the command again.`);
process.exit(1);
