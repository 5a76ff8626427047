import { family } from '../family.js';
import { ops } from './forward.js';
import { gradient, ae } from './rules.js';
import { lrp } from './lrp.js';

export default family('layout', ops, { gradient, ae, ...lrp });
