/**
 * The log line an operator (or a log shipper) reads keeps its shape with pino
 * behind src/log.ts: JSON lines with `level` as a word, an ISO `time`, the
 * fields and `msg`; errors as {message, cause}; child bindings; levels below
 * the minimum dropped; `--log-format pretty` one readable line per event.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/log.js';

const NOW = new Date('2026-11-25T10:11:12.345Z');

test('JSON lines: level word, ISO time, fields, msg; errors with their causes; child bindings; the level filters', () => {
  const lines: string[] = [];
  const log = createLogger({ level: 'info', write: (l) => lines.push(l), now: () => NOW });
  const child = log.child({ component: 'reconcile' });
  child.info('HAProxy reloaded', { reasons: ['backend default_app added'], ms: 12 });
  child.debug('not shown');
  log.warn('could not save', { err: new Error('disk full', { cause: new Error('ENOSPC') }) });
  log.error('no fields');
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  log.info('circular', { circular });

  assert.equal(lines.length, 4, lines.join('\n'));
  for (const l of lines) assert.ok(!l.includes('\n'), 'one line each, without its newline');
  assert.match(
    lines[0]!,
    /^\{"level":"info","time":"2026-11-25T10:11:12\.345Z","msg":"HAProxy reloaded","component":"reconcile","reasons":/,
    'msg, then bound fields, then fields',
  );
  assert.deepEqual(JSON.parse(lines[0]!), {
    level: 'info',
    time: '2026-11-25T10:11:12.345Z',
    component: 'reconcile',
    reasons: ['backend default_app added'],
    ms: 12,
    msg: 'HAProxy reloaded',
  });
  assert.deepEqual(JSON.parse(lines[1]!), {
    level: 'warn',
    time: '2026-11-25T10:11:12.345Z',
    err: { message: 'disk full', cause: { message: 'ENOSPC' } },
    msg: 'could not save',
  });
  assert.deepEqual(JSON.parse(lines[2]!), { level: 'error', time: '2026-11-25T10:11:12.345Z', msg: 'no fields' });
  assert.equal(JSON.parse(lines[3]!).circular.self, '[Circular]', 'a circular field does not throw');

  const debug: string[] = [];
  createLogger({ level: 'debug', write: (l) => debug.push(l) }).debug('shown');
  assert.equal(JSON.parse(debug[0]!).level, 'debug');
  assert.match(JSON.parse(debug[0]!).time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('pretty: one readable line per event, with the fields', () => {
  const lines: string[] = [];
  const log = createLogger({ format: 'pretty', write: (l) => lines.push(l), now: () => NOW }).child({ component: 'http' });
  log.warn('REST API could not save', { path: '/api/v1/x', err: new Error('boom') });
  log.debug('dropped');
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: REST API could not save \{"component":"http","path":"\/api\/v1\/x","err":\{"message":"boom"\}\}$/);
});

test('lines go to stderr, written before the process exits', () => {
  const script = `import(${JSON.stringify(fileURLToPath(new URL('../../src/log.js', import.meta.url)))}).then(({ createLogger }) => { createLogger().info('last words', { code: 1 }); process.exit(3); })`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 3);
  assert.equal(r.stdout, '');
  const line = JSON.parse(r.stderr.trim());
  assert.equal(line.msg, 'last words');
  assert.equal(line.code, 1);
});
