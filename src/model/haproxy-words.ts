/**
 * Splits one haproxy.cfg line into the words HAProxy reads. Pure.
 *
 * HAProxy (2.6, src/tools.c `parse_line()`) unquotes and unescapes every word
 * before it looks at it, so `"global"`, `'glo'bal` and `gl\obal`... are all
 * read as written below, and a check that reads the raw text can be fooled.
 * This follows HAProxy's rules:
 *
 * - words are separated by unquoted spaces (runs of them count once);
 * - `'...'`: everything literal up to the next `'`;
 * - `"..."`: literal except backslash escapes and `$` (environment expansion);
 * - outside single quotes a backslash escapes `\\`, `\ `, `\#`, `\'`, `\"`
 *   (and `\$` inside double quotes); `\t \n \r \xHH` make other bytes; any
 *   other backslash stays as it is (`\.` in a regex is `\.`);
 * - an unquoted `#` starts a comment;
 * - `"${VAR}"`, `"$VAR"`, `"${VAR-default}"` and `"${VAR[*]}"` expand from
 *   the environment, the last into several words;
 * - a trailing empty word (`a ""`) is not a word; an empty one in between is.
 *
 * Whatever this cannot read with certainty is reported instead of guessed:
 * a control or non-ASCII character, a comment, an unmatched quote, the escapes
 * that make bytes (`\t \n \r \xHH`), any `$` inside double quotes and any `${`
 * (environment expansion: the value is not ours to know), more than 64 words
 * (HAProxy's limit).
 */

/** One word: `text` as HAProxy reads it, `raw` as written. */
export interface HaproxyWord {
  text: string;
  raw: string;
}

export interface SplitResult {
  words: HaproxyWord[];
  /** Why the line cannot be read with certainty; `words` is then empty. */
  problem?: string;
}

/** HAProxy's MAX_LINE_ARGS. */
export const MAX_WORDS = 64;

/** Splits `line` (one line, without its newline and indentation) into words. */
export function splitHaproxyWords(line: string): SplitResult {
  const fail = (problem: string): SplitResult => ({ words: [], problem });
  const bad = /[^\x20-\x7e]/.exec(line);
  if (bad) {
    const c =
      bad[0] === '\t'
        ? 'a tab'
        : bad[0] === '\n' || bad[0] === '\r'
          ? 'a newline'
          : `the character U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return fail(`contains ${c}, a control or non-ASCII character; use single spaces between words and printable ASCII only`);
  }
  if (line.includes('${'))
    return fail('contains "${", which HAProxy expands from its environment; environment variables are not available to raw configuration');

  const words: HaproxyWord[] = [];
  let text = '';
  let start = 0;
  let squote = false;
  let dquote = false;
  let quoteAt = -1;
  let i = 0;
  const endWord = (end: number) => {
    words.push({ text, raw: line.slice(start, end) });
    text = '';
  };
  while (i < line.length) {
    const c = line[i]!;
    if (squote) {
      if (c === "'") squote = false;
      else text += c;
      i++;
      continue;
    }
    if (c === "'" && !dquote) {
      squote = true;
      quoteAt = i++;
      continue;
    }
    if (c === '"') {
      dquote = !dquote;
      quoteAt = i++;
      continue;
    }
    if (c === '\\') {
      const n = line[i + 1];
      if (n === ' ' || n === '\\' || n === '#' || n === "'" || n === '"') {
        text += n;
        i += 2;
      } else if (n === 'x' || n === 't' || n === 'n' || n === 'r') {
        return fail(`contains the escape "\\${n}", which makes ${n === 'x' ? 'an arbitrary byte' : 'a control character'}; write the character itself`);
      } else if (n === '$' && dquote) {
        return fail('contains "$" inside double quotes, where HAProxy expands environment variables; use single quotes');
      } else {
        // Not an escape: the backslash stays, the next character is read as usual.
        text += '\\';
        i++;
      }
      continue;
    }
    if (c === '$' && dquote) return fail('contains "$" inside double quotes, where HAProxy expands environment variables; use single quotes');
    if (c === '#' && !dquote) return fail('contains "#", which starts a comment in haproxy.cfg');
    if (c === ' ' && !dquote) {
      endWord(i);
      while (line[i] === ' ') i++;
      start = i;
      continue;
    }
    text += c;
    i++;
  }
  if (squote || dquote) return fail(`has an unmatched ${squote ? 'single' : 'double'} quote at character ${quoteAt + 1}`);
  // HAProxy drops a trailing empty word: after trailing spaces, or a trailing `""`.
  if (text !== '') endWord(line.length);
  if (words.length > MAX_WORDS) return fail(`has ${words.length} words; HAProxy reads at most ${MAX_WORDS} on a line`);
  return { words };
}

/** True when every word reads as written: no quotes, no escapes. */
export const isPlain = (w: HaproxyWord): boolean => w.text === w.raw;
