// Operator table: ONNX op type (default domain) → implementation. One module per operator family.
import type { OpSpec, OpTable } from './op.js';
import { ops as conv } from './conv/forward.js';
import { ops as matmul } from './dense/forward.js';
import { ops as pool } from './pool/forward.js';
import { ops as norm } from './norm/forward.js';
import { ops as activation } from './activation/forward.js';
import { ops as softmax } from './softmax/forward.js';
import { ops as elementwise } from './elementwise/forward.js';
import { ops as layout } from './layout/forward.js';
import { ops as shapeOps } from './shape/forward.js';

export const OPS: OpTable = { ...conv, ...matmul, ...pool, ...norm, ...activation, ...softmax, ...elementwise, ...layout, ...shapeOps };

export function opFor(opType: string, domain = ''): OpSpec | undefined {
  if (domain !== '' && domain !== 'ai.onnx') return undefined;
  return Object.prototype.hasOwnProperty.call(OPS, opType) ? OPS[opType] : undefined;
}

export function supportedOps(): string[] {
  return Object.keys(OPS).sort();
}
