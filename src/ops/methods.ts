// The method tables. A method is data: op type → rule, assembled from one module per op family.
import type { RuleTable } from './rule.js';
import * as conv from './conv/rules.js';
import * as dense from './dense/rules.js';
import * as pool from './pool/rules.js';
import * as norm from './norm/rules.js';
import * as activation from './activation/rules.js';
import * as layout from './layout/rules.js';

const families = [conv, dense, pool, norm, activation, layout];

/** Plain gradient of a logit (stage one of AE; Grad-CAM's channel weights). */
export const GRADIENT: RuleTable = Object.assign({}, ...families.map((f) => f.gradient));

/** Attribution Equilibrium relevance propagation (spec §2). */
export const AE: RuleTable = Object.assign({}, ...families.map((f) => f.ae));
