// Operator table: ONNX op type (default domain) → implementation. One module per operator family.
import type { OpSpec, OpTable } from './op.js';
import { ops as conv } from './conv.js';
import { ops as matmul } from './matmul.js';
import { ops as pool } from './pool.js';
import { ops as norm } from './norm.js';
import { ops as activation } from './activation.js';
import { ops as softmax } from './softmax.js';
import { ops as elementwise } from './elementwise.js';
import { ops as layout } from './layout.js';
import { ops as shapeOps } from './shape_ops.js';

export const OPS: OpTable = { ...conv, ...matmul, ...pool, ...norm, ...activation, ...softmax, ...elementwise, ...layout, ...shapeOps };

export function opFor(opType: string, domain = ''): OpSpec | undefined {
  if (domain !== '' && domain !== 'ai.onnx') return undefined;
  return Object.prototype.hasOwnProperty.call(OPS, opType) ? OPS[opType] : undefined;
}

export function supportedOps(): string[] {
  return Object.keys(OPS).sort();
}
