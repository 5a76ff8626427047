// WGSL has no preprocessor: a family's shader file holds named sections (`//#section name`) and a
// kernel variant is assembled from the ones it needs, with `{{NAME}}` placeholders for small
// per-variant constants. The variant is always part of the pipeline key.
import { WGSL_COMMON } from './runtime.js';

export function parseSections(src: string): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | null = null;
  let buf: string[] = [];
  const flush = () => {
    if (name !== null) out.set(name, buf.join('\n'));
  };
  for (const line of src.split('\n')) {
    const m = /^\/\/#section\s+(\S+)/.exec(line);
    if (m) {
      flush();
      name = m[1];
      buf = [];
    } else buf.push(line);
  }
  flush();
  return out;
}

/** WGSL_COMMON + the named sections in order, with `{{KEY}}` replaced from `vars`. */
export function assemble(sections: Map<string, string>, names: string[], vars: Record<string, string | number> = {}): string {
  let text = WGSL_COMMON + names.map((n) => {
    const s = sections.get(n);
    if (s === undefined) throw new Error(`internal: WGSL section '${n}' not found`);
    return s;
  }).join('\n');
  for (const [k, v] of Object.entries(vars)) text = text.split(`{{${k}}}`).join(String(v));
  const left = /\{\{(\w+)\}\}/.exec(text);
  if (left) throw new Error(`internal: WGSL placeholder {{${left[1]}}} not filled`);
  return text;
}
