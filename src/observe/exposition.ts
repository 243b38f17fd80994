/**
 * A small reader of the Prometheus text format (what /metrics answers), for
 * comparing two exporters and for tools: samples keyed by `name{labels}` as
 * written, plus each family's HELP and TYPE.
 */

export interface Exposition {
  /** `name{labels}` exactly as written → value (NaN for "NaN"). */
  samples: Map<string, number>;
  help: Map<string, string>;
  type: Map<string, string>;
  /** Family names in the order their HELP lines appear. */
  families: string[];
}

export function parseExposition(text: string): Exposition {
  const out: Exposition = { samples: new Map(), help: new Map(), type: new Map(), families: [] };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const sp = rest.indexOf(' ');
      const name = sp < 0 ? rest : rest.slice(0, sp);
      out.help.set(name, sp < 0 ? '' : rest.slice(sp + 1));
      out.families.push(name);
    } else if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      out.type.set(name!, type!);
    } else if (!line.startsWith('#')) {
      // The value follows the last space outside the labels (label values may hold spaces).
      const close = line.lastIndexOf('}');
      const sp = line.indexOf(' ', close < 0 ? 0 : close);
      out.samples.set(line.slice(0, sp), Number(line.slice(sp + 1).split(' ')[0]));
    }
  }
  return out;
}

/** The family a sample key belongs to (`name{...}` → name). */
export function familyOf(sampleKey: string): string {
  const brace = sampleKey.indexOf('{');
  return brace < 0 ? sampleKey : sampleKey.slice(0, brace);
}
