// The devnet throughput benchmark's sequence on @ton/sandbox, for the ratio
// (see devnet/benches/throughput.rs). Prints one JSON line per case.
// Usage: node bench-sandbox.mjs [WALLETS] [ROUNDS] [FAN]
import { Blockchain } from '@ton/sandbox';
import { beginCell, external, internal, storeMessage, toNano, SendMode } from '@ton/core';
import { wallet, sandboxConfig, T0 } from './fidelity.mjs';

const W = Number(process.argv[2] ?? 500), R = Number(process.argv[3] ?? 4), FAN = Number(process.argv[4] ?? 20);
const sandbox = await Blockchain.create();
sandbox.setConfig(sandboxConfig(sandbox));
sandbox.now = T0;
const treasury = await sandbox.treasury('bench', { balance: toNano('100000000') });
const ws = Array.from({ length: W }, (_, i) => wallet(`bench-${i}`));
const ext = (w, seqno, messages) => beginCell().store(storeMessage(external({
  to: w.contract.address, init: seqno === 0 ? w.contract.init : undefined,
  body: w.contract.createTransfer({ seqno, secretKey: w.keys.secretKey, messages, sendMode: SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS, timeout: T0 + 3600 }),
}))).endCell();

// Genesis, as on the devnet: every wallet funded and deployed (seqno 0 used).
for (const w of ws) await treasury.send({ to: w.contract.address, value: toNano('1000'), bounce: false });
for (let i = 0; i < W; i++) await sandbox.sendMessage(ext(ws[i], 0, [internal({ to: ws[(i + 1) % W].contract.address, value: 1n })]));

const rounds = Array.from({ length: R }, (_, r) => ws.map((w, i) => ext(w, r + 1, [internal({ to: ws[(i + 1) % W].contract.address, value: toNano('0.01'), bounce: true })])));
let t = performance.now(), txs = 0;
for (const msgs of rounds) for (const m of msgs) txs += (await sandbox.sendMessage(m)).transactions.length;
let secs = (performance.now() - t) / 1000;
console.log(JSON.stringify({ case: 'wallet_v5r1_transfer', chain: 'sandbox', transactions: txs, seconds: +secs.toFixed(3), tx_per_s: Math.round(txs / secs) }));

const op = beginCell().storeUint(0x7e8764ef, 32).storeUint(1, 64).endCell();
const fans = ws.map((w, i) => ext(w, R + 1, Array.from({ length: FAN }, (_, k) => internal({ to: ws[(i + k + 1) % W].contract.address, value: toNano('0.001'), body: op }))));
t = performance.now(); txs = 0;
for (const m of fans) txs += (await sandbox.sendMessage(m)).transactions.length;
secs = (performance.now() - t) / 1000;
console.log(JSON.stringify({ case: 'internal_contract_call', chain: 'sandbox', transactions: txs, seconds: +secs.toFixed(3), tx_per_s: Math.round(txs / secs) }));
