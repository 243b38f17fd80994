/**
 * IP addresses by value, and listening sockets that overlap. Pure.
 *
 * Why: HAProxy binds every listener with SO_REUSEPORT, so two frontends whose
 * binds name one socket in two spellings (`::1` and `0:0::1`) or a wildcard
 * and a specific address on one port both start, and the kernel splits the
 * traffic between them. Comparing text misses that; these helpers compare
 * values. And libc reads IPv4 loosely (`127.1`, `0x7f.0.0.1`, `010` is octal
 * 8): only strict dotted decimal is accepted, so what is written is what runs.
 */

/** Four octets of a strict dotted-decimal IPv4 address (no leading zeros), or undefined. */
export function parseIPv4(s: string): number[] | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out: number[] = [];
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255) return undefined;
    out.push(Number(p));
  }
  return out;
}

/**
 * What libc's inet_aton (and so getaddrinfo, which HAProxy falls back to)
 * makes of `s`: one to four parts, each decimal, octal (leading 0) or hex
 * (0x), the last filling the remaining bytes. Undefined when it is not a number form.
 */
export function inetAton(s: string): string | undefined {
  const parts = s.split('.');
  if (parts.length > 4) return undefined;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0[xX][0-9A-Fa-f]*$/.test(p)) n = p.length === 2 ? 0 : parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) n = parseInt(p, 8);
    else if (/^[1-9][0-9]*$/.test(p)) n = parseInt(p, 10);
    else return undefined;
    nums.push(n);
  }
  const last = nums.pop()!;
  if (nums.some((n) => n > 255) || last >= 256 ** (4 - nums.length)) return undefined;
  const bytes = [...nums];
  for (let i = 4 - nums.length - 1; i >= 0; i--) bytes.push(Math.floor(last / 256 ** i) % 256);
  return bytes.join('.');
}

/** Eight 16-bit groups of an IPv6 address in any RFC 4291 text form (no brackets, no zone), or undefined. */
export function parseIPv6(s: string): number[] | undefined {
  if (!/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  let text = s;
  if (s.includes('.')) {
    const at = s.lastIndexOf(':');
    const v4 = parseIPv4(s.slice(at + 1));
    if (at < 0 || !v4) return undefined;
    text = `${s.slice(0, at + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  if (head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run of two or more zero groups as `::`. */
export function formatIPv6(g: readonly number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  const hex = (a: readonly number[]) => a.map((n) => n.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/**
 * Why `addr` is refused as an IP literal, or undefined when it is fine (or is
 * not meant as an IP literal: a DNS name). The message says what to write.
 */
export function ipLiteralProblem(addr: string): string | undefined {
  const q = JSON.stringify(addr);
  if (addr.includes(':')) {
    const g = parseIPv6(addr);
    if (!g) return `${q} is not a valid IPv6 address`;
    if (g.slice(0, 5).every((n) => n === 0) && g[5] === 0xffff) {
      const v4 = [g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255].join('.');
      return `${q} is an IPv4-mapped IPv6 address; write the IPv4 address "${v4}" instead`;
    }
    return undefined;
  }
  if (parseIPv4(addr)) return undefined;
  // Only number forms are IP literals; anything else is a DNS name (checked by the schema).
  const lastLabel = addr.split('.').pop() ?? '';
  if (!/^[0-9.]+$/.test(addr) && !/^(0[xX][0-9A-Fa-f]*|[0-9]+)$/.test(lastLabel)) return undefined;
  const libc = inetAton(addr);
  if (libc === undefined) return `${q} is not a valid IPv4 address: write four decimal numbers 0-255, like 10.0.0.1`;
  const padded = addr.split('.').length === 4 && addr.split('.').every((p) => /^[0-9]+$/.test(p));
  return padded
    ? `${q} has zero-padded numbers, which libc reads as octal: HAProxy would use ${libc}; write ${JSON.stringify(libc)} if that is what you mean, without leading zeros`
    : `${q} is not dotted decimal: HAProxy would read it as ${libc}; write ${JSON.stringify(libc)}`;
}

/** What a bind address listens on, by value. */
export type BindValue =
  | { kind: 'any4' } // `*`, `0.0.0.0`: every IPv4 address
  | { kind: 'any6' } // `::`: every IPv6 address and, dual-stack (Linux default), every IPv4 address
  | { kind: 'ip4'; addr: string }
  | { kind: 'ip6'; addr: string };

/** The value of a bind address (`*`, IPv4, IPv6), or undefined when it is not valid. */
export function bindValue(address: string): BindValue | undefined {
  if (address === '*' || address === '') return { kind: 'any4' };
  if (address.includes(':')) {
    const g = parseIPv6(address);
    if (!g) return undefined;
    return g.every((n) => n === 0) ? { kind: 'any6' } : { kind: 'ip6', addr: formatIPv6(g) };
  }
  const v4 = parseIPv4(address);
  if (!v4) return undefined;
  return v4.every((n) => n === 0) ? { kind: 'any4' } : { kind: 'ip4', addr: v4.join('.') };
}

/**
 * How socket `a` relates to socket `b` on one port: `same` (one socket), `covers`
 * (a wildcard of `a` takes connections meant for `b`), `within` (the reverse), or undefined.
 */
export function bindOverlap(a: BindValue, b: BindValue): 'same' | 'covers' | 'within' | undefined {
  if (a.kind === b.kind && (a.kind === 'any4' || a.kind === 'any6' || a.addr === (b as { addr: string }).addr)) return 'same';
  const covers = (x: BindValue, y: BindValue) => x.kind === 'any6' || (x.kind === 'any4' && y.kind === 'ip4');
  if (covers(a, b)) return 'covers';
  if (covers(b, a)) return 'within';
  return undefined;
}

/** `every IPv4 address`, `::1`. */
export function describeBind(v: BindValue): string {
  switch (v.kind) {
    case 'any4':
      return 'every IPv4 address';
    case 'any6':
      return 'every IPv6 and IPv4 address';
    default:
      return v.addr;
  }
}
