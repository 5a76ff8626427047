import { family } from '../family.js';
import { ops } from './forward.js';

export default family('softmax', ops);
