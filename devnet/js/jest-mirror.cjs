// Jest setup that mirrors a @ton/sandbox test suite onto the devnet, without
// touching the suite: every Blockchain.create() gets a fresh devnet (same
// global id, manual clock), every message the test sends is replayed there,
// and every transaction is compared (compare.cjs). Differences are written to
// $MIRROR_REPORT (JSON lines) and fail the test file in afterAll.
//
//   cd contracts && DEVNET_BIN=… MIRROR_REPORT=/tmp/m.jsonl npx jest tests/X.spec.ts \
//     --setupFilesAfterEnv "$PWD/../devnet/js/jest-mirror.cjs"
const fs = require('node:fs');
const { startDevnet } = require('./devnet.cjs');
const { mirror } = require('./compare.cjs');

// The suite's own copies, so instances match what the specs use.
const paths = { paths: [process.cwd()] };
const { Blockchain } = require(require.resolve('@ton/sandbox', paths));
const core = require(require.resolve('@ton/core', paths));

// Every transaction runs twice (sandbox and devnet over HTTP): give the suites'
// long tests (the 1,000-step property test) room on a loaded 2-core machine.
jest.setTimeout(900_000);

const nets = [];
const reports = [];
const originalCreate = Blockchain.create;
Blockchain.create = async function (...args) {
  const bc = await originalCreate.apply(this, args);
  const cfg = core.Dictionary.loadDirect(core.Dictionary.Keys.Int(32), core.Dictionary.Values.Cell(), bc.config);
  const globalId = cfg.get(19).beginParse().loadInt(32);
  while (nets.length) nets.pop().stop(); // one live devnet per blockchain
  const now = bc.now ?? Math.floor(Date.now() / 1000);
  const net = await startDevnet(['--block-ms', '0', '--clock', String(now), '--wallets', '0', '--global-id', String(globalId)]);
  nets.push(net);
  reports.push({ test: expect.getState().currentTestName, report: mirror(bc, net, { core }) });
  return bc;
};

afterAll(() => {
  while (nets.length) nets.pop().stop();
  const diffs = reports.flatMap((r) => r.report.diffs.map((d) => `${r.test}: ${d}`));
  const txs = reports.reduce((n, r) => n + r.report.transactions, 0);
  const skipped = reports.filter((r) => r.report.skipped).map((r) => `${r.test}: ${r.report.skipped}`);
  if (process.env.MIRROR_REPORT) {
    fs.appendFileSync(process.env.MIRROR_REPORT, JSON.stringify({ file: expect.getState().testPath, transactions: txs, diffs, skipped }) + '\n');
  }
  if (diffs.length) throw new Error(`devnet differs from sandbox (${diffs.length}):\n${diffs.slice(0, 50).join('\n')}`);
});
