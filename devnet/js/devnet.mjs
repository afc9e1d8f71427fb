// ESM face of devnet.cjs (which jest setups can require).
import devnet from './devnet.cjs';
export const { devnetBin, startDevnet, sleep, waitFor } = devnet;
