// Topological order of the nodes (ONNX requires it, but some writers do not honour it).
import { ModelLoadError } from '../errors.js';
import type { Graph, Node } from './ir.js';

export function topoSort(g: Graph, source: string): Node[] {
  const producer = new Map<string, number>();
  g.nodes.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
  const available = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.keys()]);
  const indeg = new Array<number>(g.nodes.length).fill(0);
  const users = new Map<number, number[]>();
  g.nodes.forEach((n, i) => {
    for (const t of n.inputs) {
      if (!t || available.has(t)) continue;
      const p = producer.get(t);
      if (p === undefined) {
        throw new ModelLoadError(`${source}: node '${n.name}' (${n.opType}) reads tensor '${t}', which no node, input or initializer provides`);
      }
      indeg[i]++;
      if (!users.has(p)) users.set(p, []);
      users.get(p)!.push(i);
    }
  });
  const ready: number[] = [];
  indeg.forEach((d, i) => d === 0 && ready.push(i));
  const order: Node[] = [];
  // Keep file order among ready nodes so results and messages are stable.
  while (ready.length) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(g.nodes[i]);
    for (const u of users.get(i) ?? []) if (--indeg[u] === 0) ready.push(u);
  }
  if (order.length !== g.nodes.length) {
    const stuck = g.nodes.filter((_, i) => indeg[i] > 0).map((n) => `'${n.name}'`).slice(0, 5).join(', ');
    throw new ModelLoadError(`${source}: the graph has a cycle (nodes ${stuck} …)`);
  }
  return order;
}
