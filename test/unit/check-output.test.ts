/** Which resource's section `haproxy -c` (or a failed reload, or the bind pre-flight) blames. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blameSections } from '../../src/haproxy/check-output.js';

const CFG = [
  'global', //                                  1
  '    master-worker', //                       2
  'defaults', //                                3
  '    timeout client 1s', //                   4
  '', //                                        5
  'frontend default_web', //                    6
  '    bind 127.0.0.1:8080', //                 7
  '    http-request frobnicate', //             8
  '    default_backend default_app', //         9
  '', //                                        10
  'backend default_app', //                     11
  '    http-check expect sstatus 200', //       12
  '    server a 127.0.0.1:1 check', //          13
].join('\n');

test('a parsing alert blames the section its line is in, with the line and without the temporary path', () => {
  // Captured from HAProxy 2.6.12 (two alerts, one summary line).
  const out = `[NOTICE]   (9888) : haproxy version is 2.6.12-1+deb12u4
[ALERT]    (9888) : config : parsing [/tmp/nh/candidate-1-2.cfg:8] : 'http-request' expects 'wait-for-handshake', 'deny', but got 'frobnicate'.
[ALERT]    (9888) : config : parsing [/tmp/nh/candidate-1-2.cfg:12] : 'http-check expect' : 'only supports min-recv' but got 'sstatus' as argument..
[ALERT]    (9888) : config : Error(s) found in configuration file : /tmp/nh/candidate-1-2.cfg
[ALERT]    (9888) : config : Fatal errors found in configuration.`;
  assert.deepEqual(blameSections(out, CFG), [
    {
      proxy: 'default_web',
      line: 8,
      lineText: 'http-request frobnicate',
      transient: false,
      message: "line 8: 'http-request' expects 'wait-for-handshake', 'deny', but got 'frobnicate'.",
    },
    {
      proxy: 'default_app',
      line: 12,
      lineText: 'http-check expect sstatus 200',
      transient: false,
      message: "line 12: 'http-check expect' : 'only supports min-recv' but got 'sstatus' as argument..",
    },
  ]);
});

test('an alert that names its proxy blames it; one per proxy; global lines blame nothing', () => {
  const out = `[ALERT]    (9964) : config : Proxy 'default_web': unable to find required use_backend: 'nope'.
[ALERT]    (9964) : config : Proxy 'default_web': another problem.
[ALERT]    (9964) : config : parsing [/x/haproxy.cfg:4] : unknown keyword in defaults.
[ALERT]    (9964) : config : Fatal errors found in configuration.`;
  assert.deepEqual(blameSections(out, CFG), [
    { proxy: 'default_web', message: "Proxy 'default_web': unable to find required use_backend: 'nope'.", transient: false },
  ]);
});

test('a reload that cannot bind blames the frontend; an address in brackets is not a line number', () => {
  // Captured from a failed reload on 2.6.12 (master log tail).
  const out = `[NOTICE]   (15474) : Reloading HAProxy
[WARNING]  (15486) : Paused frontend default_web.
[ALERT]    (15474) : Binding [/tmp/nh/haproxy.cfg:7] for frontend default_web: cannot bind socket (Cannot assign requested address) for [192.0.2.1:8080]
[ALERT]    (15474) : [/usr/sbin/haproxy.main()] Some protocols failed to start their listeners! Exiting.`;
  const [b, ...rest] = blameSections(out, CFG);
  assert.equal(rest.length, 0);
  assert.equal(b!.proxy, 'default_web');
  assert.equal(b!.line, 7);
  assert.equal(b!.transient, false, 'found by a failed reload: not tried again by itself (each try pauses listeners)');
  assert.match(b!.message, /^line 7: Binding for frontend default_web: cannot bind socket/);
});

test('the bind pre-flight blames by line, as a passing cause', () => {
  const out = '[PREFLIGHT] bind 127.0.0.1:8080 (line 7): address already in use by another process. A reload would pause every listener.';
  assert.deepEqual(blameSections(out, CFG), [
    {
      proxy: 'default_web',
      line: 7,
      lineText: 'bind 127.0.0.1:8080',
      transient: true,
      message: 'bind 127.0.0.1:8080 (line 7): address already in use by another process. A reload would pause every listener.',
    },
  ]);
});

test('output that names no line and no proxy blames nothing', () => {
  assert.deepEqual(blameSections('[ALERT]    (1) : config : Fatal errors found in configuration.\nsomething else', CFG), []);
  assert.deepEqual(blameSections('', CFG), []);
});
