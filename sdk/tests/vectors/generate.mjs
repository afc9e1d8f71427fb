// Golden vectors for spindle-sdk, produced by the reference TypeScript libraries
// (@ton/core, @ton/crypto, @ton/ton). Deterministic: fixed keys, seqnos and
// times, so re-running must reproduce vectors.json byte for byte.
//
//   node generate.mjs [out.json]      (default: ./vectors.json)

import { writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import {
  Address, beginCell, contractAddress, Dictionary, external, internal,
  storeMessage, storeMessageRelaxed, storeStateInit, storeTransaction, SendMode,
} from "@ton/core";
import { keyPairFromSeed, mnemonicToPrivateKey, sign } from "@ton/crypto";
import { WalletContractV4, WalletContractV5R1 } from "@ton/ton";

const out = process.argv[2] ?? new URL("./vectors.json", import.meta.url).pathname;
const hex = (buf) => Buffer.from(buf).toString("hex");
const boc = (cell) => cell.toBoc().toString("base64");
const seed = (label) => createHash("sha256").update(label).digest();
const keys = (label) => keyPairFromSeed(seed(label));
const hashAddress = (wc, label) => new Address(wc, seed(label));

// ---- addresses ----
const addresses = [
  hashAddress(0, "alice"), hashAddress(-1, "elector"), hashAddress(0, "bob"),
  new Address(0, Buffer.alloc(32, 0)), new Address(0, Buffer.alloc(32, 0xff)),
].map((a) => ({
  raw: a.toRawString(),
  bounceable: a.toString({ bounceable: true, urlSafe: true }),
  non_bounceable: a.toString({ bounceable: false, urlSafe: true }),
  testnet_bounceable: a.toString({ bounceable: true, testOnly: true, urlSafe: true }),
  testnet_non_bounceable: a.toString({ bounceable: false, testOnly: true, urlSafe: true }),
  bounceable_std: a.toString({ bounceable: true, urlSafe: false }),
}));

// ---- cells and BoCs ----
const leaf = (n) => beginCell().storeUint(n, 16).endCell();
const shared = beginCell().storeStringTail("shared").endCell();
const wide = (depth, tag) => {
  const b = beginCell().storeUint(tag, 32);
  if (depth > 0) for (let i = 0; i < 4; i++) b.storeRef(wide(depth - 1, tag * 4 + i + 1));
  return b.endCell();
};
const cells = {
  empty: beginCell().endCell(),
  seven_bits: beginCell().storeUint(0b1011001, 7).endCell(),
  full: beginCell().storeBuffer(Buffer.alloc(127, 0xa5)).storeUint(5, 7).endCell(),
  tree: beginCell().storeUint(1, 8).storeRef(beginCell().storeUint(2, 8).storeRef(leaf(3)).endCell()).storeRef(leaf(4)).endCell(),
  dag: beginCell().storeRef(shared).storeRef(beginCell().storeRef(shared).storeRef(leaf(9)).endCell()).storeRef(shared).endCell(),
  wide_341_cells: wide(4, 0),
};
const bocs = Object.entries(cells).map(([name, c]) => ({ name, boc: boc(c), hash: hex(c.hash()) }));

// ---- state init and messages ----
const code = beginCell().storeUint(0xc0de, 16).storeRef(leaf(1)).endCell();
const data = beginCell().storeUint(42, 64).storeAddress(hashAddress(0, "owner")).endCell();
const stateInits = [0, -1].map((wc) => ({
  workchain: wc, code: boc(code), data: boc(data),
  state_init: boc(beginCell().store(storeStateInit({ code, data })).endCell()),
  address: contractAddress(wc, { code, data }).toRawString(),
}));

const bigBody = beginCell().storeBuffer(Buffer.alloc(100, 7)).endCell();
const smallBody = beginCell().storeUint(0x12345678, 32).storeUint(7, 64).storeRef(leaf(5)).endCell();
const msgCases = [
  { to: hashAddress(0, "alice"), value: 1n, bounce: true, body: null, init: null },
  { to: hashAddress(0, "bob"), value: 1_500_000_000n, bounce: false, body: smallBody, init: null },
  { to: hashAddress(-1, "elector"), value: 10n ** 18n, bounce: true, body: bigBody, init: null },
  { to: contractAddress(0, { code, data }), value: 50_000_000n, bounce: false, body: smallBody, init: { code, data } },
  { to: contractAddress(0, { code, data }), value: 3n, bounce: true, body: bigBody, init: { code, data } },
];
const describe = (m) => ({
  to: m.to.toRawString(), value: m.value.toString(), bounce: m.bounce,
  body: m.body && boc(m.body), code: m.init && boc(m.init.code), data: m.init && boc(m.init.data),
});
const relaxed = (m) => internal({ to: m.to, value: m.value, bounce: m.bounce, body: m.body ?? undefined, init: m.init ?? undefined });
const internalMessages = msgCases.map((m) => ({
  ...describe(m), cell: boc(beginCell().store(storeMessageRelaxed(relaxed(m))).endCell()),
}));
const externalMessages = msgCases.filter((m) => m.body).map((m) => {
  const ext = external({ to: m.to, init: m.init ?? undefined, body: m.body });
  return { ...describe(m), cell: boc(beginCell().store(storeMessage(ext)).endCell()) };
});

// ---- TonConnect messages and ton://transfer links, as a dApp builds them ----
const tonconnect = msgCases.flatMap((m) => [false, true].map((testnet) => {
  const address = m.to.toString({ bounceable: m.bounce, testOnly: testnet, urlSafe: true });
  const init = m.init && beginCell().store(storeStateInit(m.init)).endCell();
  const message = { address, amount: m.value.toString() };
  if (m.body) message.payload = boc(m.body);
  if (init) message.stateInit = boc(init);
  let link = `ton://transfer/${address}?amount=${m.value}`;
  if (m.body) link += `&bin=${m.body.toBoc().toString("base64url")}`;
  if (init) link += `&init=${init.toBoc().toString("base64url")}`;
  return { ...describe(m), testnet, message, link };
}));

// ---- transactions (ordinary ones, as the relayer reads them) ----
const big = (label) => BigInt("0x" + hex(seed(label)));
const vm = (success, exitCode) => ({
  type: "vm", success, messageStateUsed: false, accountActivated: false, gasFees: 1_500_000n,
  gasUsed: 3_308n, gasLimit: 1_000_000n, gasCredit: success ? undefined : 10_000n, mode: 0, exitCode,
  exitArg: exitCode === 0 ? undefined : -1, vmSteps: 68, vmInitStateHash: 0n, vmFinalStateHash: 0n,
});
const action = (success, resultCode, messagesCreated) => ({
  success, valid: true, noFunds: false, statusChange: "unchanged", totalFwdFees: 266_669n,
  totalActionFees: 88_889n, resultCode, resultArg: undefined, totalActions: messagesCreated, specActions: 0,
  skippedActions: 0, messagesCreated, actionListHash: big("actions"), totalMessageSize: { cells: 1n, bits: 705n },
});
const txCases = {
  ok: { computePhase: vm(true, 0), actionPhase: action(true, 0, 2), aborted: false, outs: 2 },
  thrown: { computePhase: vm(false, 402), actionPhase: undefined, aborted: true, outs: 0 },
  action_failed: { computePhase: vm(true, 1), actionPhase: action(false, 37, 0), aborted: true, outs: 0 },
  skipped: { computePhase: { type: "skipped", reason: "no-state" }, actionPhase: undefined, aborted: true, outs: 0 },
};
const transactions = Object.entries(txCases).map(([name, c], i) => {
  const cell = beginCell().store(storeTransaction({
    address: big("account"), lt: 47_000_000_000_001n + BigInt(i), prevTransactionHash: big(`prev ${i}`),
    prevTransactionLt: 46_000_000_000_000n + BigInt(i), now: 1_700_000_000 + i, outMessagesCount: c.outs,
    oldStatus: "active", endStatus: "active", inMessage: undefined,
    outMessages: Dictionary.empty(Dictionary.Keys.Uint(15), Dictionary.Values.Cell()),
    totalFees: { coins: 2_000_000n + BigInt(i) },
    stateUpdate: { oldHash: seed("old"), newHash: seed("new") },
    description: {
      type: "generic", creditFirst: false,
      storagePhase: { storageFeesCollected: 17n, storageFeesDue: i === 3 ? 5n : undefined, statusChange: "unchanged" },
      creditPhase: i === 1 ? undefined : { dueFeesColelcted: undefined, credit: { coins: 1_000_000_000n } },
      computePhase: c.computePhase, actionPhase: c.actionPhase, aborted: c.aborted, bouncePhase: undefined, destroyed: false,
    },
  })).endCell();
  return { name, boc: boc(cell), hash: hex(cell.hash()), ...c, computePhase: undefined, actionPhase: undefined,
    exit_code: c.computePhase.exitCode ?? null, action_result_code: c.actionPhase?.resultCode ?? null };
});

// ---- wallets ----
const walletKey = keys("spindle wallet key");
const transfers = [
  { seqno: 0, valid_until: 1_800_000_000, mode: SendMode.PAY_GAS_SEPARATELY, messages: [msgCases[0]] },
  { seqno: 7, valid_until: 1_800_000_060, mode: SendMode.PAY_GAS_SEPARATELY + SendMode.IGNORE_ERRORS, messages: msgCases.slice(0, 4) },
  { seqno: 123456, valid_until: 1_900_000_000, mode: SendMode.PAY_GAS_SEPARATELY, messages: msgCases.slice(1, 3) },
];
const walletVectors = (wallet, network, make) => ({
  network_global_id: network, workchain: wallet.address.workChain,
  address: wallet.address.toRawString(),
  code_hash: hex(wallet.init.code.hash()),
  state_init: boc(beginCell().store(storeStateInit(wallet.init)).endCell()),
  transfers: transfers.map((t) => {
    const body = make(wallet, t);
    const ext = external({ to: wallet.address, init: t.seqno === 0 ? wallet.init : undefined, body });
    return {
      seqno: t.seqno, valid_until: t.valid_until, mode: t.mode, messages: t.messages.map(describe),
      body: boc(body), external: boc(beginCell().store(storeMessage(ext)).endCell()),
      external_hash: hex(beginCell().store(storeMessage(ext)).endCell().hash()),
    };
  }),
});
const transferArgs = (t) => ({
  seqno: t.seqno, timeout: t.valid_until, sendMode: t.mode,
  secretKey: walletKey.secretKey, messages: t.messages.map(relaxed),
});
const v5 = (wc, networkGlobalId) => WalletContractV5R1.create({
  publicKey: walletKey.publicKey,
  walletId: { networkGlobalId, context: { workchain: wc, subwalletNumber: 0, walletVersion: "v5r1" } },
});
const wallets = {
  secret_seed: hex(seed("spindle wallet key")),
  public_key: hex(walletKey.publicKey),
  v5r1: [v5(0, -239), v5(0, -3), v5(-1, -239)].map((w) =>
    walletVectors(w, w.walletId.networkGlobalId, (w, t) => w.createTransfer(transferArgs(t)))),
  v4r2: [0, -1].map((wc) => WalletContractV4.create({ workchain: wc, publicKey: walletKey.publicKey })).map((w) =>
    walletVectors(w, null, (w, t) => w.createTransfer(transferArgs(t)))),
};

// ---- Spindle signed payloads: tag:uint32 global_id:int32 target id:uint64 ++ body ----
const payloadKey = keys("spindle relayer key");
const payloadCases = [
  { tag: "cmpl", global_id: -239, target: hashAddress(0, "escrow 1"), id: 1n, body: beginCell().storeUint(0xdead, 256).storeCoins(1_000_000_000n).endCell() },
  { tag: "vchr", global_id: -3, target: hashAddress(0, "account 9"), id: 2n ** 64n - 1n, body: beginCell().storeAddress(hashAddress(0, "stake")).storeRef(leaf(1)).storeRef(leaf(2)).endCell() },
  { tag: "dlvr", global_id: 12345, target: hashAddress(-1, "m"), id: 0n, body: beginCell().endCell() },
];
const payloads = payloadCases.map((p) => {
  const cell = beginCell().storeBuffer(Buffer.from(p.tag, "ascii")).storeInt(p.global_id, 32)
    .storeAddress(p.target).storeUint(p.id, 64).storeSlice(p.body.beginParse()).endCell();
  return {
    tag: p.tag, global_id: p.global_id, target: p.target.toRawString(), id: p.id.toString(),
    body: boc(p.body), cell: boc(cell), hash: hex(cell.hash()),
    signature: hex(sign(cell.hash(), payloadKey.secretKey)),
  };
});

// ---- mnemonics ----
const phrases = [
  "dose ice enrich trigger test dove century still betray gas diet dune use other base gym mad law immense village world example praise game",
];
const mnemonics = [];
for (const words of phrases) {
  const k = await mnemonicToPrivateKey(words.split(" "));
  mnemonics.push({ words, secret_seed: hex(k.secretKey.subarray(0, 32)), public_key: hex(k.publicKey) });
}

const vectors = {
  addresses, bocs, state_inits: stateInits,
  internal_messages: internalMessages, external_messages: externalMessages, tonconnect, transactions,
  wallets,
  payloads: { public_key: hex(payloadKey.publicKey), secret_seed: hex(seed("spindle relayer key")), cases: payloads },
  mnemonics,
};
writeFileSync(out, JSON.stringify(vectors, null, 2) + "\n");
