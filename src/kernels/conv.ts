import type { OpTable } from './op.js';

export const ops: OpTable = {};
