// job_escrow + provider_stake (C1): happy paths with exact amounts, adversarial
// cases of issue 4, gas budgets (gas-budgets.json) and the gas snapshot.
import { Blockchain, SandboxContract, TreasuryContract, SendMessageResult } from '@ton/sandbox';
import { Address, beginCell, Cell, Dictionary, toNano, Transaction } from '@ton/core';
import { keyPairFromSeed, KeyPair, sign } from '@ton/crypto';
import '@ton/test-utils';
import fs from 'fs';
import path from 'path';
import {
    acceptPayload, completeBody, completePayload, deliverBody, deliverPayload, Err, escrowAddress, escrowCfg, escrowCreateBody,
    expireBody, libraryRef, loadArtifact, Op, opBody, relayerSet, setOperatorBody, signKofN, stakeAddress, stakeCfg, stakeInitBody, childData, stakeData,
} from '../wrappers/Spindle';

const NOW = 1_800_000_000;
const GLOBAL_ID = -239; // sandbox config param 19
const SETTLE_FEE = toNano('0.003');
const FEE_BPS = 250; // 2.5 %
const GRACE = 600;
const WINDOW = 3600;
const D = 86400;
const UNBOND = D + GRACE + WINDOW;
const MULT = 150; // slash = 1.5 x job amount
const FINDER_FEE = toNano('0.01');
const MIN_STAKE = toNano('5');
const ESCROW_RESERVE = toNano('0.002');
const STAKE_RESERVE = toNano('0.01');

const budgets: Record<string, { gas?: number; ton?: number }> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'gas-budgets.json'), 'utf8'));
const snapshot: Record<string, { gas: number; fees_nanoton: string; fees_ton: string }> = {};

function gasOf(tx: Transaction): number {
    const d = tx.description;
    return d.type === 'generic' && d.computePhase.type === 'vm' ? Number(d.computePhase.gasUsed) : 0;
}
function exitOf(tx: Transaction): number | undefined {
    const d = tx.description;
    return d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.exitCode : undefined;
}
function feesOf(r: SendMessageResult): bigint {
    return r.transactions.reduce((a, t) => a + t.totalFees.coins, 0n);
}
function record(name: string, tx: Transaction, fees: bigint) {
    const gas = gasOf(tx);
    snapshot[name] = { gas, fees_nanoton: fees.toString(), fees_ton: (Number(fees) / 1e9).toFixed(6) };
    const b = budgets[name];
    if (b?.gas !== undefined && gas > b.gas) throw new Error(`${name}: ${gas} gas exceeds its budget ${b.gas} (gas-budgets.json)`);
}
function txTo(r: SendMessageResult, a: Address): Transaction {
    const t = r.transactions.find((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(a));
    if (!t) throw new Error('no transaction to ' + a);
    return t;
}

describe('job_escrow + provider_stake', () => {
    const escrowCode = loadArtifact('job_escrow');
    const stakeCode = loadArtifact('provider_stake');
    let bc: Blockchain;
    let hub: SandboxContract<TreasuryContract>, client: SandboxContract<TreasuryContract>, poster: SandboxContract<TreasuryContract>;
    let treasury: SandboxContract<TreasuryContract>, owner: SandboxContract<TreasuryContract>, owner2: SandboxContract<TreasuryContract>;
    let finder: SandboxContract<TreasuryContract>, stranger: SandboxContract<TreasuryContract>;
    let relayers: KeyPair[], operator: KeyPair, operator2: KeyPair;
    let set1: Cell;
    let nonce = 0n;

    afterAll(() => {
        // merge our entries into gas-snapshot.json (compute_account's entries are kept)
        const file = path.join(__dirname, '..', 'gas-snapshot.json');
        let snap: Record<string, unknown> = {};
        try { snap = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { snap = {}; }
        Object.assign(snap, snapshot);
        fs.writeFileSync(file, JSON.stringify(Object.fromEntries(Object.entries(snap).sort(([a], [b]) => a.localeCompare(b))), null, 2) + '\n');
    });

    beforeAll(async () => {
        relayers = await Promise.all([1, 2, 3, 4].map((i) => keyPairFromSeed(Buffer.alloc(32, i))));
        operator = await keyPairFromSeed(Buffer.alloc(32, 40));
        operator2 = await keyPairFromSeed(Buffer.alloc(32, 41));
        set1 = relayerSet(1, 2, relayers.slice(0, 3).map((k) => k.publicKey));
    });

    beforeEach(async () => {
        bc = await Blockchain.create();
        bc.now = NOW;
        hub = await bc.treasury('hub');
        client = await bc.treasury('client');
        poster = await bc.treasury('poster');
        treasury = await bc.treasury('treasury');
        owner = await bc.treasury('owner');
        owner2 = await bc.treasury('owner2');
        finder = await bc.treasury('finder');
        stranger = await bc.treasury('stranger');
    });

    const cfg = (over: Partial<{ relayers: Cell; hub: Address }> = {}) =>
        escrowCfg({ settleFee: SETTLE_FEE, feeBps: FEE_BPS, grace: GRACE, window: WINDOW, stakeCode, treasury: treasury.address, relayers: over.relayers ?? set1 });

    async function createJob(amount: bigint, opts: { deadline?: number; relayers?: Cell; hubAddr?: Address; value?: bigint; from?: SandboxContract<TreasuryContract>; code?: Cell } = {}) {
        nonce += 1n;
        const n = nonce;
        const h = opts.hubAddr ?? hub.address;
        const data = childData(h, client.address, n);
        const code = opts.code ?? escrowCode;
        const addr = escrowAddress(code, h, client.address, n);
        const deadline = opts.deadline ?? NOW + 3600;
        const r = await (opts.from ?? client).send({
            to: addr, value: opts.value ?? amount + SETTLE_FEE + toNano('0.01'), init: { code, data },
            body: escrowCreateBody(amount, deadline, 0xabcn, cfg({ relayers: opts.relayers })),
        });
        return { addr, nonce: n, deadline, r };
    }

    async function deployStake(o: SandboxContract<TreasuryContract>, key: KeyPair, value = toNano('10'), h: Address = hub.address, escrow: Cell = escrowCode) {
        const addr = stakeAddress(stakeCode, h, o.address);
        const r = await o.send({
            to: addr, value, init: { code: stakeCode, data: stakeData(h, o.address) },
            body: stakeInitBody(key.publicKey, stakeCfg({ escrowCode: escrow, treasury: treasury.address, slashMultPct: MULT, finderFee: FINDER_FEE, unbondPeriod: UNBOND, minStake: MIN_STAKE })),
        });
        return { addr, r };
    }
    async function stakeState(a: Address) {
        const s = (await bc.runGetMethod(a, 'get_stake')).stackReader;
        return { stake: s.readBigNumber(), earned: s.readBigNumber(), unbondAt: s.readNumber() };
    }
    async function jobState(a: Address) {
        const s = (await bc.runGetMethod(a, 'get_job')).stackReader;
        return { state: s.readNumber(), delivered: s.readNumber(), slashed: s.readNumber(), amount: s.readBigNumber() };
    }
    function complete(job: { addr: Address; nonce: bigint }, provider: Address, pay: bigint, idx = [0, 2], signWith?: KeyPair[]) {
        const p = completePayload(GLOBAL_ID, job.addr, job.nonce, provider, pay, 0x1234n);
        const { signers, sigs } = signKofN(p, (signWith ?? relayers).map((k) => k.secretKey), idx);
        return completeBody(provider, pay, 0x1234n, signers, sigs);
    }
    const evidence = (job: { addr: Address; nonce: bigint }, o: Address, key: KeyPair = operator) =>
        ({ provider: o, sig: sign(acceptPayload(GLOBAL_ID, job.addr, job.nonce, o).hash(), key.secretKey) });
    const expireValue = toNano('0.05');

    // ------------------------------------------------------------------ happy paths
    it('stake: deploy by owner, exact stake credited, payout credits earnings, collect', async () => {
        const { addr, r } = await deployStake(owner, operator);
        expect(r.transactions).toHaveTransaction({ to: addr, deploy: true, success: true });
        record('provider_stake.stake', txTo(r, addr), feesOf(r));
        const st = await stakeState(addr);
        const bal = (await bc.getContract(addr)).balance;
        expect(st.stake).toBe(toNano('10') - STAKE_RESERVE - (await gasFee(8000)));
        void bal;
        const p = await stranger.send({ to: addr, value: toNano('1'), body: beginCell().storeUint(Op.payout, 32).storeUint(0, 64).storeCoins(toNano('1')).endCell() });
        record('provider_stake.payout', txTo(p, addr), feesOf(p));
        expect((await stakeState(addr)).earned).toBe(toNano('1') - (await gasFee(3500)));
        const c = await owner.send({ to: addr, value: toNano('0.05'), body: opBody(Op.stakeCollect) });
        expect(c.transactions).toHaveTransaction({ from: addr, to: owner.address, op: Op.stakeWithdrawn, success: true });
        expect((await stakeState(addr)).earned).toBe(0n);
        expect((await stakeState(addr)).stake).toBe(st.stake);
    });

    async function gasFee(gas: number): Promise<bigint> {
        // basechain gas price from the sandbox config: 400 nanoton/gas (flat above the flat limit)
        return BigInt(gas) * 400n;
    }

    it('job: create + complete 2-of-3 pays stake, treasury, poster, client exactly; lifecycle within budget', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        const amount = toNano('1');
        const job = await createJob(amount);
        expect(job.r.transactions).toHaveTransaction({ to: job.addr, deploy: true, success: true });
        record('job_escrow.create', txTo(job.r, job.addr), feesOf(job.r));
        const escrowBal = (await bc.getContract(job.addr)).balance;
        const pay = toNano('0.6');
        const fee = (pay * BigInt(FEE_BPS)) / 10000n;
        const v = toNano('0.02');
        const r = await poster.send({ to: job.addr, value: v, body: complete(job, owner.address, pay) });
        const tx = txTo(r, job.addr);
        expect(exitOf(tx)).toBe(0);
        record('job_escrow.complete_2of3', tx, feesOf(r));
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: stake, op: Op.payout, value: pay - fee, success: true });
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: treasury.address, op: Op.escrowFee, value: fee });
        const lump = 400000n;
        // poster (mode 64): settle fee + its value less this transaction's actual gas, less its own forward fee
        const d = tx.description;
        const gasFees = d.type === 'generic' && d.computePhase.type === 'vm' ? d.computePhase.gasFees : -1n;
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: poster.address, op: Op.escrowSettleFee, value: SETTLE_FEE + v - gasFees - lump });
        expect((await bc.getContract(job.addr)).balance).toBe(ESCROW_RESERVE);
        // the client's refund: everything the escrow held above the reserve, less the pay, the settle fee
        // and the forward fees of the stake and treasury messages; its own forward fee comes out of it
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: client.address, op: Op.escrowRefund, value: escrowBal - pay - SETTLE_FEE - ESCROW_RESERVE - 3n * lump });
        expect((await jobState(job.addr)).state).toBe(1);
        const lifecycle = feesOf(job.r) + feesOf(r);
        snapshot['job_escrow.lifecycle_create_complete'] = { gas: gasOf(txTo(job.r, job.addr)) + gasOf(tx), fees_nanoton: lifecycle.toString(), fees_ton: (Number(lifecycle) / 1e9).toFixed(6) };
        expect(Number(lifecycle) / 1e9).toBeLessThanOrEqual(budgets['job_escrow.lifecycle_create_complete'].ton!);
    });
    it('job lifecycle with the escrow code as a masterchain library cell: create carries a 264-bit reference, not the code', async () => {
        const lib = libraryRef(escrowCode);
        const amount = toNano('1');
        // not published: the escrow cannot run (the create bounces back to the client)
        const missing = await createJob(amount, { code: lib });
        expect(missing.r.transactions).toHaveTransaction({ to: missing.addr, success: false });
        // (exit 9: the reference cannot be resolved), the value goes back to the client
        expect(missing.r.transactions).toHaveTransaction({ to: missing.addr, exitCode: 9, aborted: true });
        expect(missing.r.transactions).toHaveTransaction({ from: missing.addr, to: client.address, inMessageBounced: true });
        const libs = Dictionary.empty(Dictionary.Keys.Buffer(32), Dictionary.Values.Cell());
        libs.set(escrowCode.hash(), escrowCode);
        bc.libs = beginCell().storeDictDirect(libs).endCell();
        // the stake accepts escrows whose code is the reference (its hash and depth 0)
        const { addr: stake } = await deployStake(owner, operator, toNano('10'), hub.address, lib);
        const job = await createJob(amount, { code: lib });
        expect(job.r.transactions).toHaveTransaction({ to: job.addr, deploy: true, success: true });
        record('job_escrow.create_library', txTo(job.r, job.addr), feesOf(job.r));
        const pay = toNano('0.6');
        const fee = (pay * BigInt(FEE_BPS)) / 10000n;
        const r = await poster.send({ to: job.addr, value: toNano('0.02'), body: complete(job, owner.address, pay) });
        const tx = txTo(r, job.addr);
        expect(exitOf(tx)).toBe(0);
        record('job_escrow.complete_2of3_library', tx, feesOf(r));
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: stake, op: Op.payout, value: pay - fee, success: true });
        expect((await jobState(job.addr)).state).toBe(1);
        const lifecycle = feesOf(job.r) + feesOf(r);
        snapshot['job_escrow.lifecycle_create_complete_library'] = { gas: gasOf(txTo(job.r, job.addr)) + gasOf(tx), fees_nanoton: lifecycle.toString(), fees_ton: (Number(lifecycle) / 1e9).toFixed(6) };
        expect(Number(lifecycle) / 1e9).toBeLessThanOrEqual(budgets['job_escrow.lifecycle_create_complete_library'].ton!);
        // slashing through a library escrow works the same (the stake derives the reference's address)
        const b = await createJob(amount, { code: lib });
        bc.now = b.deadline + GRACE + 1;
        const s = await finder.send({ to: b.addr, value: expireValue, body: expireBody(evidence(b, owner.address)) });
        expect(s.transactions).toHaveTransaction({ from: b.addr, to: stake, op: Op.stakeSlash, success: true });
    });

    it('create refuses a malformed relayer set (wrong key count per cell, extra refs, k or n out of range)', async () => {
        const keys = relayers.map((k) => k.publicKey);
        const key = (b: ReturnType<typeof beginCell>, i: number) => b.storeBuffer(keys[i % keys.length], 32);
        const head = (k: number, n: number) => beginCell().storeUint(1, 32).storeUint(k, 8).storeUint(n, 8);
        const bad: Cell[] = [
            key(key(head(2, 3), 0), 1).endCell(),                                      // n = 3, two keys
            key(key(key(head(2, 4), 0), 1), 2).endCell(),                               // n = 4, no second cell
            key(key(head(2, 4), 0), 1).storeRef(key(key(beginCell(), 2), 3).endCell()).endCell(), // 2 + 2 instead of 3 + 1
            key(key(key(head(2, 3), 0), 1), 2).storeRef(Cell.EMPTY).endCell(),          // n = 3 with a trailing ref
            key(key(key(head(0, 3), 0), 1), 2).endCell(),                               // k = 0
            key(key(key(head(4, 3), 0), 1), 2).endCell(),                               // k > n
            relayerSet(1, 2, Array.from({ length: 11 }, (_, i) => keys[i % keys.length])), // n = 11
        ];
        for (const set of bad) {
            const job = await createJob(toNano('1'), { relayers: set });
            expect(job.r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.badRelayerSet });
        }
        // the well-formed sets of 1, 3, 4 and 10 keys pass
        for (const n of [1, 3, 4, 10]) {
            const job = await createJob(toNano('1'), { relayers: relayerSet(1, 1, Array.from({ length: n }, (_, i) => keys[i % keys.length])) });
            expect(job.r.transactions).toHaveTransaction({ to: job.addr, deploy: true, success: true });
        }
    });

    it('job: expire after deadline + G refunds the client; edges at deadline + G exactly', async () => {
        const amount = toNano('1');
        const job = await createJob(amount);
        bc.now = job.deadline + GRACE;
        let r = await poster.send({ to: job.addr, value: expireValue, body: expireBody() });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.tooEarly });
        // complete still accepted at deadline + G exactly (checked on a second job below)
        bc.now = job.deadline + GRACE + 1;
        r = await poster.send({ to: job.addr, value: expireValue, body: expireBody() });
        const tx = txTo(r, job.addr);
        expect(exitOf(tx)).toBe(0);
        record('job_escrow.expire', tx, feesOf(r));
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: client.address, op: Op.escrowRefund });
        expect((await bc.getContract(job.addr)).balance).toBe(ESCROW_RESERVE);
        expect((await jobState(job.addr)).state).toBe(2);
        // nothing settles twice
        r = await poster.send({ to: job.addr, value: expireValue, body: expireBody() });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.jobNotOpen });
        r = await poster.send({ to: job.addr, value: toNano('0.02'), body: complete(job, owner.address, 1n) });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.jobNotOpen });
    });

    it('deadline edges for complete: at deadline + G accepted, one second later refused', async () => {
        await deployStake(owner, operator);
        const a = await createJob(toNano('1'));
        const b = await createJob(toNano('1'));
        bc.now = a.deadline + GRACE;
        let r = await poster.send({ to: a.addr, value: toNano('0.02'), body: complete(a, owner.address, toNano('1')) });
        expect(r.transactions).toHaveTransaction({ to: a.addr, success: true });
        bc.now = b.deadline + GRACE + 1;
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: complete(b, owner.address, toNano('1')) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.tooLate });
    });

    it('expire with acceptance evidence slashes min(stake, m x amount): client up to amount, finder fee, rest treasury', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        const before = (await stakeState(stake)).stake;
        const amount = toNano('2');
        const job = await createJob(amount);
        bc.now = job.deadline + GRACE + 1;
        const r = await finder.send({ to: job.addr, value: expireValue, body: expireBody(evidence(job, owner.address)) });
        const tx = txTo(r, job.addr);
        expect(exitOf(tx)).toBe(0);
        record('job_escrow.expire_with_slash', tx, feesOf(r));
        const stx = txTo(r, stake);
        expect(exitOf(stx)).toBe(0);
        record('provider_stake.slash', stx, feesOf(r));
        const slash = (amount * BigInt(MULT)) / 100n; // 3 TON < stake
        expect((await stakeState(stake)).stake).toBe(before - slash);
        const toClient = slash - FINDER_FEE < amount ? slash - FINDER_FEE : amount;
        expect(r.transactions).toHaveTransaction({ from: stake, to: client.address, op: Op.stakeSlashed, value: toClient });
        expect(r.transactions).toHaveTransaction({ from: stake, to: treasury.address, op: Op.stakeSlashed, value: slash - FINDER_FEE - toClient });
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: client.address, op: Op.escrowRefund });
        // once only
        const again = await finder.send({ to: job.addr, value: expireValue, body: expireBody(evidence(job, owner.address)) });
        expect(again.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.alreadySlashed });
    });

    it('evidence inside window W after a plain expire still slashes; after W it is refused', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        const job = await createJob(toNano('1'));
        const late = await createJob(toNano('1'));
        bc.now = job.deadline + GRACE + 1;
        await poster.send({ to: job.addr, value: expireValue, body: expireBody() });
        await poster.send({ to: late.addr, value: expireValue, body: expireBody() });
        bc.now = job.deadline + GRACE + WINDOW;
        let r = await finder.send({ to: job.addr, value: expireValue, body: expireBody(evidence(job, owner.address)) });
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: stake, success: true });
        bc.now = late.deadline + GRACE + WINDOW + 1;
        r = await finder.send({ to: late.addr, value: expireValue, body: expireBody(evidence(late, owner.address)) });
        expect(r.transactions).toHaveTransaction({ to: late.addr, success: false, exitCode: Err.windowClosed });
    });

    it('slash larger than the stake takes the whole stake only', async () => {
        const { addr: stake } = await deployStake(owner, operator, toNano('5.1'));
        const job = await createJob(toNano('10'), { value: toNano('10.1') });
        const st = (await stakeState(stake)).stake;
        bc.now = job.deadline + GRACE + 1;
        const r = await finder.send({ to: job.addr, value: expireValue, body: expireBody(evidence(job, owner.address)) });
        expect(exitOf(txTo(r, stake))).toBe(0);
        expect((await stakeState(stake)).stake).toBe(0n);
        expect(r.transactions).toHaveTransaction({ from: stake, to: client.address, value: st - FINDER_FEE });
        expect(r.transactions).not.toHaveTransaction({ from: stake, to: treasury.address });
    });

    it('a delivered job is never slashed; deliver needs the operator signature and the deadline', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        const job = await createJob(toNano('1'));
        const badSig = sign(deliverPayload(GLOBAL_ID, job.addr, job.nonce, owner.address, 7n).hash(), operator2.secretKey);
        let r = await stranger.send({ to: stake, value: toNano('0.02'), body: deliverBody(job.addr, job.nonce, 7n, badSig) });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.badSignature });
        const sig = sign(deliverPayload(GLOBAL_ID, job.addr, job.nonce, owner.address, 7n).hash(), operator.secretKey);
        // (below ~0.004 TON the gas limit runs out before any check: exit -14, still no state change)
        r = await stranger.send({ to: stake, value: toNano('0.005'), body: deliverBody(job.addr, job.nonce, 7n, sig) });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.valueTooLow });
        r = await stranger.send({ to: stake, value: toNano('0.02'), body: deliverBody(job.addr, job.nonce, 7n, sig) });
        record('provider_stake.deliver', txTo(r, stake), feesOf(r));
        record('job_escrow.delivered', txTo(r, job.addr), feesOf(r));
        expect(r.transactions).toHaveTransaction({ from: stake, to: job.addr, op: Op.escrowDelivered, success: true });
        expect((await jobState(job.addr)).delivered).toBe(1);
        // delivered from anything but the provider's stake is refused
        r = await stranger.send({ to: job.addr, value: toNano('0.02'), body: beginCell().storeUint(Op.escrowDelivered, 32).storeUint(0, 64).storeAddress(owner.address).endCell() });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.wrongSender });
        bc.now = job.deadline + GRACE + 1;
        r = await finder.send({ to: job.addr, value: expireValue, body: expireBody(evidence(job, owner.address)) });
        expect(r.transactions).toHaveTransaction({ to: job.addr, success: false, exitCode: Err.delivered });
        // after the deadline a delivery no longer counts
        const j2 = await createJob(toNano('1'), { deadline: NOW + 7200 });
        bc.now = j2.deadline + 1;
        const sig2 = sign(deliverPayload(GLOBAL_ID, j2.addr, j2.nonce, owner.address, 7n).hash(), operator.secretKey);
        r = await stranger.send({ to: stake, value: toNano('0.02'), body: deliverBody(j2.addr, j2.nonce, 7n, sig2) });
        expect(r.transactions).toHaveTransaction({ from: stake, to: j2.addr, success: false, exitCode: Err.tooLate });
    });

    it('money is conserved across create, complete, expire + slash: balance changes + fees sum to zero', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        const all = () => [hub, client, poster, treasury, owner, owner2, finder, stranger].map((c) => c.address);
        const balances = async (extra: Address[]) => {
            const m = new Map<string, bigint>();
            for (const a of [...all(), ...extra]) m.set(a.toString(), (await bc.getContract(a)).balance);
            return m;
        };
        const check = async (extra: Address[], run: () => Promise<SendMessageResult[]>) => {
            const before = await balances(extra);
            const rs = await run();
            const after = await balances(extra);
            let delta = 0n;
            for (const [k, v] of after) delta += v - before.get(k)!;
            // fees: every transaction's total fees + the forward fee part still in transit
            // in each internal message (validators collect it; it is in no transaction's totalFees)
            let fees = rs.reduce((a, r) => a + feesOf(r), 0n);
            for (const r of rs) for (const tx of r.transactions) for (const m of tx.outMessages.values()) if (m.info.type === 'internal') fees += m.info.forwardFee;
            expect(delta + fees).toBe(0n);
        };
        const j1 = escrowAddress(escrowCode, hub.address, client.address, nonce + 1n);
        const j2 = escrowAddress(escrowCode, hub.address, client.address, nonce + 2n);
        let a: { addr: Address; nonce: bigint; deadline: number }, b: { addr: Address; nonce: bigint; deadline: number };
        await check([stake, j1, j2], async () => {
            const x = await createJob(toNano('1'));
            const y = await createJob(toNano('2'));
            a = x; b = y;
            const c = await poster.send({ to: x.addr, value: toNano('0.02'), body: complete(x, owner.address, toNano('0.7')) });
            return [x.r, y.r, c];
        });
        bc.now = b!.deadline + GRACE + 1;
        await check([stake, j1, j2], async () => [await finder.send({ to: b!.addr, value: expireValue, body: expireBody(evidence(b!, owner.address)) })]);
        void a!;
    });

    // ------------------------------------------------------------------ adversarial: signatures
    it('replays, forged and removed-relayer signatures, fewer than k, duplicate signer', async () => {
        await deployStake(owner, operator);
        const a = await createJob(toNano('1'));
        const b = await createJob(toNano('1')); // same client, same parameters, next nonce
        const body = complete(a, owner.address, toNano('1'));
        let r = await poster.send({ to: a.addr, value: toNano('0.02'), body });
        expect(r.transactions).toHaveTransaction({ to: a.addr, success: true });
        r = await poster.send({ to: a.addr, value: toNano('0.02'), body });
        expect(r.transactions).toHaveTransaction({ to: a.addr, success: false, exitCode: Err.jobNotOpen });
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.badSignature });
        // forged: signed by a key outside the set at index 1
        const forged = [relayers[0], relayers[3], relayers[2]];
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: complete(b, owner.address, toNano('1'), [0, 1], forged) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.badSignature });
        // tampered amount
        const p = completePayload(GLOBAL_ID, b.addr, b.nonce, owner.address, 1n, 0x1234n);
        const s = signKofN(p, relayers.map((k) => k.secretKey), [0, 1]);
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: completeBody(owner.address, toNano('1'), 0x1234n, s.signers, s.sigs) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.badSignature });
        // fewer than k
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: complete(b, owner.address, toNano('1'), [1]) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.badSigners });
        // duplicate signer: the same signature twice, one bit set -> counted once
        const one = sign(completePayload(GLOBAL_ID, b.addr, b.nonce, owner.address, toNano('1'), 0x1234n).hash(), relayers[0].secretKey);
        const dup = beginCell().storeBuffer(one, 64).storeRef(beginCell().storeBuffer(one, 64).endCell()).endCell();
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: completeBody(owner.address, toNano('1'), 0x1234n, 0b001, dup) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.badSigners });
        // more than k bits, and a bit beyond n
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: complete(b, owner.address, toNano('1'), [0, 1, 2]) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.badSigners });
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: complete(b, owner.address, toNano('1'), [0, 3]) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.badSigners });
        // a provider outside workchain 0 (its stake could not be derived): refused before any signature check
        const mc = new Address(-1, owner.address.hash);
        const pm = completePayload(GLOBAL_ID, b.addr, b.nonce, mc, toNano('1'), 0x1234n);
        const sm = signKofN(pm, relayers.map((k) => k.secretKey), [0, 2]);
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: completeBody(mc, toNano('1'), 0x1234n, sm.signers, sm.sigs) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.badAddress });
        // pay above the job amount
        r = await poster.send({ to: b.addr, value: toNano('0.02'), body: complete(b, owner.address, toNano('1.1')) });
        expect(r.transactions).toHaveTransaction({ to: b.addr, success: false, exitCode: Err.payExceedsAmount });
        // a relayer removed in set v2 (relayer 1 replaced by relayer 3) no longer counts on escrows snapshotting v2
        const set2 = relayerSet(2, 2, [relayers[0].publicKey, relayers[3].publicKey, relayers[2].publicKey]);
        const c = await createJob(toNano('1'), { relayers: set2 });
        r = await poster.send({ to: c.addr, value: toNano('0.02'), body: complete(c, owner.address, toNano('1'), [0, 1]) });
        expect(r.transactions).toHaveTransaction({ to: c.addr, success: false, exitCode: Err.badSignature });
        r = await poster.send({ to: c.addr, value: toNano('0.02'), body: complete(c, owner.address, toNano('1'), [0, 1], forged) });
        expect(r.transactions).toHaveTransaction({ to: c.addr, success: true });
        expect((await jobState(b.addr)).state).toBe(0);
    });

    it('slash evidence for another job, another provider, another hub, and slash from a non-escrow are refused', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        const { addr: stake2 } = await deployStake(owner2, operator2);
        const a = await createJob(toNano('1'));
        const b = await createJob(toNano('1'));
        bc.now = a.deadline + GRACE + 1;
        // evidence signed for job b, shown on job a
        let r = await finder.send({ to: a.addr, value: expireValue, body: expireBody({ provider: owner.address, sig: evidence(b, owner.address).sig }) });
        expect(r.transactions).toHaveTransaction({ from: a.addr, to: stake, success: false, exitCode: Err.badSignature });
        // the bounce cleared the slashed flag and the value went to the client
        expect(r.transactions).toHaveTransaction({ from: a.addr, to: client.address, op: Op.escrowRefund });
        expect((await jobState(a.addr)).slashed).toBe(0);
        // provider 2's key claiming to be provider 1, and provider 1 evidence against provider 2
        r = await finder.send({ to: a.addr, value: expireValue, body: expireBody(evidence(a, owner.address, operator2)) });
        expect(r.transactions).toHaveTransaction({ from: a.addr, to: stake, success: false, exitCode: Err.badSignature });
        r = await finder.send({ to: a.addr, value: expireValue, body: expireBody({ provider: owner2.address, sig: evidence(a, owner.address).sig }) });
        expect(r.transactions).toHaveTransaction({ from: a.addr, to: stake2, success: false, exitCode: Err.badSignature });
        // an escrow of another hub derives another stake address: never this stake
        const other = await createJob(toNano('1'), { hubAddr: stranger.address, deadline: bc.now! + 3600 });
        bc.now = other.deadline + GRACE + 1;
        r = await finder.send({ to: other.addr, value: expireValue, body: expireBody(evidence(other, owner.address)) });
        expect(r.transactions).not.toHaveTransaction({ to: stake });
        expect(r.transactions).toHaveTransaction({ from: stakeAddress(stakeCode, stranger.address, owner.address), to: other.addr, inMessageBounced: true });
        // slash sent by someone who is not an escrow
        const stakeBefore = (await stakeState(stake)).stake;
        const fake = beginCell().storeUint(Op.stakeSlash, 32).storeUint(0, 64)
            .storeAddress(client.address).storeUint(a.nonce, 64).storeCoins(toNano('1')).storeAddress(stranger.address)
            .storeRef(beginCell().storeBuffer(evidence(a, owner.address).sig, 64).endCell()).endCell();
        r = await stranger.send({ to: stake, value: toNano('0.1'), body: fake });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.notEscrow });
        expect((await stakeState(stake)).stake).toBe(stakeBefore);
        // and none of the refused evidence above slashed anything
        expect(stakeBefore).toBe(toNano('10') - STAKE_RESERVE - (await gasFee(8000)));
    });

    it('bounced payout (provider without a stake) refunds the client', async () => {
        const job = await createJob(toNano('1'));
        const r = await poster.send({ to: job.addr, value: toNano('0.02'), body: complete(job, owner2.address, toNano('1')) });
        expect(r.transactions).toHaveTransaction({ to: job.addr, inMessageBounced: true, success: true });
        expect(r.transactions).toHaveTransaction({ from: job.addr, to: client.address, op: Op.escrowRefund });
        expect((await bc.getContract(job.addr)).balance).toBe(ESCROW_RESERVE);
    });

    // ------------------------------------------------------------------ adversarial: senders and value
    it('wrong sender for every privileged op', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        // create by someone who is neither hub nor client
        const j = await createJob(toNano('1'), { from: stranger });
        expect(j.r.transactions).toHaveTransaction({ to: j.addr, success: false, exitCode: Err.wrongSender });
        // stake init by a stranger
        const addr2 = stakeAddress(stakeCode, hub.address, owner2.address);
        let r = await stranger.send({ to: addr2, value: toNano('10'), init: { code: stakeCode, data: stakeData(hub.address, owner2.address) },
            body: stakeInitBody(operator.publicKey, stakeCfg({ escrowCode, treasury: treasury.address, slashMultPct: MULT, finderFee: FINDER_FEE, unbondPeriod: UNBOND, minStake: MIN_STAKE })) });
        expect(r.transactions).toHaveTransaction({ to: addr2, success: false, exitCode: Err.wrongSender });
        for (const body of [opBody(Op.stakeUnbond), opBody(Op.stakeWithdraw), opBody(Op.stakeCollect), setOperatorBody(operator2.publicKey)]) {
            r = await stranger.send({ to: stake, value: toNano('0.05'), body });
            expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.wrongSender });
        }
        r = await stranger.send({ to: j.addr, value: toNano('0.05'), body: opBody(0x12345678) });
        expect(r.transactions).toHaveTransaction({ to: j.addr, success: false });
    });

    it('too little attached value is refused up front for every op (complete: out of gas)', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        let j = await createJob(toNano('1'), { value: toNano('1') + SETTLE_FEE });
        expect(j.r.transactions).toHaveTransaction({ to: j.addr, success: false, exitCode: Err.valueTooLow });
        const s = await deployStake(owner2, operator2, toNano('4'));
        expect(s.r.transactions).toHaveTransaction({ to: s.addr, success: false, exitCode: Err.stakeTooLow });
        j = await createJob(toNano('1'));
        // complete has no value check: what the poster attaches pays only its own gas, so too
        // little runs out of gas, changes nothing and costs the escrow nothing
        const before = (await bc.getContract(j.addr)).balance;
        let r = await poster.send({ to: j.addr, value: toNano('0.004'), body: complete(j, owner.address, toNano('1')) });
        expect(r.transactions).toHaveTransaction({ to: j.addr, success: false, exitCode: -14 });
        expect((await jobState(j.addr)).state).toBe(0);
        expect((await bc.getContract(j.addr)).balance).toBe(before);
        bc.now = j.deadline + GRACE + 1;
        r = await poster.send({ to: j.addr, value: toNano('0.003'), body: expireBody() });
        expect(r.transactions).toHaveTransaction({ to: j.addr, success: false, exitCode: Err.valueTooLow });
        r = await poster.send({ to: j.addr, value: toNano('0.01'), body: expireBody(evidence(j, owner.address)) });
        expect(r.transactions).toHaveTransaction({ to: j.addr, success: false, exitCode: Err.valueTooLow });
        for (const body of [opBody(Op.stakeUnbond), opBody(Op.stakeWithdraw), opBody(Op.stakeCollect), setOperatorBody(operator2.publicKey)]) {
            r = await owner.send({ to: stake, value: toNano('0.002'), body });
            expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.valueTooLow });
        }
        r = await stranger.send({ to: stake, value: toNano('0.002'), body: opBody(Op.stakeTopUp) });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.valueTooLow });
    });

    // ------------------------------------------------------------------ unbonding
    it('unbond, withdraw only after the period; unbond-then-slash race: unbonding funds are still slashed', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        const job = await createJob(toNano('1'));
        let r = await owner.send({ to: stake, value: toNano('0.05'), body: opBody(Op.stakeUnbond) });
        record('provider_stake.unbond', txTo(r, stake), feesOf(r));
        expect((await stakeState(stake)).unbondAt).toBe(NOW);
        r = await owner.send({ to: stake, value: toNano('0.05'), body: opBody(Op.stakeUnbond) });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.unbonding });
        bc.now = job.deadline + GRACE + 1;
        r = await owner.send({ to: stake, value: toNano('0.05'), body: opBody(Op.stakeWithdraw) });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.unbondNotOver });
        const before = (await stakeState(stake)).stake;
        r = await finder.send({ to: job.addr, value: expireValue, body: expireBody(evidence(job, owner.address)) });
        expect((await stakeState(stake)).stake).toBe(before - toNano('1.5'));
        bc.now = NOW + UNBOND - 1;
        r = await owner.send({ to: stake, value: toNano('0.05'), body: opBody(Op.stakeWithdraw) });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.unbondNotOver });
        bc.now = NOW + UNBOND;
        r = await owner.send({ to: stake, value: toNano('0.05'), body: opBody(Op.stakeWithdraw) });
        record('provider_stake.withdraw', txTo(r, stake), feesOf(r));
        expect(r.transactions).toHaveTransaction({ from: stake, to: owner.address, op: Op.stakeWithdrawn, success: true });
        expect((await stakeState(stake)).stake).toBe(0n);
        expect((await bc.getContract(stake)).balance).toBe(STAKE_RESERVE);
    });

    it('operator rotation: once per period, and the old key stays valid as evidence for one period', async () => {
        const { addr: stake } = await deployStake(owner, operator);
        const job = await createJob(toNano('1'));
        let r = await owner.send({ to: stake, value: toNano('0.05'), body: setOperatorBody(operator2.publicKey) });
        expect(r.transactions).toHaveTransaction({ to: stake, success: false, exitCode: Err.rotationTooSoon });
        bc.now = NOW + UNBOND;
        const job2 = await createJob(toNano('1'), { deadline: NOW + UNBOND + 3600 });
        r = await owner.send({ to: stake, value: toNano('0.05'), body: setOperatorBody(operator2.publicKey) });
        expect(r.transactions).toHaveTransaction({ to: stake, success: true });
        // old key (operator) signed acceptance of job2 before the rotation: still slashes
        bc.now = job2.deadline + GRACE + 1;
        r = await finder.send({ to: job2.addr, value: expireValue, body: expireBody(evidence(job2, owner.address, operator)) });
        expect(r.transactions).toHaveTransaction({ from: job2.addr, to: stake, success: true });
        void job;
    });
});
