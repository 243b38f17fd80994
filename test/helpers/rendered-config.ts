/**
 * Parses a rendered haproxy.cfg back and checks that every line stays in a
 * section the controller renders, with a keyword that section may hold.
 * (Interim: words are split on blanks; the model's HAProxy tokenizer takes over.)
 */
const HEADERS = /^(global|defaults|(frontend|backend) [A-Za-z0-9_.:-]+)$/;
const KEYWORDS: Record<string, Set<string>> = {
  global: new Set(['master-worker', 'stats', 'server-state-file', 'hard-stop-after', 'mworker-max-reloads', 'close-spread-time', 'maxconn', 'log', 'tune.ssl.default-dh-param']),
  defaults: new Set(['mode', 'timeout', 'option', 'load-server-state-from-file', 'default-server', 'log', 'retries']),
  frontend: new Set(['mode', 'bind', 'timeout', 'option', 'acl', 'use_backend', 'default_backend', 'maxconn', 'http-request', 'http-response', 'http-after-response', 'tcp-request', 'tcp-response', 'capture', 'compression', 'unique-id-format', 'unique-id-header', 'monitor-uri', 'rate-limit', 'description']),
  backend: new Set(['mode', 'balance', 'timeout', 'option', 'http-check', 'server', 'acl', 'http-request', 'http-response', 'http-after-response', 'tcp-request', 'tcp-response', 'retries', 'retry-on', 'cookie', 'hash-type', 'fullconn', 'compression', 'http-reuse', 'description', 'stick-table', 'stick', 'default-server']),
};
const FORBIDDEN = /^(lua-|external-check|errorfile|errorloc|setenv|presetenv|unsetenv|resetenv|stats (socket|admin|enable|uri))/;

export function checkRenderedConfig(text: string): string[] {
  const problems: string[] = [];
  let section: string | undefined;
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || /^\s*#/.test(line)) return;
    if (!/^\s/.test(line)) {
      if (!HEADERS.test(line)) problems.push(`line ${i + 1}: ${JSON.stringify(line)} is not a section the controller renders`);
      section = line.split(' ')[0];
      return;
    }
    const words = line.trim().split(/[ \t]+/);
    const allowed = section ? KEYWORDS[section] : undefined;
    if (!allowed || !allowed.has(words[0]!)) problems.push(`line ${i + 1}: ${JSON.stringify(line.trim())} in ${section ?? 'no section'}`);
    else if (section !== 'global' && FORBIDDEN.test(line.trim())) problems.push(`line ${i + 1}: ${JSON.stringify(line.trim())} reaches files or programs`);
    if (/["'\\$]/.test(line) && section !== 'global') problems.push(`line ${i + 1}: ${JSON.stringify(line.trim())} has quotes, escapes or expansion`);
  });
  return problems;
}
