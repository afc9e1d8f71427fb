// ESM face of compare.cjs's `mirror` (see there).
import compare from './compare.cjs';
export const { mirror } = compare;
