import { family } from '../family.js';
import { ops } from './forward.js';
import { gradient, ae } from './rules.js';
import * as rows from './normalise.js';

export default family('norm', { ...ops, ...rows.ops }, {
  gradient: { ...gradient, ...rows.gradient },
  ae: { ...ae, ...rows.ae },
});
