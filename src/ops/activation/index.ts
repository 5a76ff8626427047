import { family } from '../family.js';
import { ops } from './forward.js';
import { gradient, guided, ae } from './rules.js';
import { preluRules } from './prelu.js';
import { lrp } from './lrp.js';

export default family('activation', ops, {
  gradient: { ...gradient, ...preluRules.gradient },
  guided,
  ae: { ...ae, ...preluRules.ae },
  ...lrp,
});
