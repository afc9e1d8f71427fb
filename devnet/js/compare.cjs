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
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
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

/** Sort key for matching transactions across chains whose queue orders may
 *  differ (sandbox runs its queue first-in-first-out, the devnet by lt). */
function txKey(tx) {
  const m = tx.inMessage;
  return [tx.address.toString(16).padStart(64, '0'), m?.info?.src?.toString?.() ?? '', m?.body?.hash().toString('hex') ?? '',
    String(m?.info?.value?.coins ?? '')].join('|');
}

function sortTxs(txs) {
  return txs.map((t, i) => [txKey(t), i, t]).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1])).map((x) => x[2]);
}

/**
 * Mirrors `blockchain` onto the devnet `net` (from startDevnet, started with
 * `--block-ms 0 --clock <t>`). Every message the test puts into sandbox's
 * queue (`sendMessage`, opened contracts' sends, treasuries, `sender()`) is
 * also sent to the devnet; when sandbox runs its queue, the devnet produces a
 * block at the same time and both sets of transactions are compared.
 * Treasuries are cloned to the devnet as they are created (sandbox tops their
 * balance up outside any transaction). `core` is the test's own @ton/core.
 * Returns a live report.
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

  const queue = blockchain.defaultQueueManager;
  const pending = [];
  const originalPush = queue.pushMessage.bind(queue);
  queue.pushMessage = async (message) => {
    await originalPush(message);
    pending.push(message instanceof core.Cell ? message : core.beginCell().store(core.storeMessage(message)).endCell());
  };
  // Sandbox starts without masterchain libraries, the devnet with the escrow
  // code published at genesis: unpublish it before the first run.
  let libsCleared = false;
  const clearLibraries = async () => {
    if (libsCleared) return;
    const r = await post('setLibraries', { codes: [] });
    if (!r.ok) report.diffs.push(`clearing the devnet's libraries: ${r.error}`);
    libsCleared = true;
  };

  const originalRun = queue.runQueue.bind(queue);
  queue.runQueue = async (params) => {
    // Code in a library cell costs 110 gas and one step more on tycho-vm (it
    // wraps the reference in a cell and jumps to it) than on TON's TVM (v9+
    // resolves it up front): runs with published libraries are not compared
    // from then on, and the report says so. Unpublished ones (bounces) are.
    const published = blockchain.libs && core.Dictionary.loadDirect(
      core.Dictionary.Keys.Buffer(32), core.Dictionary.Values.Cell(), blockchain.libs).size > 0;
    if (published || report.skipped) {
      report.skipped = 'runs with published masterchain libraries: tycho-vm charges 110 gas more for library code than TON';
      pending.splice(0);
      return originalRun(params);
    }
    await clearLibraries();
    const now = blockchain.now ?? Math.floor(Date.now() / 1000);
    blockchain.now = now;
    let result, error;
    try { result = await originalRun(params); } catch (e) { error = e; }
    const messages = pending.splice(0);
    if (!messages.length) { if (error) throw error; return result; }
    await post('setTime', { now });
    const refused = [];
    for (const cell of messages) {
      const sent = await post('sendMessage', { boc: cell.toBoc().toString('base64') });
      if (!sent.ok) refused.push(sent.error);
    }
    const step = `run #${++report.steps}`;
    let diffs = [];
    if (!!error !== (refused.length > 0)) {
      diffs.push(`${step}: refused by ${error ? 'sandbox' : 'devnet'} only (${error?.message ?? refused[0]})`);
    }
    const block = await post('produceBlock', {});
    const dtxs = block.result.transactions.map((t) => core.loadTransaction(core.Cell.fromBase64(t.data).beginParse()));
    report.transactions += dtxs.length;
    if (!error) diffs.push(...compareTxs(sortTxs(result.transactions), sortTxs(dtxs), step));
    log(`${diffs.length ? 'DIFF' : 'same'}  ${step} (${dtxs.length} txs)${diffs.map((x) => '\n      ' + x).join('')}`);
    report.diffs.push(...diffs);
    if (error) throw error;
    return result;
  };
  return report;
}

module.exports = { describe, diff, compareTxs, mirror };
