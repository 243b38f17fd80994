/**
 * Which proxy sections `haproxy -c` blames, from its output. Pure.
 *
 * HAProxy 2.6 names the culprit in one of these ways (measured):
 *   [ALERT] (pid) : config : parsing [/path/file.cfg:10] : 'http-request' expects ...
 *   [ALERT] (pid) : config : Proxy 'default_web': unable to find required use_backend: 'nope'.
 *   [ALERT] (pid) : Binding [/path/haproxy.cfg:25] for frontend default_web: cannot bind socket (...) for [192.0.2.1:80]
 * and the supervisor's bind pre-flight (src/haproxy/preflight.ts) says
 *   [PREFLIGHT] bind 127.0.0.1:80 (line 12): address already in use by another process. ...
 * A line number is mapped to the section it falls in, using the text that was
 * checked. Alerts that name no proxy (global settings, the summary lines) are
 * not blamed on anything.
 */

export interface Blame {
  /** The proxy (frontend or backend section) name. */
  proxy: string;
  /** HAProxy's message, without the `[ALERT] (pid) : config :` prefix. */
  message: string;
  /** The line of the checked text HAProxy points at, when it gives one (1-based). */
  line?: number;
  /** That line's text, trimmed. */
  lineText?: string;
  /**
   * Found by the pre-flight: the cause lies outside the configuration (a port
   * another process holds) and may go away by itself; checking again is cheap
   * and does not touch the running HAProxy.
   */
  transient: boolean;
}

const ALERT = /^\[ALERT\]\s*\(\d+\)\s*:\s*(?:config\s*:\s*)?(.*)$/;
const PREFLIGHT = /^\[PREFLIGHT\]\s*(.*)$/;
/** `parsing [file.cfg:N] : `, `Binding [file.cfg:N] ` (HAProxy) or `(line N)` (pre-flight). */
const AT_LINE = /(?:parsing )?\[[^\]\s]*\.cfg:(\d+)\]\s*:?\s*|\(line (\d+)\)/;
const PROXY_NAMED = /\b(?:[Pp]roxy|frontend|backend) '([^']+)'|^Starting (?:frontend|proxy|backend) ([^:\s]+):/;
const SECTION = /^(\S+)(?:\s+(\S+))?/;

/** The proxy section each line of `text` belongs to (undefined outside frontend/backend/listen). */
function sectionAt(lines: readonly string[], lineNo: number): string | undefined {
  for (let i = Math.min(lineNo, lines.length) - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (l === '' || l.startsWith(' ') || l.startsWith('\t') || l.startsWith('#')) continue;
    const m = SECTION.exec(l);
    if (!m) return undefined;
    return m[1] === 'frontend' || m[1] === 'backend' || m[1] === 'listen' ? m[2] : undefined;
  }
  return undefined;
}

/** The sections `output` blames, in the order HAProxy reported them, one entry per proxy. */
export function blameSections(output: string, checkedText: string): Blame[] {
  const lines = checkedText.split('\n');
  const out = new Map<string, Blame>();
  for (const raw of output.split('\n')) {
    const l = raw.trim();
    const preflight = PREFLIGHT.exec(l);
    const text = (preflight ?? ALERT.exec(l))?.[1]?.trim();
    if (!text) continue;
    const transient = !!preflight;
    const at = AT_LINE.exec(text);
    if (at) {
      const line = Number(at[1] ?? at[2]);
      const proxy = sectionAt(lines, line);
      // The temporary file's path means nothing to a user: say "line N" instead.
      const message = at[1] !== undefined ? `line ${line}: ${text.replace(at[0], '')}` : text;
      if (proxy && !out.has(proxy)) out.set(proxy, { proxy, message, line, lineText: lines[line - 1]?.trim(), transient });
      continue;
    }
    const named = PROXY_NAMED.exec(text);
    const proxy = named?.[1] ?? named?.[2];
    if (proxy && !out.has(proxy)) out.set(proxy, { proxy, message: text, transient });
  }
  return [...out.values()];
}
