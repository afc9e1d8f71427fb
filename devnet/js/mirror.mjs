// Mirror any @ton/sandbox test onto the devnet: every `blockchain.sendMessage`
// (what wrappers, treasuries and `blockchain.sender()` all go through) is also
// sent to the devnet, with the clocks aligned, and the resulting transactions
// are compared with `describe`/`diff` from fidelity.mjs.
//
//   const net = await startDevnet(['--block-ms', '0', '--clock', String(T)]);
//   blockchain.now = T;
//   const report = mirror(blockchain, net);
//   ... run the test's messages as usual ...
//   assert.deepEqual(report.diffs, []);
//
// Pass `core` (the test's own `@ton/core` module) when the test uses another
// copy of @ton/core than devnet/js/node_modules.
import * as myCore from '@ton/core';
import { describe, diff } from './fidelity.mjs';

export function mirror(blockchain, net, { core = myCore, log = () => {} } = {}) {
  const original = blockchain.sendMessage.bind(blockchain);
  const report = { steps: 0, transactions: 0, diffs: [] };
  blockchain.sendMessage = async (message, params) => {
    const cell = message instanceof core.Cell ? message : core.beginCell().store(core.storeMessage(message)).endCell();
    const now = blockchain.now ?? Math.floor(Date.now() / 1000);
    blockchain.now = now;
    await net.devnet('setTime', { now });
    let result, error;
    try { result = await original(cell, params); } catch (e) { error = e; }
    const sent = await fetch(`${net.base}/devnet/sendMessage`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ boc: cell.toBoc().toString('base64') }),
    }).then((r) => r.json());
    const step = `message #${++report.steps}`;
    const diffs = [];
    if (!!error !== !sent.ok) {
      diffs.push(`${step}: refused by ${error ? 'sandbox' : 'devnet'} only (${error?.message ?? sent.error})`);
    } else if (!error) {
      const block = await net.devnet('produceBlock', {});
      const dtxs = block.transactions.map((t) => myCore.loadTransaction(myCore.Cell.fromBase64(t.data).beginParse()));
      const stxs = result.transactions;
      report.transactions += dtxs.length;
      if (stxs.length !== dtxs.length) diffs.push(`${step}: ${stxs.length} transactions on sandbox, ${dtxs.length} on devnet`);
      for (let i = 0; i < Math.min(stxs.length, dtxs.length); i++) {
        const [s, d] = [describe(stxs[i]), describe(dtxs[i])];
        if (s.origStatus === 'uninitialized' && d.origStatus === 'non-existing') s.origStatus = d.origStatus;
        diffs.push(...diff(s, d, `${step} tx${i}`));
      }
    }
    log(`${diffs.length ? 'DIFF' : 'same'}  ${step}${diffs.map((x) => '\n      ' + x).join('')}`);
    report.diffs.push(...diffs);
    if (error) throw error;
    return result;
  };
  return report;
}
