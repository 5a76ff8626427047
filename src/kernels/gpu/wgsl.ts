// The shader toolkit: the one way kernels are assembled. WGSL has no preprocessor, so a family's
// shader file holds named sections (`//#section name`); a kernel variant is the common helpers, its
// uniform struct (declared once in TypeScript, see `uniforms`), and the sections it needs, with
// `{{NAME}}` placeholders filled per variant. The variant is always part of the pipeline key.
import { Uniforms, WGSL_COMMON } from './runtime.js';

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

/** Replace every `{{KEY}}` from `vars`; a placeholder left unfilled is a bug in the caller. */
export function fill(text: string, vars: Record<string, string | number>): string {
  for (const [k, v] of Object.entries(vars)) text = text.split(`{{${k}}}`).join(String(v));
  const left = /\{\{(\w+)\}\}/.exec(text);
  if (left) throw new Error(`internal: WGSL placeholder {{${left[1]}}} not filled`);
  return text;
}

/** WGSL_COMMON + the uniform struct (when given) + the named sections in order, placeholders filled. */
export function assemble(sections: Map<string, string>, names: string[], vars: Record<string, string | number> = {}, block?: UniformBlock<any>): string {
  const body = names.map((n) => {
    const s = sections.get(n);
    if (s === undefined) throw new Error(`internal: WGSL section '${n}' not found`);
    return s;
  }).join('\n');
  return fill(WGSL_COMMON + (block ? block.wgsl() : '') + body, vars);
}

// ---------------------------------------------------------------- uniforms declared once

/** A uniform field: a scalar, or an array of n vec4s (WGSL's uniform arrays need a 16-byte stride). */
export type UniformType = 'u32' | 'i32' | 'f32' | { vec4: 'u32' | 'i32' | 'f32'; n: number };
export type UniformFields = Record<string, UniformType>;
export type UniformValues<F extends UniformFields> = { [K in keyof F]: F[K] extends string ? number : readonly number[] };

interface Slot { name: string; type: UniformType; word: number }

// One scratch float shared by every pack: pack runs once per dispatch, and two typed arrays and a
// closure per call were most of its cost.
const F32 = new Float32Array(1);
const F32_BITS = new Uint32Array(F32.buffer);

function put(w: Uint32Array, i: number, v: number, t: 'u32' | 'i32' | 'f32'): void {
  if (t === 'f32') {
    F32[0] = v;
    w[i] = F32_BITS[0];
  } else w[i] = t === 'i32' ? v | 0 : v >>> 0;
}

/**
 * A uniform struct declared once: `wgsl()` emits the struct and its binding, `pack()` writes the
 * words at the offsets WGSL's layout rules give them (scalars 4-byte aligned, vec4 arrays 16), so
 * the shader and the host can never disagree on the order of fields.
 */
export class UniformBlock<F extends UniformFields> {
  private slots: Slot[] = [];
  readonly words: number;

  constructor(readonly fields: F, readonly structName = 'U', readonly varName = 'u') {
    let w = 0;
    for (const [name, type] of Object.entries(fields)) {
      if (typeof type !== 'string') w = Math.ceil(w / 4) * 4;
      this.slots.push({ name, type, word: w });
      w += typeof type === 'string' ? 1 : type.n * 4;
    }
    this.words = Math.max(4, Math.ceil(w / 4) * 4);
  }

  wgsl(binding = 0): string {
    const body = this.slots.map(({ name, type }) =>
      `  ${name}: ${typeof type === 'string' ? type : `array<vec4<${type.vec4}>, ${type.n}>`},`).join('\n');
    return `struct ${this.structName} {\n${body}\n}\n@group(0) @binding(${binding}) var<uniform> ${this.varName}: ${this.structName};\n`;
  }

  /** The words of `values`. Arrays shorter than their n vec4s are padded with `fill[name]` (default 0). */
  pack(values: UniformValues<F>, fillWith: Partial<Record<keyof F, number>> = {}): Uniforms {
    const w = new Uint32Array(this.words);
    for (const s of this.slots) {
      const v = values[s.name as keyof F] as number | readonly number[] | undefined;
      if (v === undefined) throw new Error(`internal: uniform '${s.name}' of ${this.structName} not given`);
      if (typeof s.type === 'string') put(w, s.word, v as number, s.type);
      else {
        const arr = v as readonly number[];
        const n = s.type.n * 4;
        if (arr.length > n) throw new Error(`internal: uniform '${s.name}' holds ${arr.length} values, more than ${n}`);
        const pad = (fillWith[s.name as keyof F] ?? 0) as number;
        for (let k = 0; k < n; k++) put(w, s.word + k, k < arr.length ? arr[k] : pad, s.type.vec4);
      }
    }
    return Uniforms.fromWords(w);
  }
}

export function uniforms<F extends UniformFields>(fields: F, structName = 'U'): UniformBlock<F> {
  return new UniformBlock(fields, structName);
}
