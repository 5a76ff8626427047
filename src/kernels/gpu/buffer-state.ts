// What the runtime knows about a buffer's contents beyond the bytes, so that one dispatch can do
// another's work: per-sample sums made by the dispatch that wrote a signal (a Concat's masked split
// for the AE conv rule after it), and work deferred on the contents (an AE shift that the next rule
// adding into the same fork's sum does in its own store). Gpu calls `touch` before anything binds,
// copies, clears or reads a buffer, `written` after a dispatch writes it, `released` when it goes
// back to the pool.

/**
 * Per-sample sums of a signal's contents, made by the dispatch that wrote it (setSums): ΣR⁺ at
 * `pos`, ΣR⁻ at `neg` (one f32 per sample), and `count`, one u32 per sample set to zero for the
 * consumer's own use. The bindings point into a tensor the registry owns.
 */
export interface SignalSums { pos: GPUBufferBinding; neg: GPUBufferBinding; count: GPUBufferBinding }

/**
 * Work deferred on a buffer's contents (defer): recorded by `materialize` before anything else
 * touches the buffer, unless its intended consumer takes it over (takePending) and does it inside
 * its own dispatch; `dispose` frees what it holds once it is done or dead.
 */
export interface Pending<T = unknown> { kind: string; data: T; materialize(): void; dispose(): void }

/** A registered SignalSums, its storage, and the count of registrations sharing that storage. */
interface SumsEntry<T> { sums: SignalSums; owner: T; share: { refs: number } }

/** `T`: the runtime's tensor (GpuTensor), the storage of registered sums, handed back by `release`. */
export class BufferState<T> {
  // Signal buffer → the sums of its contents, valid until anything writes the buffer again.
  private sums = new Map<GPUBuffer, SumsEntry<T>>();
  // Buffer → work deferred on its contents.
  private pending = new Map<GPUBuffer, Pending>();

  constructor(private release: (t: T) => void) {}

  /** Nothing registered: the runtime's per-dispatch checks can be skipped. */
  get idle(): boolean {
    return this.sums.size === 0 && this.pending.size === 0;
  }

  get hasPending(): boolean {
    return this.pending.size > 0;
  }

  get hasSums(): boolean {
    return this.sums.size > 0;
  }

  /**
   * Register the per-sample sums of each buffer's contents (`parts[i]` for `buffers[i]`), all held
   * in `owner`, which the registry then owns: call right after recording the dispatch that wrote
   * them. A later write to a buffer or its release drops its entry; `owner` goes back to the pool
   * with the last entry.
   */
  setSums(buffers: GPUBuffer[], parts: SignalSums[], owner: T): void {
    const share = { refs: 0 };
    buffers.forEach((b, i) => {
      this.written(b);
      this.sums.set(b, { sums: parts[i], owner, share });
      share.refs++;
    });
    if (share.refs === 0) this.release(owner);
  }

  /** The registered sums of `buffer`'s contents, taken out (the caller reads them, then calls `done`), or undefined. */
  takeSums(buffer: GPUBuffer): { sums: SignalSums; done(): void } | undefined {
    const e = this.sums.get(buffer);
    if (!e) return undefined;
    this.sums.delete(buffer);
    return { sums: e.sums, done: () => this.unref(e) };
  }

  /** Defer `p` on `buffer`'s contents (anything already deferred there is recorded first). */
  defer<D>(buffer: GPUBuffer, p: Pending<D>): void {
    this.touch(buffer);
    this.pending.set(buffer, p);
  }

  /** The work of `kind` deferred on `buffer`, handed to the caller (who does it, then calls dispose); else undefined. */
  takePending<D>(buffer: GPUBuffer, kind: string): Pending<D> | undefined {
    const p = this.pending.get(buffer);
    if (!p || p.kind !== kind) return undefined;
    this.pending.delete(buffer);
    return p as Pending<D>;
  }

  /** Before `buffer` is bound, copied, cleared or read: record the work deferred on it. */
  touch(buffer: GPUBuffer): void {
    if (this.pending.size === 0) return;
    const p = this.pending.get(buffer);
    if (!p) return;
    this.pending.delete(buffer);
    p.materialize();
    p.dispose();
  }

  /** After `buffer` is written: its registered sums no longer hold. */
  written(buffer: GPUBuffer): void {
    if (this.sums.size === 0) return;
    const e = this.sums.get(buffer);
    if (!e) return;
    this.sums.delete(buffer);
    this.unref(e);
  }

  /** `buffer` goes back to the pool: its contents are dead, deferred work is dropped unrecorded. */
  released(buffer: GPUBuffer): void {
    if (this.idle) return;
    this.written(buffer);
    const p = this.pending.get(buffer);
    if (p) {
      this.pending.delete(buffer);
      p.dispose();
    }
  }

  private unref(e: SumsEntry<T>): void {
    if (--e.share.refs === 0) this.release(e.owner);
  }
}
