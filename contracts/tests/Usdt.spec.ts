// USDT (jetton) paths of job_escrow, compute_account and provider_stake
// (protocol rules 1, 7, 9), against a REAL TEP-74 jetton: the reference minter
// and wallet shipped by @ton-community/assets-sdk (wrappers/Jetton.ts). Exact
// jetton balances moved, fake notifications, too little forward TON, bounced
// jetton payouts; gas of every new op into gas-snapshot.json, checked against
// gas-budgets.json.
import { Blockchain, SandboxContract, TreasuryContract, SendMessageResult } from '@ton/sandbox';
import { Address, beginCell, Cell, contractAddress, Dictionary, toNano, Transaction } from '@ton/core';
import { keyPairFromSeed, KeyPair, sign } from '@ton/crypto';
import '@ton/test-utils';
import fs from 'fs';
import path from 'path';
import {
    acceptPayload, childData, completeBody, completePayload, Err, escrowAddress, escrowCfg, escrowCreateUsdtBody, expireBody, hubCreateAccountUsdtBody,
    hubCreateJobUsdtBody, hubData, hubParams, HubParams, hubSetPausedBody, loadArtifact, Op, opBody, relayerSet, signKofN, stakeAddress, stakeCfg, stakeData,
    stakeInitBody,
} from '../wrappers/Spindle';
import { buildCaParams, buildVoucher, CaError, ComputeAccount, signKofN as caSign } from '../wrappers/ComputeAccount';
import {
    accountJettonCfg, escrowJettonCfg, governedMintBody, governedMinterData, governedSetStatusBody, governedWalletAddress, JettonOp, libraryCell,
    minterAddress, minterCode, minterData, mintBody, notificationBody, transferBody, walletAddress, WalletLayout, WalletSpec,
} from '../wrappers/Jetton';
import { compileFunc } from '@ton-community/func-js';

const NOW = 1_800_000_000;
const GLOBAL_ID = -239;
const USDT = 1_000_000n; // 6 decimals (rule 7)
const SETTLE_FEE = toNano('0.003');
const FEE_BPS = 250;
const GRACE = 600;
const WINDOW = 3600;
const T = toNano('0.05'); // TON attached to each jetton transfer a child sends
const ESCROW_RESERVE = toNano('0.002');

const budgets: Record<string, { gas?: number }> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'gas-budgets.json'), 'utf8'));
const snapshot: Record<string, { gas: number; fees_nanoton: string; fees_ton: string }> = {};
function gasOf(tx: Transaction): number {
    const d = tx.description;
    return d.type === 'generic' && d.computePhase.type === 'vm' ? Number(d.computePhase.gasUsed) : 0;
}
function exitOf(tx: Transaction): number | undefined {
    const d = tx.description;
    return d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.exitCode : undefined;
}
const feesOf = (r: SendMessageResult) => r.transactions.reduce((a, t) => a + t.totalFees.coins, 0n);
function txTo(r: SendMessageResult, a: Address, nth = 0): Transaction {
    const ts = r.transactions.filter((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(a));
    if (!ts[nth]) throw new Error('no transaction to ' + a);
    return ts[nth];
}
function record(name: string, tx: Transaction, fees: bigint) {
    const gas = gasOf(tx);
    snapshot[name] = { gas, fees_nanoton: fees.toString(), fees_ton: (Number(fees) / 1e9).toFixed(6) };
    const b = budgets[name];
    if (b?.gas === undefined) throw new Error(`${name}: no budget in gas-budgets.json`);
    if (gas > b.gas) throw new Error(`${name}: ${gas} gas exceeds its budget ${b.gas} (gas-budgets.json)`);
}

// written once, after both describe blocks (top level)
afterAll(() => {
    const file = path.join(__dirname, '..', 'gas-snapshot.json');
    let snap: Record<string, unknown> = {};
    try { snap = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { snap = {}; }
    Object.assign(snap, snapshot);
    fs.writeFileSync(file, JSON.stringify(Object.fromEntries(Object.entries(snap).sort(([a], [b]) => a.localeCompare(b))), null, 2) + '\n');
});

describe('USDT (jetton) paths with a real TEP-74 jetton', () => {
    const escrowCode = loadArtifact('job_escrow');
    const stakeCode = loadArtifact('provider_stake');
    const accountCode = loadArtifact('compute_account');
    let bc: Blockchain;
    let admin: SandboxContract<TreasuryContract>, hub: SandboxContract<TreasuryContract>, client: SandboxContract<TreasuryContract>;
    let poster: SandboxContract<TreasuryContract>, treasury: SandboxContract<TreasuryContract>, owner: SandboxContract<TreasuryContract>;
    let stranger: SandboxContract<TreasuryContract>;
    let relayers: KeyPair[];
    let set1: Cell;
    let master: Address;
    let nonce = 0n;

    beforeAll(async () => {
        relayers = await Promise.all([1, 2, 3].map((i) => keyPairFromSeed(Buffer.alloc(32, i))));
        set1 = relayerSet(1, 2, relayers.map((k) => k.publicKey));
    });

    beforeEach(async () => {
        bc = await Blockchain.create();
        bc.now = NOW;
        admin = await bc.treasury('admin');
        hub = await bc.treasury('hub');
        client = await bc.treasury('client');
        poster = await bc.treasury('poster');
        treasury = await bc.treasury('treasury');
        owner = await bc.treasury('owner');
        stranger = await bc.treasury('stranger');
        // the jetton: deploy the minter, mint 1000 USDT to the client
        master = minterAddress(admin.address);
        await admin.send({ to: master, value: toNano('0.1'), init: { code: minterCode, data: minterData(admin.address) } });
        const r = await admin.send({ to: master, value: toNano('0.2'), body: mintBody(client.address, 1000n * USDT, toNano('0.1')) });
        expect(r.transactions).toHaveTransaction({ to: walletAddress(master, client.address), success: true });
        expect(await jbal(client.address)).toBe(1000n * USDT);
    });

    async function jbal(ownerAddr: Address): Promise<bigint> {
        const w = await bc.getContract(walletAddress(master, ownerAddr));
        if (w.accountState?.type !== 'active') return 0n;
        return (await bc.runGetMethod(w.address, 'get_wallet_data')).stackReader.readBigNumber();
    }
    /** The client pays `amount` USDT to `to` through its real jetton wallet. */
    function pay(to: Address, amount: bigint, forwardTon = toNano('0.06'), from = client) {
        return from.send({ to: walletAddress(master, from.address), value: forwardTon + toNano('0.06'), body: transferBody(amount, to, from.address, forwardTon) });
    }
    async function deployStake(o: SandboxContract<TreasuryContract>, opKey: Buffer = Buffer.alloc(32, 9)) {
        const addr = stakeAddress(stakeCode, hub.address, o.address);
        await o.send({
            to: addr, value: toNano('10'), init: { code: stakeCode, data: stakeData(hub.address, o.address) },
            body: stakeInitBody(opKey, stakeCfg({ escrowCode, treasury: treasury.address, slashMultPct: 150, finderFee: toNano('0.01'), unbondPeriod: 90000, minStake: toNano('5') })),
        });
        return addr;
    }
    async function jobState(a: Address) {
        const s = (await bc.runGetMethod(a, 'get_job')).stackReader;
        return { state: s.readNumber(), delivered: s.readNumber(), slashed: s.readNumber(), amount: s.readBigNumber() };
    }
    async function jettonState(a: Address) {
        const s = (await bc.runGetMethod(a, 'get_jetton')).stackReader;
        return { wallet: s.readAddressOpt(), ton: s.readBigNumber(), slashAmount: s.readBigNumber(), owed: s.readBigNumber() };
    }
    async function escrowFees(a: Address) {
        const s = (await bc.runGetMethod(a, 'get_jetton_fees')).stackReader;
        return { complete: s.readBigNumber(), expire: s.readBigNumber(), claim: s.readBigNumber() };
    }
    /** Deploys a USDT escrow (FUNDING) directly by the client. */
    async function createUsdtJob(amount: bigint, opts: { ton?: bigint; deadline?: number } = {}) {
        nonce += 1n;
        const addr = escrowAddress(escrowCode, hub.address, client.address, nonce);
        const deadline = opts.deadline ?? NOW + 3600;
        const cfg = escrowCfg({ settleFee: SETTLE_FEE, feeBps: FEE_BPS, grace: GRACE, window: WINDOW, stakeCode, treasury: treasury.address, relayers: set1 });
        const r = await client.send({
            to: addr, value: toNano('0.03'), init: { code: escrowCode, data: childData(hub.address, client.address, nonce) },
            body: escrowCreateUsdtBody(amount, deadline, 0xabcn, cfg, escrowJettonCfg(master, opts.ton ?? T, toNano('1'))),
        });
        return { addr, nonce, deadline, r, amount };
    }
    function complete(job: { addr: Address; nonce: bigint }, provider: Address, amount: bigint) {
        const p = completePayload(GLOBAL_ID, job.addr, job.nonce, provider, amount, 0x1234n);
        const { signers, sigs } = signKofN(p, relayers.map((k) => k.secretKey), [0, 2]);
        return completeBody(provider, amount, 0x1234n, signers, sigs);
    }
    async function fundedJob(amount: bigint, opts: { ton?: bigint } = {}) {
        const job = await createUsdtJob(amount, opts);
        const r = await pay(job.addr, amount);
        expect((await jobState(job.addr)).state).toBe(0);
        return { ...job, fund: r };
    }

    // ------------------------------------------------------------------ job_escrow
    it('escrow: create_usdt computes its own jetton wallet; the notification of exactly the amount opens the job', async () => {
        const job = await createUsdtJob(100n * USDT);
        expect(job.r.transactions).toHaveTransaction({ to: job.addr, deploy: true, success: true });
        record('job_escrow.create_usdt', txTo(job.r, job.addr), feesOf(job.r));
        expect((await jobState(job.addr)).state).toBe(3); // FUNDING
        const js = await jettonState(job.addr);
        expect(js.wallet!.equals(walletAddress(master, job.addr))).toBe(true);
        expect(js.ton).toBe(T);
        // complete before funding: not open
        let r = await poster.send({ to: job.addr, value: toNano('0.5'), body: complete(job, owner.address, 50n * USDT) });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.jobNotOpen });
        r = await pay(job.addr, 100n * USDT);
        const ntx = txTo(r, job.addr);
        expect(exitOf(ntx)).toBe(0);
        record('job_escrow.notify_usdt', ntx, feesOf(r));
        expect((await jobState(job.addr)).state).toBe(0);
        expect(await jbal(job.addr)).toBe(100n * USDT);
        expect(await jbal(client.address)).toBe(900n * USDT);
        // a second payment to an open job goes back to its payer
        r = await pay(job.addr, 5n * USDT);
        expect(await jbal(job.addr)).toBe(100n * USDT);
        expect(await jbal(client.address)).toBe(900n * USDT);
    });

    it('escrow: complete pays the provider (through its stake, forwarded to the owner), fee to treasury, rest to client, in USDT', async () => {
        const stake = await deployStake(owner);
        const job = await fundedJob(100n * USDT);
        const payAmt = 60n * USDT;
        const fee = (payAmt * BigInt(FEE_BPS)) / 10000n;
        const fees = await escrowFees(job.addr);
        // too little TON for the jetton transfers: refused up front, nothing moves
        let r = await poster.send({ to: job.addr, value: fees.complete - 1n, body: complete(job, owner.address, payAmt) });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.valueTooLow });
        expect((await jobState(job.addr)).state).toBe(0);
        r = await poster.send({ to: job.addr, value: fees.complete, body: complete(job, owner.address, payAmt) });
        const tx = txTo(r, job.addr);
        expect(exitOf(tx)).toBe(0);
        record('job_escrow.complete_usdt_2of3', tx, feesOf(r));
        // the stake got a notification and forwarded the jettons to its owner
        const stx = r.transactions.find((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(stake)
            && t.inMessage.body.beginParse().preloadUint(32) === JettonOp.notification)!;
        expect(exitOf(stx)).toBe(0);
        record('provider_stake.jetton_forward', stx, 0n);
        expect(await jbal(owner.address)).toBe(payAmt - fee);
        expect(await jbal(stake)).toBe(0n);
        expect(await jbal(treasury.address)).toBe(fee);
        expect(await jbal(client.address)).toBe(900n * USDT + 40n * USDT);
        expect(await jbal(job.addr)).toBe(0n);
        expect((await jobState(job.addr)).state).toBe(1);
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: poster.address, op: Op.escrowSettleFee });
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: client.address, op: Op.escrowRefund });
        expect((await bc.getContract(job.addr)).balance).toBe(ESCROW_RESERVE);
        // every transaction of the chain succeeded (no bounce anywhere)
        for (const t of r.transactions) expect(exitOf(t) ?? 0).toBe(0);
        // settles once
        r = await poster.send({ to: job.addr, value: fees.complete, body: complete(job, owner.address, payAmt) });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.jobNotOpen });
    });

    it('escrow: expire refunds the client in USDT; an unfunded job refunds TON only and can never be slashed', async () => {
        const job = await fundedJob(100n * USDT);
        bc.now = job.deadline + GRACE + 1;
        const fees = await escrowFees(job.addr);
        let r = await poster.send({ to: job.addr, value: fees.expire - 1n, body: expireBody() });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.valueTooLow });
        r = await poster.send({ to: job.addr, value: fees.expire, body: expireBody() });
        const tx = txTo(r, job.addr);
        expect(exitOf(tx)).toBe(0);
        record('job_escrow.expire_usdt', tx, feesOf(r));
        expect(await jbal(client.address)).toBe(1000n * USDT);
        expect(await jbal(job.addr)).toBe(0n);
        expect((await jobState(job.addr)).state).toBe(2);
        expect((await bc.getContract(job.addr)).balance).toBe(ESCROW_RESERVE);
        // unfunded (FUNDING) job
        const u = await createUsdtJob(10n * USDT, { deadline: bc.now! + 3600 });
        bc.now = u.deadline + GRACE + 1;
        r = await poster.send({ to: u.addr, value: toNano('0.05'), body: expireBody() });
        expect(r.transactions).toHaveTransaction({ from: u.addr, to: client.address, op: Op.escrowRefund });
        expect(r.transactions).not.toHaveTransaction({ from: u.addr, op: JettonOp.transfer });
        const st = await jobState(u.addr);
        expect([st.state, st.slashed]).toEqual([2, 1]);
        // jettons arriving after expiry go back to the payer
        await pay(u.addr, 10n * USDT);
        expect(await jbal(client.address)).toBe(1000n * USDT);
    });

    it('escrow: an accepted, undelivered USDT job expires with evidence: jettons back to the client, stake slashed by the TON slash_amount', async () => {
        const operator = keyPairFromSeed(Buffer.alloc(32, 40));
        const stake = await deployStake(owner, operator.publicKey);
        const before = (await bc.runGetMethod(stake, 'get_stake')).stackReader.readBigNumber();
        const job = await fundedJob(100n * USDT);
        bc.now = job.deadline + GRACE + 1;
        const sig = sign(acceptPayload(GLOBAL_ID, job.addr, job.nonce, owner.address).hash(), operator.secretKey);
        const fees = await escrowFees(job.addr);
        const r = await stranger.send({ to: job.addr, value: toNano('0.05') + fees.expire, body: expireBody({ provider: owner.address, sig }) });
        expect(exitOf(txTo(r, job.addr))).toBe(0);
        expect(exitOf(txTo(r, stake))).toBe(0);
        // slash = min(stake, 150 % x slash_amount (1 TON)) = 1.5 TON: finder fee, client up to 1 TON, rest treasury
        expect((await bc.runGetMethod(stake, 'get_stake')).stackReader.readBigNumber()).toBe(before - toNano('1.5'));
        expect(r.transactions).toHaveTransaction({ from: stake, to: client.address, op: Op.stakeSlashed, value: toNano('1') });
        expect(await jbal(client.address)).toBe(1000n * USDT);
        expect(await jbal(job.addr)).toBe(0n);
        const st = await jobState(job.addr);
        expect([st.state, st.slashed]).toEqual([2, 1]);
    });

    it('escrow: a fake notification (not from its own wallet), a wrong amount, or a TON escrow: jettons back, no state change', async () => {
        const job = await createUsdtJob(100n * USDT);
        const dataBefore = (await bc.getContract(job.addr)).accountState;
        // a stranger posing as a jetton wallet: "returned" to itself, nothing opens
        let r = await stranger.send({ to: job.addr, value: toNano('0.1'), body: notificationBody(100n * USDT, stranger.address) });
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: stranger.address, op: JettonOp.transfer });
        expect((await jobState(job.addr)).state).toBe(3);
        // the client's genuine wallet, but another client's... (wrong amount)
        r = await pay(job.addr, 99n * USDT);
        expect(await jbal(client.address)).toBe(1000n * USDT);
        expect(await jbal(job.addr)).toBe(0n);
        expect((await jobState(job.addr)).state).toBe(3);
        // genuine jettons to a TON escrow: sent back
        nonce += 1n;
        const tonJob = escrowAddress(escrowCode, hub.address, client.address, nonce);
        const cfg = escrowCfg({ settleFee: SETTLE_FEE, feeBps: FEE_BPS, grace: GRACE, window: WINDOW, stakeCode, treasury: treasury.address, relayers: set1 });
        await client.send({ to: tonJob, value: toNano('1.1'), init: { code: escrowCode, data: childData(hub.address, client.address, nonce) },
            body: beginCell().storeUint(Op.escrowCreate, 32).storeUint(0, 64).storeCoins(toNano('1')).storeUint(NOW + 3600, 32).storeUint(1, 256).storeRef(cfg).endCell() });
        await pay(tonJob, 7n * USDT);
        expect(await jbal(client.address)).toBe(1000n * USDT);
        expect(await jbal(tonJob)).toBe(0n);
        void dataBefore;
    });

    it('escrow: too little forward TON: the job does not open; the jettons, which cannot be sent back, become the client\'s, claimable', async () => {
        const job = await createUsdtJob(100n * USDT);
        // 0.003 TON forwarded < the notification handler's budget (gas 9000 = 0.0036 TON)
        const r = await pay(job.addr, 100n * USDT, toNano('0.003'));
        expect((await jobState(job.addr)).state).toBe(3);
        // too little to even send them back: the escrow keeps them, owed to the client (never stuck)
        expect(r.transactions).not.toHaveTransaction({ from: job.addr });
        expect(await jbal(job.addr)).toBe(100n * USDT);
        expect((await jettonState(job.addr)).owed).toBe(100n * USDT);
        const c = await stranger.send({ to: job.addr, value: (await escrowFees(job.addr)).claim, body: opBody(Op.escrowClaim) });
        record('job_escrow.claim_usdt', txTo(c, job.addr), feesOf(c));
        expect(await jbal(client.address)).toBe(1000n * USDT);
        expect((await jettonState(job.addr)).owed).toBe(0n);
        const again = await stranger.send({ to: job.addr, value: toNano('0.1'), body: opBody(Op.escrowClaim) });
        expect(again.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.nothingOwed });
    });

    it('escrow: bounced jetton payouts (wallet refuses: too little TON per transfer) keep the state and owe the jettons to the client', async () => {
        await deployStake(owner);
        // 0.02 TON per transfer: below what the reference wallet requires (> 0.03 TON)
        const job = await fundedJob(100n * USDT, { ton: toNano('0.02') });
        const fees = await escrowFees(job.addr);
        const r = await poster.send({ to: job.addr, value: fees.complete, body: complete(job, owner.address, 60n * USDT) });
        expect(exitOf(txTo(r, job.addr))).toBe(0);
        expect(r.transactions).toHaveTransaction({ to: job.addr, inMessageBounced: true, success: true });
        expect((await jobState(job.addr)).state).toBe(1);
        expect(await jbal(owner.address)).toBe(0n);
        expect(await jbal(job.addr)).toBe(100n * USDT); // nothing left the escrow's wallet
        expect((await jettonState(job.addr)).owed).toBe(100n * USDT); // 58.5 + 1.5 + 40: all of it, to the client
        const c = await client.send({ to: job.addr, value: toNano('0.1'), body: opBody(Op.escrowClaim) });
        expect(exitOf(txTo(c, job.addr))).toBe(0);
        expect(await jbal(client.address)).toBe(1000n * USDT);
        expect(await jbal(job.addr)).toBe(0n);
        // a TON escrow has nothing to claim
        const t = await client.send({ to: stranger.address, value: toNano('0.01') });
        void t;
    });

    it('stake: jettons that reached the stake without a notification are collected by the owner only', async () => {
        const stake = await deployStake(owner);
        // a transfer with no forward TON: no notification, the jettons sit in the stake's wallet
        await pay(stake, 3n * USDT, 0n);
        expect(await jbal(stake)).toBe(3n * USDT);
        const body = beginCell().storeUint(Op.stakeJettonCollect, 32).storeUint(0, 64).storeAddress(walletAddress(master, stake)).storeCoins(3n * USDT).endCell();
        let r = await stranger.send({ to: stake, value: toNano('0.1'), body });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.wrongSender });
        r = await owner.send({ to: stake, value: toNano('0.1'), body });
        expect(await jbal(owner.address)).toBe(3n * USDT);
        expect(await jbal(stake)).toBe(0n);
    });

    // ------------------------------------------------------------------ compute_account
    async function usdtAccount(settleFee = USDT / 10n) {
        nonce += 1n;
        const init = { code: accountCode, data: beginCell().storeAddress(hub.address).storeAddress(client.address).storeUint(nonce, 64).endCell() };
        const acc = bc.openContract(new ComputeAccount((await import('@ton/core')).contractAddress(0, init), init));
        const params = buildCaParams({ relayerSet: set1, settleFee, grace: 3600, stakeCode, jetton: accountJettonCfg(master, T) });
        const r = await acc.sendInit(client.getSender(), toNano('0.05'), params);
        return { acc, r };
    }
    async function accJetton(a: Address) {
        const s = (await bc.runGetMethod(a, 'get_jetton')).stackReader;
        return { usdt: s.readNumber(), wallet: s.readAddressOpt(), ton: s.readBigNumber(), settle: s.readBigNumber(), withdraw: s.readBigNumber(), notify: s.readBigNumber() };
    }

    it('account: USDT deposit, voucher and withdraw move exact jetton amounts; TON deposits are refused', async () => {
        const stake = await deployStake(owner);
        const { acc, r } = await usdtAccount();
        expect(r.transactions).toHaveTransaction({ to: acc.address, deploy: true, success: true });
        record('compute_account.init_usdt', txTo(r, acc.address), feesOf(r));
        const j = await accJetton(acc.address);
        expect(j.usdt).toBe(-1);
        expect(j.wallet!.equals(walletAddress(master, acc.address))).toBe(true);
        expect((await acc.getAccountData()).balance).toBe(0n);
        // deposit 50 USDT
        let d = await pay(acc.address, 50n * USDT);
        record('compute_account.deposit_usdt', txTo(d, acc.address), feesOf(d));
        expect((await acc.getAccountData()).balance).toBe(50n * USDT);
        // a TON deposit into a USDT account is refused
        d = await client.send({ to: acc.address, value: toNano('1'), body: opBody(0x43410002) });
        expect(d.transactions).toHaveTransaction({ to: acc.address, success: false, exitCode: CaError.wrongAsset });
        expect((await acc.getAccountData()).balance).toBe(50n * USDT);
        // a voucher for 10 USDT: the owner gets 10 (through its stake), the poster the 0.1 USDT fee
        const v = buildVoucher({ globalId: GLOBAL_ID, account: acc.address, epoch: 0, owner: owner.address, cumulative: 10n * USDT, validUntil: NOW + 600 });
        const s = caSign(v, relayers.map((k) => k.secretKey), [0, 1]);
        let x = await acc.sendSettle(poster.getSender(), j.settle - 1n, s.signers, s.sigs, v);
        expect(x.transactions).toHaveTransaction({ to: acc.address, success: false, exitCode: CaError.valueTooLow });
        x = await acc.sendSettle(poster.getSender(), j.settle, s.signers, s.sigs, v);
        const stx = txTo(x, acc.address);
        expect(exitOf(stx)).toBe(0);
        record('compute_account.settle_usdt_2of3', stx, feesOf(x));
        expect(await jbal(owner.address)).toBe(10n * USDT);
        expect(await jbal(stake)).toBe(0n);
        expect(await jbal(poster.address)).toBe(USDT / 10n);
        expect((await acc.getAccountData()).balance).toBe(50n * USDT - 10n * USDT - USDT / 10n);
        expect(await acc.getPaid(owner.address)).toBe(10n * USDT);
        for (const t of x.transactions) expect(exitOf(t) ?? 0).toBe(0);
        // a fake notification (not the account's wallet): "returned" to the sender, balance unchanged
        x = await stranger.send({ to: acc.address, value: toNano('0.1'), body: notificationBody(1000n * USDT, stranger.address) });
        expect(x.transactions).toHaveTransaction({ from: acc.address, to: stranger.address, op: JettonOp.transfer });
        expect((await acc.getAccountData()).balance).toBe(50n * USDT - 10n * USDT - USDT / 10n);
        // withdraw: request, grace, withdraw: the rest in USDT, epoch + 1
        await acc.sendRequestWithdraw(client.getSender(), toNano('0.05'));
        bc.now = NOW + 3600;
        x = await acc.sendWithdraw(client.getSender(), j.withdraw);
        const wtx = txTo(x, acc.address);
        expect(exitOf(wtx)).toBe(0);
        record('compute_account.withdraw_usdt', wtx, feesOf(x));
        expect(await jbal(client.address)).toBe(1000n * USDT - 10n * USDT - USDT / 10n);
        expect(await jbal(acc.address)).toBe(0n);
        const after = await acc.getAccountData();
        expect([after.balance, after.epoch]).toEqual([0n, 1]);
        expect((await bc.getContract(acc.address)).balance).toBe(toNano('0.01'));
    });

    it('account: a bounced USDT payout returns the jettons to the balance (voucher stays spent)', async () => {
        await deployStake(owner);
        nonce += 1n;
        const init = { code: accountCode, data: beginCell().storeAddress(hub.address).storeAddress(client.address).storeUint(nonce, 64).endCell() };
        const acc = bc.openContract(new ComputeAccount((await import('@ton/core')).contractAddress(0, init), init));
        // 0.02 TON per transfer: the reference wallet refuses (needs > 0.03)
        await acc.sendInit(client.getSender(), toNano('0.05'), buildCaParams({ relayerSet: set1, settleFee: 0n, grace: 3600, stakeCode, jetton: accountJettonCfg(master, toNano('0.02')) }));
        await pay(acc.address, 20n * USDT);
        const v = buildVoucher({ globalId: GLOBAL_ID, account: acc.address, epoch: 0, owner: owner.address, cumulative: 5n * USDT, validUntil: NOW + 600 });
        const s = caSign(v, relayers.map((k) => k.secretKey), [0, 1]);
        const x = await acc.sendSettle(poster.getSender(), toNano('0.5'), s.signers, s.sigs, v);
        expect(x.transactions).toHaveTransaction({ to: acc.address, inMessageBounced: true, success: true });
        expect((await acc.getAccountData()).balance).toBe(20n * USDT);
        expect(await acc.getPaid(owner.address)).toBe(5n * USDT);
        expect(await jbal(acc.address)).toBe(20n * USDT);
        expect(await jbal(owner.address)).toBe(0n);
    });
});


/** Compiles a test fixture (tests/fixtures/NAME.fc; `stdlib.fc` is func/stdlib.fc). */
async function compileFixture(name: string): Promise<Cell> {
    const r = await compileFunc({
        targets: [name + '.fc'],
        sources: (p) => fs.readFileSync(p === 'stdlib.fc' ? path.join(__dirname, '..', 'func', p) : path.join(__dirname, 'fixtures', p), 'utf8'),
    });
    if (r.status === 'error') throw new Error(`${name}: ${r.message}`);
    return Cell.fromBase64(r.codeBoc);
}

// The mainnet USDT is the governed stablecoin jetton (ton-blockchain/stablecoin-contract):
// its wallet's data is status:uint4 balance owner master (no code ref) and its code is a
// library cell. The fixtures (tests/fixtures/governed_*.fc, written for these tests) have
// that layout; the wallet code is published as a masterchain library, and every wallet's
// StateInit holds the library cell, as on mainnet. A child given wallet_layout = 1 computes
// that wallet's address; a look-alike (same code and layout, another master) is refused.
describe('USDT with the governed stablecoin wallet layout (library-cell code)', () => {
    const escrowCode = loadArtifact('job_escrow');
    const stakeCode = loadArtifact('provider_stake');
    const accountCode = loadArtifact('compute_account');
    let walletCode: Cell, gMinterCode: Cell, walletLib: Cell, governed: WalletSpec;
    let bc: Blockchain;
    let admin: SandboxContract<TreasuryContract>, hub: SandboxContract<TreasuryContract>, client: SandboxContract<TreasuryContract>;
    let poster: SandboxContract<TreasuryContract>, treasury: SandboxContract<TreasuryContract>, owner: SandboxContract<TreasuryContract>;
    let forger: SandboxContract<TreasuryContract>;
    let relayers: KeyPair[];
    let set1: Cell;
    let master: Address, fakeMaster: Address;
    let nonce = 0n;

    beforeAll(async () => {
        walletCode = await compileFixture('governed_wallet');
        gMinterCode = await compileFixture('governed_minter');
        walletLib = libraryCell(walletCode);
        governed = { layout: WalletLayout.governed, codeHash: walletLib.hash(), codeDepth: walletLib.depth() };
        relayers = await Promise.all([1, 2, 3].map((i) => keyPairFromSeed(Buffer.alloc(32, i))));
        set1 = relayerSet(1, 2, relayers.map((k) => k.publicKey));
    });

    async function deployMinter(a: SandboxContract<TreasuryContract>, to: Address, amount: bigint): Promise<Address> {
        const init = { code: gMinterCode, data: governedMinterData(a.address, walletLib) };
        const m = contractAddress(0, init);
        await a.send({ to: m, value: toNano('0.1'), init });
        const r = await a.send({ to: m, value: toNano('0.2'), body: governedMintBody(to, amount, toNano('0.1')) });
        expect(r.transactions).toHaveTransaction({ to: governedWalletAddress(m, to, walletLib), deploy: true, success: true });
        return m;
    }

    beforeEach(async () => {
        bc = await Blockchain.create();
        bc.now = NOW;
        const libs = Dictionary.empty(Dictionary.Keys.Buffer(32), Dictionary.Values.Cell());
        libs.set(walletCode.hash(), walletCode);
        bc.libs = beginCell().storeDictDirect(libs).endCell();
        admin = await bc.treasury('admin');
        hub = await bc.treasury('hub');
        client = await bc.treasury('client');
        poster = await bc.treasury('poster');
        treasury = await bc.treasury('treasury');
        owner = await bc.treasury('owner');
        forger = await bc.treasury('forger');
        master = await deployMinter(admin, client.address, 1000n * USDT);
        // the look-alike: the same wallet code and layout under another master, "USDT" minted at will
        fakeMaster = await deployMinter(forger, forger.address, 1000n * USDT);
        expect(await jbal(client.address)).toBe(1000n * USDT);
        // the wallets really run from the library: their StateInit code is the 264-bit library cell
        const w = await bc.getContract(governedWalletAddress(master, client.address, walletLib));
        expect(w.accountState?.type === 'active' && w.accountState.state.code?.isExotic).toBe(true);
    });

    async function jbal(o: Address, m: Address = master): Promise<bigint> {
        const w = await bc.getContract(governedWalletAddress(m, o, walletLib));
        if (w.accountState?.type !== 'active') return 0n;
        return (await bc.runGetMethod(w.address, 'get_wallet_data')).stackReader.readBigNumber();
    }
    function pay(to: Address, amount: bigint, from = client, m: Address = master) {
        return from.send({ to: governedWalletAddress(m, from.address, walletLib), value: toNano('0.12'), body: transferBody(amount, to, from.address, toNano('0.06')) });
    }
    async function jobState(a: Address) {
        const s = (await bc.runGetMethod(a, 'get_job')).stackReader;
        return s.readNumber();
    }
    async function createUsdtJob(amount: bigint, wallet: WalletSpec = governed) {
        nonce += 1n;
        const addr = escrowAddress(escrowCode, hub.address, client.address, nonce);
        const cfg = escrowCfg({ settleFee: SETTLE_FEE, feeBps: FEE_BPS, grace: GRACE, window: WINDOW, stakeCode, treasury: treasury.address, relayers: set1 });
        const r = await client.send({
            to: addr, value: toNano('0.03'), init: { code: escrowCode, data: childData(hub.address, client.address, nonce) },
            body: escrowCreateUsdtBody(amount, NOW + 3600, 0xabcn, cfg, escrowJettonCfg(master, T, toNano('1'), wallet)),
        });
        return { addr, nonce, r };
    }

    it('escrow: computes the governed wallet; genuine USDT opens the job, a look-alike is refused, complete pays in USDT', async () => {
        const job = await createUsdtJob(100n * USDT);
        expect(job.r.transactions).toHaveTransaction({ to: job.addr, deploy: true, success: true });
        record('job_escrow.create_usdt_governed', txTo(job.r, job.addr), feesOf(job.r));
        const wallet = (await bc.runGetMethod(job.addr, 'get_jetton')).stackReader.readAddress();
        expect(wallet.equals(governedWalletAddress(master, job.addr, walletLib))).toBe(true);
        // the look-alike: exactly the amount, through a real wallet of the same code, for this escrow
        let r = await pay(job.addr, 100n * USDT, forger, fakeMaster);
        const fake = governedWalletAddress(fakeMaster, job.addr, walletLib);
        expect(r.transactions).toHaveTransaction({ from: fake, to: job.addr, op: JettonOp.notification, success: true });
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: fake, op: JettonOp.transfer });
        expect(await jobState(job.addr)).toBe(3); // still FUNDING
        expect(await jbal(forger.address, fakeMaster)).toBe(1000n * USDT); // sent back
        expect(await jbal(job.addr, fakeMaster)).toBe(0n);
        // the genuine wallet
        r = await pay(job.addr, 100n * USDT);
        expect(exitOf(txTo(r, job.addr))).toBe(0);
        expect(await jobState(job.addr)).toBe(0); // OPEN
        expect(await jbal(job.addr)).toBe(100n * USDT);
        // complete: provider (through its stake), treasury and client paid in the governed USDT
        const stake = stakeAddress(stakeCode, hub.address, owner.address);
        await owner.send({
            to: stake, value: toNano('10'), init: { code: stakeCode, data: stakeData(hub.address, owner.address) },
            body: stakeInitBody(Buffer.alloc(32, 9), stakeCfg({ escrowCode, treasury: treasury.address, slashMultPct: 150, finderFee: toNano('0.01'), unbondPeriod: 90000, minStake: toNano('5') })),
        });
        const payAmt = 60n * USDT;
        const fee = (payAmt * BigInt(FEE_BPS)) / 10000n;
        const p = completePayload(GLOBAL_ID, job.addr, job.nonce, owner.address, payAmt, 0x1234n);
        const { signers, sigs } = signKofN(p, relayers.map((k) => k.secretKey), [0, 2]);
        const fees = (await bc.runGetMethod(job.addr, 'get_jetton_fees')).stackReader.readBigNumber();
        r = await poster.send({ to: job.addr, value: fees, body: completeBody(owner.address, payAmt, 0x1234n, signers, sigs) });
        for (const t of r.transactions) expect(exitOf(t) ?? 0).toBe(0);
        expect(await jbal(owner.address)).toBe(payAmt - fee);
        expect(await jbal(stake)).toBe(0n);
        expect(await jbal(treasury.address)).toBe(fee);
        expect(await jbal(client.address)).toBe(940n * USDT);
        expect(await jbal(job.addr)).toBe(0n);
        expect(await jobState(job.addr)).toBe(1);
    });

    it('escrow: the layout decides the wallet: a reference-layout escrow refuses the governed USDT; an unknown layout is refused at create', async () => {
        const job = await createUsdtJob(100n * USDT, { ...governed, layout: WalletLayout.reference });
        const wallet = (await bc.runGetMethod(job.addr, 'get_jetton')).stackReader.readAddress();
        expect(wallet.equals(governedWalletAddress(master, job.addr, walletLib))).toBe(false);
        await pay(job.addr, 100n * USDT);
        expect(await jobState(job.addr)).toBe(3);
        expect(await jbal(client.address)).toBe(1000n * USDT);
        const bad = await createUsdtJob(100n * USDT, { ...governed, layout: 2 });
        expect(bad.r.transactions).toHaveTransaction({ to: bad.addr, success: false, exitCode: Err.badParams });
    });

    it('account: a governed-layout USDT account credits genuine deposits only; a frozen sender wallet cannot pay', async () => {
        nonce += 1n;
        const init = { code: accountCode, data: beginCell().storeAddress(hub.address).storeAddress(client.address).storeUint(nonce, 64).endCell() };
        const acc = bc.openContract(new ComputeAccount(contractAddress(0, init), init));
        const r = await acc.sendInit(client.getSender(), toNano('0.05'), buildCaParams({ relayerSet: set1, settleFee: USDT / 10n, grace: 3600, stakeCode, jetton: accountJettonCfg(master, T, governed) }));
        expect(r.transactions).toHaveTransaction({ to: acc.address, deploy: true, success: true });
        record('compute_account.init_usdt_governed', txTo(r, acc.address), feesOf(r));
        const j = (await bc.runGetMethod(acc.address, 'get_jetton')).stackReader;
        expect(j.readNumber()).toBe(-1);
        expect(j.readAddress().equals(governedWalletAddress(master, acc.address, walletLib))).toBe(true);
        await pay(acc.address, 50n * USDT);
        expect((await acc.getAccountData()).balance).toBe(50n * USDT);
        await pay(acc.address, 500n * USDT, forger, fakeMaster);
        expect((await acc.getAccountData()).balance).toBe(50n * USDT);
        expect(await jbal(forger.address, fakeMaster)).toBe(1000n * USDT);
        // the issuer locks the client's wallet (status bit 0): no transfer, nothing credited
        await admin.send({ to: master, value: toNano('0.1'), body: governedSetStatusBody(client.address, 1) });
        const x = await pay(acc.address, 5n * USDT);
        expect(x.transactions).toHaveTransaction({ to: governedWalletAddress(master, client.address, walletLib), success: false });
        expect((await acc.getAccountData()).balance).toBe(50n * USDT);
        expect(await jbal(client.address)).toBe(950n * USDT);
    });

    it('hub: create_job_usdt / create_account_usdt deploy USDT children that snapshot the hub\'s JettonCfg (governed layout)', async () => {
        const hubCode = loadArtifact('hub');
        const gov = await bc.treasury('gov');
        const base: HubParams = {
            feeBps: FEE_BPS, minStake: toNano('5'), unbondPeriod: 86400 + GRACE + WINDOW, slashMultPct: 150, finderFee: toNano('0.01'),
            settleFee: SETTLE_FEE, minJob: toNano('0.1'), minDeadline: 60, maxDeadline: 86400, grace: GRACE, window: WINDOW,
            accountGrace: 3600, delay: 86400 + 3600, relayers: set1, treasury: treasury.address,
        };
        const deployHub = async (p: HubParams) => {
            const data = hubData(gov.address, hubParams(p), { escrow: escrowCode, stake: stakeCode, account: accountCode });
            const addr = contractAddress(0, { code: hubCode, data });
            await gov.send({ to: addr, value: toNano('1'), init: { code: hubCode, data } });
            return addr;
        };
        const h = await deployHub({ ...base, jetton: accountJettonCfg(master, T, governed) });
        // a USDT job through the hub: TON for settle fee + reserve + gas only
        let r = await client.send({ to: h, value: toNano('0.05'), body: hubCreateJobUsdtBody(1n, 100n * USDT, NOW + 3600, 0xabcn, toNano('1')) });
        const job = escrowAddress(escrowCode, h, client.address, 1n);
        expect(r.transactions).toHaveTransaction({ from: h, to: job, deploy: true, success: true });
        record('hub.create_job_usdt', txTo(r, h), feesOf(r));
        expect(await jobState(job)).toBe(3);
        const js = (await bc.runGetMethod(job, 'get_jetton')).stackReader;
        expect(js.readAddress().equals(governedWalletAddress(master, job, walletLib))).toBe(true);
        expect([js.readBigNumber(), js.readBigNumber()]).toEqual([T, toNano('1')]);
        await pay(job, 50n * USDT, forger, fakeMaster);   // look-alike: refused
        expect(await jobState(job)).toBe(3);
        await pay(job, 100n * USDT);
        expect(await jobState(job)).toBe(0);
        expect(await jbal(job)).toBe(100n * USDT);
        // a USDT account through the hub
        r = await client.send({ to: h, value: toNano('0.1'), body: hubCreateAccountUsdtBody(2n) });
        const acc = ComputeAccount.createFromConfig({ hub: h, client: client.address, nonce: 2n }, accountCode);
        expect(r.transactions).toHaveTransaction({ from: h, to: acc.address, deploy: true, success: true });
        record('hub.create_account_usdt', txTo(r, h), feesOf(r));
        const aj = (await bc.runGetMethod(acc.address, 'get_jetton')).stackReader;
        expect(aj.readNumber()).toBe(-1);
        expect(aj.readAddress().equals(governedWalletAddress(master, acc.address, walletLib))).toBe(true);
        await pay(acc.address, 30n * USDT);
        expect((await bc.openContract(acc).getAccountData()).balance).toBe(30n * USDT);
        // refusals: slash_amount below min_job, too little TON, paused, a hub with no USDT
        r = await client.send({ to: h, value: toNano('0.05'), body: hubCreateJobUsdtBody(3n, 100n * USDT, NOW + 3600, 0xabcn, toNano('0.05')) });
        expect(r.transactions).toHaveTransaction({ to: h, success: false, exitCode: Err.amountTooLow });
        r = await client.send({ to: h, value: toNano('0.01'), body: hubCreateJobUsdtBody(3n, 100n * USDT, NOW + 3600, 0xabcn, toNano('1')) });
        expect(r.transactions).toHaveTransaction({ to: h, success: false, exitCode: Err.valueTooLow });
        await gov.send({ to: h, value: toNano('0.05'), body: hubSetPausedBody(true) });
        r = await client.send({ to: h, value: toNano('0.1'), body: hubCreateAccountUsdtBody(4n) });
        expect(r.transactions).toHaveTransaction({ to: h, success: false, exitCode: Err.paused });
        const none = await deployHub(base);
        r = await client.send({ to: none, value: toNano('0.05'), body: hubCreateJobUsdtBody(5n, 100n * USDT, NOW + 3600, 0xabcn, toNano('1')) });
        expect(r.transactions).toHaveTransaction({ to: none, success: false, exitCode: Err.noUsdt });
        r = await client.send({ to: none, value: toNano('0.1'), body: hubCreateAccountUsdtBody(6n) });
        expect(r.transactions).toHaveTransaction({ to: none, success: false, exitCode: Err.noUsdt });
    });
});
