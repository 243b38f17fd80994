#!/usr/bin/env node
// Makes sure an HAProxy binary is available before `npm start`.
// Installs Debian's haproxy package when it is missing and we run as root on
// a Debian-like system; otherwise explains what to do.
import { spawnSync } from 'node:child_process';

const bin = process.env.HAPROXY_BIN || 'haproxy';
const found = () => spawnSync(bin, ['-v'], { stdio: 'ignore' }).status === 0;

if (found()) process.exit(0);
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const hasApt = spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
if (isRoot && hasApt && bin === 'haproxy') {
  console.error('HAProxy is not installed: installing Debian\'s haproxy package (apt-get install haproxy)...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const steps = [
    ['apt-get', ['update', '-qq']],
    ['apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'haproxy']],
  ];
  for (const [cmd, args] of steps) {
    const r = spawnSync(cmd, args, { stdio: 'inherit', env });
    if (r.status !== 0) {
      console.error(`"${cmd} ${args.join(' ')}" failed; install HAProxy 2.6 or newer yourself and try again.`);
      process.exit(1);
    }
  }
  if (found()) process.exit(0);
}
console.error(`HAProxy ("${bin}") was not found. Install it first:
  Debian/Ubuntu:  sudo apt-get install haproxy
  other systems:  install HAProxy 2.6 or newer and put it on PATH
(or set HAPROXY_BIN to its path). Then run "npm start" again.`);
process.exit(1);
