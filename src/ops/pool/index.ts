import { family } from '../family.js';
import { ops } from './forward.js';
import { gradient, ae } from './rules.js';
import { lrp, eb } from './lrp.js';

export default family('pool', ops, { gradient, ae, ...lrp, eb });
