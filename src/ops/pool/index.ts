import { family } from '../family.js';
import { legacyTable } from '../rule.js';
import { ops } from './forward.js';
import { gradient, ae } from './rules.js';

export default family('pool', ops, { gradient: legacyTable(gradient), ae: legacyTable(ae) });
