// Fidelity harness: runs the same message sequence through @ton/sandbox (the
// official emulator, TON's C++ executor) and through the devnet, and lists
// every difference in gas, fees, exit codes, balances and out messages.
//
// Both chains start at the same unix time with the same config values (the
// devnet's global id is written into sandbox's config too), so any difference
// is a bug in the devnet's config or chain model.
import { Blockchain } from '@ton/sandbox';
import {
  Address, Cell, Dictionary, beginCell, external, internal, loadTransaction, storeMessage, toNano,
  SendMode, contractAddress,
} from '@ton/core';
import { WalletContractV4, WalletContractV5R1 } from '@ton/ton';
import { keyPairFromSeed } from '@ton/crypto';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDevnet } from './devnet.mjs';
import compare from './compare.cjs';

export const { describe, diff } = compare;

export const DEVNET_GLOBAL_ID = -1313;
export const T0 = 1_750_000_000;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** sandbox's default (mainnet) config with the devnet's global id. */
export function sandboxConfig(blockchain) {
  const dict = Dictionary.loadDirect(Dictionary.Keys.Int(32), Dictionary.Values.Cell(), blockchain.config);
  dict.set(19, beginCell().storeInt(DEVNET_GLOBAL_ID, 32).endCell());
  return beginCell().storeDictDirect(dict).endCell();
}

export function wallet(name) {
  const keys = keyPairFromSeed(createHash('sha256').update(`fidelity/${name}`).digest());
  return { keys, contract: WalletContractV5R1.create({ workchain: 0, publicKey: keys.publicKey }) };
}

/** The two chains side by side. */
export async function pair() {
  const sandbox = await Blockchain.create();
  sandbox.setConfig(sandboxConfig(sandbox));
  sandbox.now = T0;
  const net = await startDevnet(['--block-ms', '0', '--clock', String(T0), '--wallets', '0']);
  const treasury = await sandbox.treasury('fidelity');
  let now = T0;
  return {
    sandbox, net,
    get now() { return now; },
    async advance(secs) {
      now += secs;
      sandbox.now = now;
      await net.devnet('advanceTime', { seconds: secs });
    },
    /** Funds `addr` with exactly `value` on both (treasury / faucet, non-bounceable). */
    async fund(addr, value) {
      await treasury.send({ to: addr, value, bounce: false });
      await net.devnet('faucet', { address: addr.toString(), amount: value.toString() });
      await net.devnet('produceBlock', {});
    },
    /** Sends one external message to both; returns [sandboxTxs, devnetTxs] or throws on rejection mismatch. */
    async sendExternal(msgCell) {
      let sres, serr;
      try { sres = await sandbox.sendMessage(msgCell); } catch (e) { serr = e; }
      const d = await net.rpc('sendBoc', { boc: msgCell.toBoc().toString('base64') });
      if (serr || !d.ok) return { rejected: { sandbox: !!serr, devnet: !d.ok } };
      const block = await net.devnet('produceBlock', {});
      const dtxs = block.transactions.map((t) => loadTransaction(Cell.fromBase64(t.data).beginParse()));
      return { sandbox: sres.transactions, devnet: dtxs };
    },
    async balances(addrs) {
      const out = [];
      for (const a of addrs) {
        const s = (await sandbox.getContract(a)).balance;
        const d = BigInt((await net.rpc('getAddressBalance', { address: a.toString() })).result);
        out.push({ address: a.toString(), sandbox: s, devnet: d });
      }
      return out;
    },
    stop() { net.stop(); },
  };
}

/** A signed v5r1 external, deploying the wallet when seqno is 0. */
export function walletExternal(w, seqno, now, messages, sendMode = SendMode.PAY_GAS_SEPARATELY | SendMode.IGNORE_ERRORS) {
  const body = w.contract.createTransfer({ seqno, secretKey: w.keys.secretKey, messages, sendMode, timeout: now + 600 });
  return beginCell().store(storeMessage(external({ to: w.contract.address, init: seqno === 0 ? w.contract.init : undefined, body }))).endCell();
}

/** Compiled contracts from contracts/build (or $FIDELITY_ARTIFACTS); empty until they exist. */
export function artifacts() {
  const dir = process.env.FIDELITY_ARTIFACTS ?? path.join(root, 'contracts/build');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => {
    const a = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
    return { name: a.name ?? f, code: Cell.fromBase64(a.codeBoc) };
  });
}

/**
 * The sequence: wallet deploys, transfers, bounces, comments, multi-message
 * transfers, storage fees after a month, send-all; then, for every compiled
 * contract, a deploy with state init and a few inbound messages (empty body,
 * unknown op, bounced-looking op). Returns a list of steps with their diffs.
 */
export async function runSequence(p, { log = () => {} } = {}) {
  const A = wallet('a'), B = wallet('b');
  const C = wallet('never-deployed').contract.address;
  const steps = [];
  const seq = { a: 0, b: 0 };
  await p.fund(A.contract.address, toNano('100'));
  await p.fund(B.contract.address, toNano('10'));

  async function step(name, msg, watch) {
    const r = await p.sendExternal(msg);
    const diffs = [];
    if (r.rejected) {
      if (r.rejected.sandbox !== r.rejected.devnet) diffs.push(`rejection: sandbox ${r.rejected.sandbox} != devnet ${r.rejected.devnet}`);
    } else {
      diffs.push(...compare.compareTxs(r.sandbox, r.devnet, 'step'));
    }
    for (const b of await p.balances(watch)) {
      if (b.sandbox !== b.devnet) diffs.push(`balance ${b.address}: sandbox ${b.sandbox} != devnet ${b.devnet}`);
    }
    const txs = r.rejected ? 0 : r.devnet.length;
    const gas = r.rejected ? [] : r.devnet.map((t) => (t.description.computePhase.type === 'vm' ? t.description.computePhase.gasUsed : 0n));
    steps.push({ name, txs, gas, diffs });
    log(`${diffs.length ? 'DIFF' : 'same'}  ${name}  (${txs} txs, gas ${gas.join('/')})${diffs.map((d) => '\n      ' + d).join('')}`);
    return r;
  }

  const a = A.contract.address, b = B.contract.address;
  // C is watched only once it has been sent to: asking sandbox for a balance
  // creates an empty uninit account there, which real TON would not have.
  const watch = [a, b, C];
  const send = (w, key, msgs, mode) => walletExternal(w, seq[key]++, p.now, msgs, mode);

  await step('A deploys itself and sends 1 TON to uninit B (non-bounceable)', send(A, 'a', [internal({ to: b, value: toNano('1'), bounce: false })]), [a, b]);
  await step('B deploys itself and sends 0.5 TON back to A', send(B, 'b', [internal({ to: a, value: toNano('0.5'), bounce: true })]), [a, b]);
  await step('A sends 2 TON bounceable to a missing account: bounce', send(A, 'a', [internal({ to: C, value: toNano('2'), bounce: true })]), watch);
  await step('A sends a text comment to B', send(A, 'a', [internal({ to: b, value: toNano('0.1'), body: 'fidelity check' })]), watch);
  await step('A sends three messages in one transfer', send(A, 'a', [
    internal({ to: b, value: toNano('0.2') }),
    internal({ to: C, value: toNano('0.3'), bounce: false }),
    internal({ to: b, value: toNano('0.01'), body: beginCell().storeUint(0xdeadbeef, 32).storeUint(7, 64).endCell() }),
  ]), watch);
  await p.advance(30 * 24 * 3600);
  await step('after 30 days: storage fees on A and B', send(A, 'a', [internal({ to: b, value: toNano('0.1') })]), watch);
  const stale = walletExternal(A, 0, p.now, [internal({ to: b, value: 1n })]);
  await step('stale seqno is refused by both', stale, watch);
  const expired = A.contract.createTransfer({ seqno: seq.a, secretKey: A.keys.secretKey, messages: [internal({ to: b, value: 1n })], sendMode: 3, timeout: p.now - 1 });
  await step('expired valid_until is refused by both',
    beginCell().store(storeMessage(external({ to: a, body: expired }))).endCell(), watch);

  for (const art of artifacts()) {
    const data = beginCell().endCell();
    const addr = contractAddress(0, { code: art.code, data });
    const w = [...watch, addr];
    await step(`${art.name}: deploy with empty data from B`, send(B, 'b', [internal({ to: addr, value: toNano('1'), bounce: false, init: { code: art.code, data } })]), w);
    await step(`${art.name}: empty-body message`, send(B, 'b', [internal({ to: addr, value: toNano('0.5'), bounce: true })]), w);
    await step(`${art.name}: unknown op`, send(B, 'b', [internal({ to: addr, value: toNano('0.5'), bounce: true, body: beginCell().storeUint(0x0badc0de, 32).storeUint(1, 64).endCell() })]), w);
  }

  // Action-phase failures: a v4 wallet (no send-mode restriction) asks for
  // more than it has, without and with "ignore errors", and with a bad mode.
  const keysV4 = wallet('v4').keys;
  const V4 = { keys: keysV4, contract: WalletContractV4.create({ workchain: 0, publicKey: keysV4.publicKey }) };
  const v4 = V4.contract.address;
  await p.fund(v4, toNano('1'));
  // A failed action phase rolls the wallet's state back (seqno, even the
  // deploy), so each message asks the devnet for the current state first.
  const v4ext = async (messages, sendMode) => {
    const info = (await p.net.rpc('getWalletInformation', { address: v4.toString() })).result;
    const seqno = info.account_state === 'active' ? info.seqno : 0;
    return beginCell().store(storeMessage(external({
      to: v4, init: seqno === 0 && info.account_state !== 'active' ? V4.contract.init : undefined,
      body: V4.contract.createTransfer({ seqno, secretKey: V4.keys.secretKey, messages, sendMode, timeout: p.now + 600 }),
    }))).endCell();
  };
  await step('v4 wallet deploys and overspends in mode 0: action phase fails (37)', await v4ext([internal({ to: b, value: toNano('5') })], 0), [a, b, v4]);
  await step('v4 wallet overspends with ignore-errors: action skipped', await v4ext([internal({ to: b, value: toNano('5') })], SendMode.IGNORE_ERRORS), [a, b, v4]);
  await step('v4 wallet sends most of its balance, fees paid separately', await v4ext([internal({ to: b, value: toNano('0.9') })], SendMode.PAY_GAS_SEPARATELY), [a, b, v4]);

  await step('A sends its whole balance to B (mode 128)', send(A, 'a', [internal({ to: b, value: 0n })], SendMode.CARRY_ALL_REMAINING_BALANCE), watch);
  return steps;
}
