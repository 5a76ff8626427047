import { family } from '../family.js';
import { ops } from './forward.js';
import { gradient, ae } from './rules.js';

export default family('norm', ops, { gradient, ae });
