// The same message sequence through @ton/sandbox and the devnet must give the
// same gas, fees, exit codes, balances and out messages (see fidelity.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pair, runSequence } from './fidelity.mjs';

test('devnet matches @ton/sandbox transaction for transaction', async () => {
  const p = await pair();
  try {
    const steps = await runSequence(p, { log: (l) => console.log(l) });
    const bad = steps.filter((s) => s.diffs.length);
    assert.deepEqual(bad.map((s) => `${s.name}\n  ${s.diffs.join('\n  ')}`), []);
    assert.ok(steps.length >= 9);
  } finally {
    p.stop();
  }
});

test('mirror: sandbox-style injected internal messages match on the devnet', async () => {
  const { Blockchain, internal } = await import('@ton/sandbox');
  const { beginCell, toNano, contractAddress } = await import('@ton/core');
  const { WalletContractV4 } = await import('@ton/ton');
  const { startDevnet } = await import('./devnet.mjs');
  const { mirror } = await import('./mirror.mjs');
  const { sandboxConfig, T0 } = await import('./fidelity.mjs');
  const net = await startDevnet(['--block-ms', '0', '--clock', String(T0), '--wallets', '0']);
  try {
    const blockchain = await Blockchain.create();
    blockchain.setConfig(sandboxConfig(blockchain));
    blockchain.now = T0;
    const report = mirror(blockchain, net, { log: (l) => console.log(l) });
    // A contract deployed and called by internal messages from an arbitrary
    // sender, as contract tests do with treasuries.
    const { code, data } = WalletContractV4.create({ workchain: 0, publicKey: Buffer.alloc(32, 7) }).init;
    const target = contractAddress(0, { code, data });
    const from = contractAddress(0, { code, data: beginCell().storeUint(1, 8).endCell() });
    await blockchain.sendMessage(internal({ from, to: target, value: toNano('2'), bounce: false, stateInit: { code, data } }));
    blockchain.now += 3600;
    await blockchain.sendMessage(internal({ from, to: target, value: toNano('0.1'), body: beginCell().storeUint(0x12345678, 32).storeUint(9, 64).endCell() }));
    await blockchain.sendMessage(internal({ from, to: contractAddress(0, { code, data: beginCell().endCell() }), value: toNano('0.3'), bounce: true }));
    assert.equal(report.steps, 3);
    assert.equal(report.transactions, 4); // deploy, op, bounce on a missing account + bounced back
    assert.deepEqual(report.diffs, []);
  } finally {
    net.stop();
  }
});
