// What the fidelity checks compare, and `mirror`, which replays every message
// a @ton/sandbox test sends onto a devnet and diffs the transactions. CommonJS
// so jest setups (contracts/) can require it as well as the ESM tests.
/** What is compared of a transaction. */
function describe(tx) {
  const d = tx.description;
  const out = [];
  for (const m of tx.outMessages.values()) {
    out.push({
      type: m.info.type,
      dest: m.info.dest?.toString?.() ?? null,
      value: m.info.type === 'internal' ? m.info.value.coins : null,
      bounce: m.info.bounce ?? null,
      bounced: m.info.bounced ?? null,
      fwdFee: m.info.forwardFee ?? null,
      body: m.body.hash().toString('hex'),
      init: m.init ? (m.init.code?.hash().toString('hex') ?? 'no code') : null,
    });
  }
  const c = d.computePhase;
  return {
    account: tx.address.toString(16),
    origStatus: tx.oldStatus,
    endStatus: tx.endStatus,
    totalFees: tx.totalFees.coins,
    aborted: d.aborted,
    storageFee: d.storagePhase?.storageFeesCollected ?? null,
    storageDue: d.storagePhase?.storageFeesDue ?? null,
    credit: d.creditPhase?.credit?.coins ?? null,
    compute: c.type === 'vm'
      ? { success: c.success, exitCode: c.exitCode, gasUsed: c.gasUsed, gasFees: c.gasFees, vmSteps: c.vmSteps }
      : { skipped: c.reason },
    action: d.actionPhase
      ? { success: d.actionPhase.success, resultCode: d.actionPhase.resultCode, fwd: d.actionPhase.totalFwdFees ?? null,
          actionFees: d.actionPhase.totalActionFees ?? null, created: d.actionPhase.messagesCreated }
      : null,
    bounce: d.bouncePhase ? { type: d.bouncePhase.type, fwd: d.bouncePhase.forwardFees ?? null } : null,
    out,
  };
}

/** Deep diff of two plain values; returns a list of "path: a != b". */
function diff(a, b, at = '') {
  if (typeof a === 'bigint' || typeof b === 'bigint' || a === null || b === null || typeof a !== 'object') {
    return a === b ? [] : [`${at}: sandbox ${String(a)} != devnet ${String(b)}`];
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].flatMap((k) => diff(a[k], b[k], `${at}.${k}`));
}

/** Sandbox keeps every address it was asked about as an empty *uninit*
 *  account, so a never-seen address starts "uninitialized" there and
 *  "non-existing" on TON (and the devnet). Nothing else is normalised. */
function compareTxs(stxs, dtxs, at) {
  const diffs = [];
  if (stxs.length !== dtxs.length) diffs.push(`${at}: ${stxs.length} transactions on sandbox, ${dtxs.length} on devnet`);
  for (let i = 0; i < Math.min(stxs.length, dtxs.length); i++) {
    const [s, d] = [describe(stxs[i]), describe(dtxs[i])];
    if (s.origStatus === 'uninitialized' && d.origStatus === 'non-existing') s.origStatus = d.origStatus;
    diffs.push(...diff(s, d, `${at} tx${i}`));
  }
  return diffs;
}

/**
 * Mirrors `blockchain` onto the devnet `net` (from startDevnet, started with
 * `--block-ms 0 --clock <t>`): every `sendMessage` (wrappers, treasuries and
 * `blockchain.sender()` all go through it) is also sent to the devnet with the
 * clocks aligned, and treasuries are cloned there as they are created.
 * `core` is the test's own @ton/core module. Returns a live report.
 */
function mirror(blockchain, net, { core = require('@ton/core'), log = () => {} } = {}) {
  const report = { steps: 0, transactions: 0, diffs: [] };
  const post = (method, body) => fetch(`${net.base}/devnet/${method}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  }).then((r) => r.json());

  const originalTreasury = blockchain.treasury.bind(blockchain);
  blockchain.treasury = async (...args) => {
    const t = await originalTreasury(...args);
    const sc = await blockchain.getContract(t.address);
    const shard = core.beginCell().store(core.storeShardAccount(sc.account)).endCell();
    const r = await post('setAccount', { address: t.address.toString(), shard_account: shard.toBoc().toString('base64') });
    if (!r.ok) report.diffs.push(`cloning treasury ${t.address}: ${r.error}`);
    return t;
  };

  const original = blockchain.sendMessage.bind(blockchain);
  blockchain.sendMessage = async (message, params) => {
    const cell = message instanceof core.Cell ? message : core.beginCell().store(core.storeMessage(message)).endCell();
    const now = blockchain.now ?? Math.floor(Date.now() / 1000);
    blockchain.now = now;
    await post('setTime', { now });
    let result, error;
    try { result = await original(cell, params); } catch (e) { error = e; }
    const sent = await post('sendMessage', { boc: cell.toBoc().toString('base64') });
    const step = `message #${++report.steps}`;
    let diffs = [];
    if (!!error !== !sent.ok) {
      diffs.push(`${step}: refused by ${error ? 'sandbox' : 'devnet'} only (${error?.message ?? sent.error})`);
    } else if (!error) {
      const block = await post('produceBlock', {});
      const dtxs = block.result.transactions.map((t) => core.loadTransaction(core.Cell.fromBase64(t.data).beginParse()));
      report.transactions += dtxs.length;
      diffs = compareTxs(result.transactions, dtxs, step);
    }
    log(`${diffs.length ? 'DIFF' : 'same'}  ${step}${diffs.map((x) => '\n      ' + x).join('')}`);
    report.diffs.push(...diffs);
    if (error) throw error;
    return result;
  };
  return report;
}

module.exports = { describe, diff, compareTxs, mirror };
