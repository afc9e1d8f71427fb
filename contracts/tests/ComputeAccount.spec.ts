import { Blockchain, SandboxContract, TreasuryContract, BlockchainTransaction } from '@ton/sandbox';
import { Address, beginCell, Cell, contractAddress, toNano, Transaction } from '@ton/core';
import { keyPairFromSeed, KeyPair } from '@ton/crypto';
import '@ton/test-utils';
import {
    buildCaParams, buildCaps, buildRelayerSet, buildVoucher, CaError, CaOp, CA_GAS, ComputeAccount, signKofN, stakeAddress,
} from '../wrappers/ComputeAccount';
import { computeGas, exitCode, gasRecords, loadCode, mockHubCode, recordGas, writeGasSnapshot } from './ComputeAccountMocks';

const MIN_RESERVE = toNano('0.01');
const SETTLE_FEE = toNano('0.002');
const GRACE = 3600;
const NOW = 1_800_000_000;


const snap = (d: object) => JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Address ? v.toString() : v));

describe('compute_account', () => {
    let code: Cell, stakeCode: Cell, hubCode: Cell;
    let bc: Blockchain;
    let hub: SandboxContract<TreasuryContract>;
    let client: SandboxContract<TreasuryContract>;
    let poster: SandboxContract<TreasuryContract>;
    let stranger: SandboxContract<TreasuryContract>;
    let owners: SandboxContract<TreasuryContract>[];
    let relayers: KeyPair[];
    let set1: Cell;
    let account: SandboxContract<ComputeAccount>;
    let globalId: number;

    afterAll(() => {
        console.log('compute_account gas', JSON.stringify(gasRecords, null, 1));
        if (Object.keys(gasRecords).length >= 10) writeGasSnapshot(); // only after a full run
    });

    // every op's measured gas stays within the budget it charges (GETGASFEE(budget)),
    // so no op is paid for out of the client's balance or the reserve
    const budgets: Record<string, number> = {
        'compute_account.init': CA_GAS.init,
        'compute_account.deposit': CA_GAS.deposit,
        'compute_account.settle_voucher_2of3': CA_GAS.settle,
        'compute_account.settle_worst_10of10_32providers': CA_GAS.settle,
        'compute_account.request_withdraw': CA_GAS.requestWithdraw,
        'compute_account.withdraw': CA_GAS.withdraw,
        'compute_account.payout_bounce': CA_GAS.bounce,
        'compute_account.refresh_relayers': CA_GAS.refresh,
        'compute_account.relayer_set': CA_GAS.setRelayers,
        'compute_account.set_caps': CA_GAS.setCaps,
    };
    function checkBudget(name: string, tx: Transaction) {
        recordGas(name, tx);
        expect({ name, gas: computeGas(tx) <= BigInt(budgets[name]) }).toEqual({ name, gas: true });
    }

    beforeAll(async () => {
        code = loadCode('compute_account');
        stakeCode = loadCode('provider_stake');
        hubCode = await mockHubCode();
        relayers = [];
        for (let i = 0; i < 4; i++) relayers.push(keyPairFromSeed(Buffer.alloc(32, i + 1)));
    });

    const secrets = () => relayers.map((r) => r.secretKey);

    // the real provider_stake, deployed and initialised by its owner (direct deploy, stake_init)
    async function deployStake(owner: SandboxContract<TreasuryContract>) {
        const data = beginCell().storeAddress(hub.address).storeAddress(owner.address).endCell();
        const addr = stakeAddress(stakeCode, hub.address, owner.address);
        const cfg = beginCell().storeUint(0, 256).storeUint(0, 16).storeAddress(hub.address).storeUint(100, 16)
            .storeCoins(toNano('0.01')).storeUint(3600, 32).storeCoins(toNano('0.5')).endCell();
        const r = await owner.send({ to: addr, value: toNano('1'), init: { code: stakeCode, data },
            body: beginCell().storeUint(0x53540001, 32).storeUint(0, 64).storeUint(1n, 256).storeRef(cfg).endCell() });
        expect(r.transactions).toHaveTransaction({ to: addr, success: true });
        return addr;
    }

    function params(set = set1, fee = SETTLE_FEE) {
        return buildCaParams({ relayerSet: set, settleFee: fee, grace: GRACE, stakeCode });
    }

    beforeEach(async () => {
        bc = await Blockchain.create();
        bc.now = NOW;
        hub = await bc.treasury('hub');
        client = await bc.treasury('client');
        poster = await bc.treasury('poster');
        stranger = await bc.treasury('stranger');
        owners = [await bc.treasury('owner0'), await bc.treasury('owner1')];
        set1 = buildRelayerSet(1, 2, relayers.slice(0, 3).map((r) => r.publicKey));
        globalId = -239;
        account = bc.openContract(ComputeAccount.createFromConfig({ hub: hub.address, client: client.address, nonce: 7n }, code));
        const r = await account.sendInit(client.getSender(), toNano('10'), params());
        expect(r.transactions).toHaveTransaction({ to: account.address, deploy: true, success: true });
        checkBudget('compute_account.init', r.transactions.find((t) => t.inMessage?.info.dest?.toString() === account.address.toString())!);
        await deployStake(owners[0]);
    });

    function voucher(cumulative: bigint, o: Partial<{ owner: Address; epoch: number; validUntil: number; account: Address; globalId: number; tag: number }> = {}) {
        return buildVoucher({
            globalId: o.globalId ?? globalId, account: o.account ?? account.address, epoch: o.epoch ?? 0,
            owner: o.owner ?? owners[0].address, cumulative, validUntil: o.validUntil ?? NOW + 600, tag: o.tag,
        });
    }

    async function settle(v: Cell, idx = [0, 1], value = toNano('0.05'), via = poster) {
        const { signers, sigs } = signKofN(v, secrets(), idx);
        return account.sendSettle(via.getSender(), value, signers, sigs, v);
    }

    function accountTx(txs: BlockchainTransaction[]) {
        return txs.find((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(account.address))!;
    }

    it('deploys with the client balance = value - reserve - init fee, and exposes its params', async () => {
        const d = await account.getAccountData();
        expect(d.initialized).toBe(true);
        expect(d.epoch).toBe(0);
        expect(d.hub.equals(hub.address)).toBe(true);
        const onchain = (await bc.getContract(account.address)).balance;
        // the reserve holds at least MIN_RESERVE; unused gas budget stays in it
        expect(onchain).toBeGreaterThanOrEqual(d.balance + MIN_RESERVE);
        expect(onchain).toBeLessThan(d.balance + MIN_RESERVE + toNano('0.005'));
        expect(d.balance).toBeGreaterThan(toNano('9.98'));
        const p = await account.getAccountParams();
        expect(p).toMatchObject({ relayerVersion: 1, k: 2, n: 3, settleFee: SETTLE_FEE, grace: GRACE });
        expect((await account.getStakeAddress(owners[0].address)).equals(stakeAddress(stakeCode, hub.address, owners[0].address))).toBe(true);
    });

    it('refuses init from anyone but hub or client, a second init, and ops before init', async () => {
        const other = bc.openContract(ComputeAccount.createFromConfig({ hub: hub.address, client: client.address, nonce: 8n }, code));
        let r = await other.sendInit(stranger.getSender(), toNano('1'), params());
        expect(r.transactions).toHaveTransaction({ to: other.address, success: false, exitCode: CaError.wrongSender });
        r = await other.sendDeposit(stranger.getSender(), toNano('1'));
        expect(r.transactions).toHaveTransaction({ to: other.address, success: false, exitCode: CaError.notInitialized });
        r = await other.sendInit(hub.getSender(), toNano('0.005'), params());
        expect(r.transactions).toHaveTransaction({ to: other.address, success: false, exitCode: CaError.valueTooLow });
        const bad = buildCaParams({ relayerSet: buildRelayerSet(1, 4, relayers.slice(0, 3).map((x) => x.publicKey)), settleFee: 0n, grace: 1, stakeCode });
        r = await other.sendInit(hub.getSender(), toNano('1'), bad);
        expect(r.transactions).toHaveTransaction({ to: other.address, success: false, exitCode: CaError.badParams });
        r = await other.sendInit(hub.getSender(), toNano('1'), params());
        expect(r.transactions).toHaveTransaction({ to: other.address, success: true });
        r = await other.sendInit(client.getSender(), toNano('1'), params());
        expect(r.transactions).toHaveTransaction({ to: other.address, success: false, exitCode: CaError.unknownOp });
    });

    it('credits deposits exactly (value - deposit fee), refuses too little', async () => {
        const before = (await account.getAccountData()).balance;
        const { depositFee } = await account.getFees();
        const r = await account.sendDeposit(stranger.getSender(), toNano('2'));
        checkBudget('compute_account.deposit', accountTx(r.transactions));
        expect((await account.getAccountData()).balance).toBe(before + toNano('2') - depositFee);
        const r2 = await account.sendDeposit(stranger.getSender(), depositFee);
        expect(r2.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.valueTooLow });
        expect((await account.getAccountData()).balance).toBe(before + toNano('2') - depositFee);
        const onchain = (await bc.getContract(account.address)).balance;
        expect(onchain).toBeGreaterThanOrEqual(before + toNano('2') - depositFee + MIN_RESERVE);
    });

    it('a text comment is a deposit; a plain transfer before init becomes the client\'s at init', async () => {
        const { depositFee } = await account.getFees();
        const before = (await account.getAccountData()).balance;
        await stranger.send({ to: account.address, value: toNano('1'), body: beginCell().storeUint(0, 32).storeStringTail('top up').endCell() });
        expect((await account.getAccountData()).balance).toBe(before + toNano('1') - depositFee);
        const later = bc.openContract(ComputeAccount.createFromConfig({ hub: hub.address, client: client.address, nonce: 14n }, code));
        const { initMinValue } = await account.getFees();
        await stranger.send({ to: later.address, value: toNano('2'), bounce: false });
        await later.sendInit(client.getSender(), initMinValue + toNano('1'), params());
        const d = await later.getAccountData();
        expect(d.balance).toBeGreaterThan(toNano('2.99'));
        expect(d.balance).toBeLessThanOrEqual(toNano('3'));
    });

    it('settles a voucher: pays the delta to the stake, the fee + excess to the poster', async () => {
        const before = (await account.getAccountData()).balance;
        const onchainBefore = (await bc.getContract(account.address)).balance;
        const stake = stakeAddress(stakeCode, hub.address, owners[0].address);
        const { settleMinValue } = await account.getFees();
        const r = await settle(voucher(toNano('1')), [0, 1], settleMinValue);
        const tx = accountTx(r.transactions);
        expect(exitCode(tx)).toBe(0);
        const stakeMsg = tx.outMessages.values().find((m) => (m.info.dest as Address).equals(stake))!;
        const toStake = (stakeMsg.info as any).value.coins as bigint;
        const excessMsg = tx.outMessages.values().find((m) => (m.info.dest as Address).equals(poster.address))!;
        const excess = (excessMsg.info as any).value.coins as bigint;
        expect(excess).toBeGreaterThan(SETTLE_FEE);
        const d = await account.getAccountData();
        expect(d.balance).toBe(before - toNano('1') - SETTLE_FEE);
        expect(await account.getPaid(owners[0].address)).toBe(toNano('1'));
        expect(d.nPaid).toBe(1);
        expect((await bc.getContract(account.address)).balance).toBeGreaterThanOrEqual(d.balance + MIN_RESERVE);
        expect(toStake).toBe(toNano('1')); // exactly the delta; the poster paid the forward fee
        // the account's own TON moves by exactly pay + fee, plus a tiny non-negative gas surplus kept in its reserve
        const surplus = (await bc.getContract(account.address)).balance - (onchainBefore - toNano('1') - SETTLE_FEE);
        expect(surplus).toBeGreaterThanOrEqual(0n);
        expect(surplus).toBeLessThan(toNano('0.0001'));
        expect(r.transactions).toHaveTransaction({ from: account.address, to: stake, success: true });
        expect(r.transactions).toHaveTransaction({ from: account.address, to: poster.address, op: CaOp.settleExcess });
        // fees of the chain the poster's message starts (its own wallet's transaction excluded):
        // the account's side = the account's transaction, its two forward fees and the poster's receipt;
        // the whole chain adds provider_stake's payout handler
        const stakeTx = r.transactions.find((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(stake))!;
        const fwd = tx.outMessages.values().reduce((a, m) => a + ((m.info as any).forwardFee as bigint), 0n);
        const receipt = r.transactions.find((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(poster.address) && t !== r.transactions[0])!;
        const accountSide = tx.totalFees.coins + fwd + receipt.totalFees.coins;
        checkBudget('compute_account.settle_voucher_2of3', tx);
        recordGas('compute_account.settle_voucher_2of3', tx, accountSide);
        recordGas('compute_account.settle_voucher_2of3_whole_chain', stakeTx, accountSide + stakeTx.totalFees.coins);
        expect(accountSide).toBeLessThanOrEqual(toNano('0.006'));

        // a higher cumulative pays only the delta
        const r2 = await settle(voucher(toNano('1.5')), [1, 2]);
        expect(r2.transactions).toHaveTransaction({ to: account.address, success: true });
        expect((await account.getAccountData()).balance).toBe(before - toNano('1.5') - 2n * SETTLE_FEE);
        expect(await account.getPaid(owners[0].address)).toBe(toNano('1.5'));
    });

    it('refuses a replayed or lower voucher and changes nothing', async () => {
        await settle(voucher(toNano('1')));
        const before = await account.getAccountData();
        for (const c of [toNano('1'), toNano('0.5')]) {
            const r = await settle(voucher(c));
            expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.notNewer });
        }
        expect(snap(await account.getAccountData())).toEqual(snap(before));
    });

    it('refuses vouchers for another account, network, epoch, tag, or expired', async () => {
        const other = bc.openContract(ComputeAccount.createFromConfig({ hub: hub.address, client: client.address, nonce: 9n }, code));
        await other.sendInit(client.getSender(), toNano('2'), params());
        const before = await account.getAccountData();
        const cases: [Cell, number][] = [
            [voucher(toNano('1'), { account: other.address }), CaError.wrongTarget],
            [voucher(toNano('1'), { globalId: -3 }), CaError.wrongNetwork],
            [voucher(toNano('1'), { epoch: 1 }), CaError.wrongEpoch],
            [voucher(toNano('1'), { tag: 0x4a4f4253 }), CaError.badTag],
            [voucher(toNano('1'), { validUntil: NOW - 1 }), CaError.expired],
        ];
        for (const [v, code] of cases) {
            const r = await settle(v);
            expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: code });
        }
        // valid_until exactly now is still valid
        const r = await settle(voucher(toNano('1'), { validUntil: NOW }));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: true });
        expect((await account.getAccountData()).balance).toBe(before.balance - toNano('1') - SETTLE_FEE);
    });

    it('checks k-of-n: forged, too few, too many, duplicate, out-of-range signers', async () => {
        const v = voucher(toNano('1'));
        const h = v.hash();
        const { sign } = require('@ton/crypto');
        const post = (signers: number, sigs: Buffer[]) => account.sendSettle(poster.getSender(), toNano('0.05'), signers, sigs, v);
        const s = (i: number) => sign(h, relayers[i].secretKey) as Buffer;
        const cases: [number, Buffer[], number][] = [
            [0b011, [s(0), sign(h, relayers[3].secretKey)], CaError.badSignature],        // forged: key 3 is not relayer 1
            [0b011, [s(0), s(0)], CaError.badSignature],                                  // duplicate signer under two indexes
            [0b001, [s(0)], CaError.badSigners],                                          // fewer than k
            [0b111, [s(0), s(1), s(2)], CaError.badSigners],                              // more than k
            [0b1001, [s(0), sign(h, relayers[3].secretKey)], CaError.badSigners],         // index >= n
            [0b011, [s(1), s(0)], CaError.badSignature],                                  // wrong order
        ];
        const other = voucher(toNano('1'), { owner: owners[1].address });
        for (const [signers, sigs, code] of cases) {
            const r = await post(signers, sigs);
            expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: code });
        }
        // signatures over another voucher do not verify this one
        const r = await account.sendSettle(poster.getSender(), toNano('0.05'), 0b011,
            [sign(other.hash(), relayers[0].secretKey), sign(other.hash(), relayers[1].secretKey)], v);
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.badSignature });
        expect(await account.getPaid(owners[0].address)).toBe(0n);
    });

    it('pays min(delta, balance - fee) and advances only by what it paid', async () => {
        const small = bc.openContract(ComputeAccount.createFromConfig({ hub: hub.address, client: client.address, nonce: 10n }, code));
        await small.sendInit(client.getSender(), toNano('1'), params());
        const bal = (await small.getAccountData()).balance;
        const v = buildVoucher({ globalId, account: small.address, epoch: 0, owner: owners[0].address, cumulative: toNano('5'), validUntil: NOW + 600 });
        const { signers, sigs } = signKofN(v, secrets(), [0, 2]);
        let r = await small.sendSettle(poster.getSender(), toNano('0.05'), signers, sigs, v);
        expect(r.transactions).toHaveTransaction({ to: small.address, success: true });
        expect(await small.getPaid(owners[0].address)).toBe(bal - SETTLE_FEE);
        expect((await small.getAccountData()).balance).toBe(0n);
        // empty account: the same voucher is refused until a deposit, then pays the rest of the delta
        r = await small.sendSettle(poster.getSender(), toNano('0.05'), signers, sigs, v);
        expect(r.transactions).toHaveTransaction({ to: small.address, success: false, exitCode: CaError.noBalance });
        await small.sendDeposit(client.getSender(), toNano('10'));
        r = await small.sendSettle(poster.getSender(), toNano('0.05'), signers, sigs, v);
        expect(r.transactions).toHaveTransaction({ to: small.address, success: true });
        expect(await small.getPaid(owners[0].address)).toBe(toNano('5'));
    });

    it('withdraw: only the client, only after request + grace; epoch rises; vouchers settle during grace, not after', async () => {
        await settle(voucher(toNano('1')));
        let r = await account.sendWithdraw(client.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.withdrawNotRequested });
        r = await account.sendRequestWithdraw(stranger.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.notClient });
        r = await account.sendRequestWithdraw(client.getSender(), toNano('0.05'));
        checkBudget('compute_account.request_withdraw', accountTx(r.transactions));
        expect((await account.getAccountData()).withdrawAt).toBe(NOW + GRACE);
        r = await account.sendRequestWithdraw(client.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.withdrawPending });
        bc.now = NOW + GRACE - 1;
        r = await account.sendWithdraw(client.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.graceNotOver });
        // settlement during the grace period still pays
        r = await settle(voucher(toNano('2'), { validUntil: NOW + GRACE }));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: true });
        bc.now = NOW + GRACE;
        r = await account.sendWithdraw(stranger.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.notClient });
        const before = await account.getAccountData();
        r = await account.sendWithdraw(client.getSender(), toNano('0.05'));
        const tx = accountTx(r.transactions);
        checkBudget('compute_account.withdraw', tx);
        const out = tx.outMessages.values()[0];
        expect((out.info.dest as Address).equals(client.address)).toBe(true);
        expect((out.info as any).value.coins).toBeGreaterThan(before.balance);
        const after = await account.getAccountData();
        expect(after).toMatchObject({ balance: 0n, epoch: 1, withdrawAt: 0, nPaid: 0 });
        expect((await bc.getContract(account.address)).balance).toBe(MIN_RESERVE);
        // an old-epoch voucher never pays again, even after a new deposit
        await account.sendDeposit(client.getSender(), toNano('3'));
        r = await settle(voucher(toNano('3'), { validUntil: NOW + GRACE + 100 }));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.wrongEpoch });
        // a new-epoch voucher counts from zero
        r = await settle(voucher(toNano('0.5'), { epoch: 1, validUntil: NOW + GRACE + 100 }));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: true });
        expect(await account.getPaid(owners[0].address)).toBe(toNano('0.5'));
    });

    it('withdraw racing a settlement: whichever lands first wins, nothing is paid twice', async () => {
        await account.sendRequestWithdraw(client.getSender(), toNano('0.05'));
        bc.now = NOW + GRACE;
        const v = voucher(toNano('1'), { validUntil: NOW + GRACE + 10 });
        const { signers, sigs } = signKofN(v, secrets(), [0, 1]);
        // both messages in the same block: withdraw first
        const w = await account.sendWithdraw(client.getSender(), toNano('0.05'));
        expect(w.transactions).toHaveTransaction({ to: account.address, success: true });
        const r = await account.sendSettle(poster.getSender(), toNano('0.05'), signers, sigs, v);
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.wrongEpoch });
        expect((await account.getAccountData()).balance).toBe(0n);
    });

    it('a bounced payout (no stake deployed) returns the value to the client balance; the voucher stays spent', async () => {
        const before = (await account.getAccountData()).balance;
        const r = await settle(voucher(toNano('1'), { owner: owners[1].address }));
        const stake1 = stakeAddress(stakeCode, hub.address, owners[1].address);
        expect(r.transactions).toHaveTransaction({ from: account.address, to: stake1, success: false });
        const bounce = r.transactions.find((t) => t.inMessage?.info.type === 'internal' && (t.inMessage.info as any).bounced)!;
        expect(bounce).toBeDefined();
        checkBudget('compute_account.payout_bounce', bounce);
        const back = (bounce.inMessage!.info as any).value.coins as bigint;
        const after = await account.getAccountData();
        expect(after.balance).toBeGreaterThan(before - SETTLE_FEE - toNano('0.003')); // bounce forward fee + bounce gas
        expect(after.balance).toBeLessThan(before - SETTLE_FEE + back);
        expect(await account.getPaid(owners[1].address)).toBe(toNano('1'));
        const r2 = await settle(voucher(toNano('1'), { owner: owners[1].address }));
        expect(r2.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.notNewer });
    });

    it('refuses settle with too little value before any state change', async () => {
        const { settleMinValue } = await account.getFees();
        const before = await account.getAccountData();
        const r = await settle(voucher(toNano('1')), [0, 1], settleMinValue - 1n);
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.valueTooLow });
        expect(snap(await account.getAccountData())).toEqual(snap(before));
        // every op refuses too little value up front with 403, changing nothing (the values
        // still buy enough gas to reach the check; below ~0.0005 TON the VM runs out of gas
        // first (exit -14), which refuses the message just the same)
        const tiny = toNano('0.002');
        for (const send of [
            () => account.sendRequestWithdraw(client.getSender(), tiny),
            () => account.sendSetCaps(client.getSender(), tiny, null),
            () => account.sendRefreshRelayers(stranger.getSender(), tiny),
            () => account.sendDeposit(stranger.getSender(), toNano('0.001')),
        ]) {
            const rr = await send();
            expect(rr.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.valueTooLow });
        }
        await account.sendRequestWithdraw(client.getSender(), toNano('0.05'));
        bc.now = NOW + GRACE;
        const r2 = await account.sendWithdraw(client.getSender(), tiny);
        expect(r2.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.valueTooLow });
        expect((await account.getAccountData()).epoch).toBe(0);
    });

    it('pulls a newer relayer set from the hub; a removed relayer stops counting; versions only rise', async () => {
        const hubSet1 = buildRelayerSet(1, 2, relayers.slice(0, 3).map((r) => r.publicKey));
        const hubData = beginCell().storeRef(hubSet1).endCell();
        const hubAddr = contractAddress(0, { code: hubCode, data: hubData });
        await stranger.send({ to: hubAddr, value: toNano('1'), init: { code: hubCode, data: hubData } });
        const acc = bc.openContract(ComputeAccount.createFromConfig({ hub: hubAddr, client: client.address, nonce: 1n }, code));
        await acc.sendInit(client.getSender(), toNano('5'), params(hubSet1));
        // governance removes relayer 2 (set v2 = relayers 0,1,3)
        const set2 = buildRelayerSet(2, 2, [relayers[0], relayers[1], relayers[3]].map((r) => r.publicKey));
        await stranger.send({ to: hubAddr, value: toNano('0.05'), body: beginCell().storeUint(1, 32).storeRef(set2).endCell() });
        let r = await acc.sendRefreshRelayers(stranger.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ from: hubAddr, to: acc.address, op: CaOp.hubRelayerSet, success: true });
        const onAcc = r.transactions.filter((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(acc.address));
        checkBudget('compute_account.refresh_relayers', onAcc[0]);
        checkBudget('compute_account.relayer_set', onAcc[1]);
        expect((await acc.getAccountParams()).relayerVersion).toBe(2);
        const mk = (c: bigint) => buildVoucher({ globalId, account: acc.address, epoch: 0, owner: owners[0].address, cumulative: c, validUntil: NOW + 600 });
        // old relayer 2 signing as index 2 no longer verifies
        let v = mk(toNano('1'));
        let s = signKofN(v, secrets(), [0, 2]);
        r = await acc.sendSettle(poster.getSender(), toNano('0.05'), s.signers, s.sigs, v);
        expect(r.transactions).toHaveTransaction({ to: acc.address, success: false, exitCode: CaError.badSignature });
        s = signKofN(v, [relayers[0], relayers[1], relayers[3]].map((x) => x.secretKey), [0, 2]);
        r = await acc.sendSettle(poster.getSender(), toNano('0.05'), s.signers, s.sigs, v);
        expect(r.transactions).toHaveTransaction({ to: acc.address, success: true });
        // hub going back to version 1 changes nothing
        await stranger.send({ to: hubAddr, value: toNano('0.05'), body: beginCell().storeUint(1, 32).storeRef(hubSet1).endCell() });
        r = await acc.sendRefreshRelayers(stranger.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ to: acc.address, success: true });
        expect((await acc.getAccountParams()).relayerVersion).toBe(2);
        // a relayer-set message from anyone but the hub is refused
        r = await stranger.send({ to: acc.address, value: toNano('0.05'), body: beginCell().storeUint(CaOp.hubRelayerSet, 32).storeUint(0, 64).storeRef(hubSet1).endCell() });
        expect(r.transactions).toHaveTransaction({ to: acc.address, success: false, exitCode: CaError.notHub });
    });

    it('the real hub deploys an account with its parameter snapshot and serves a newer relayer set after its delay', async () => {
        const hubReal = loadCode('hub');
        const gov = await bc.treasury('governance');
        const DELAY = 8000;
        const mkParams = (set: Cell) => beginCell()
            .storeUint(100, 16).storeCoins(toNano('0.5')).storeUint(5000, 32).storeUint(100, 16).storeCoins(toNano('0.01'))
            .storeCoins(SETTLE_FEE).storeCoins(toNano('0.1')).storeUint(60, 32).storeUint(3600, 32).storeUint(60, 32).storeUint(600, 32)
            .storeUint(GRACE, 32).storeUint(DELAY, 32).storeRef(set)
            .storeRef(beginCell().storeAddress(gov.address).storeBit(0).endCell()).endCell();   // HubAddrs: treasury, no USDT
        const codes = beginCell().storeRef(loadCode('job_escrow')).storeRef(stakeCode).storeRef(code).endCell();
        const hubData = beginCell().storeAddress(gov.address).storeUint(0, 1).storeRef(mkParams(set1)).storeBit(0).storeRef(codes).endCell();
        const hubAddr = contractAddress(0, { code: hubReal, data: hubData });
        await gov.send({ to: hubAddr, value: toNano('1'), init: { code: hubReal, data: hubData } });
        // the client asks the hub for an account (nonce 21, no caps)
        let r = await client.send({ to: hubAddr, value: toNano('2'), body: beginCell().storeUint(0x48420003, 32).storeUint(0, 64).storeUint(21, 64).storeBit(0).endCell() });
        const acc = bc.openContract(ComputeAccount.createFromConfig({ hub: hubAddr, client: client.address, nonce: 21n }, code));
        expect(r.transactions).toHaveTransaction({ from: hubAddr, to: acc.address, deploy: true, success: true });
        const d = await acc.getAccountData();
        expect(d.initialized).toBe(true);
        expect(d.balance).toBeGreaterThan(toNano('1.9'));
        expect(await acc.getAccountParams()).toMatchObject({ relayerVersion: 1, k: 2, n: 3, settleFee: SETTLE_FEE, grace: GRACE, stakeCodeHash: BigInt('0x' + stakeCode.hash().toString('hex')) });
        // governance replaces relayer 2; the account pulls the new set only once the hub's delay is over
        const set2 = buildRelayerSet(2, 2, [relayers[0], relayers[1], relayers[3]].map((x) => x.publicKey));
        r = await gov.send({ to: hubAddr, value: toNano('0.05'), body: beginCell().storeUint(0x48420004, 32).storeUint(0, 64).storeRef(mkParams(set2)).endCell() });
        expect(r.transactions).toHaveTransaction({ to: hubAddr, success: true });
        r = await acc.sendRefreshRelayers(stranger.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ from: hubAddr, to: acc.address, op: CaOp.hubRelayerSet, success: true });
        expect((await acc.getAccountParams()).relayerVersion).toBe(1);
        bc.now = NOW + DELAY;
        r = await acc.sendRefreshRelayers(stranger.getSender(), toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ from: hubAddr, to: acc.address, op: CaOp.hubRelayerSet, success: true });
        expect((await acc.getAccountParams()).relayerVersion).toBe(2);
        // a voucher signed by the removed relayer no longer counts
        const v = buildVoucher({ globalId, account: acc.address, epoch: 0, owner: owners[0].address, cumulative: toNano('0.5'), validUntil: NOW + DELAY + 60 });
        const sOld = signKofN(v, secrets(), [0, 2]);
        r = await acc.sendSettle(poster.getSender(), toNano('0.05'), sOld.signers, sOld.sigs, v);
        expect(r.transactions).toHaveTransaction({ to: acc.address, success: false, exitCode: CaError.badSignature });
        const sNew = signKofN(v, [relayers[0], relayers[1], relayers[3]].map((x) => x.secretKey), [0, 2]);
        r = await acc.sendSettle(poster.getSender(), toNano('0.05'), sNew.signers, sNew.sigs, v);
        expect(r.transactions).toHaveTransaction({ to: acc.address, success: true });
        expect(await acc.getPaid(owners[0].address)).toBe(toNano('0.5'));
    });

    it('client caps: per voucher and per period; set at init they apply at once, changed later only after the grace period', async () => {
        let r = await account.sendSetCaps(stranger.getSender(), toNano('0.05'), null);
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.notClient });
        r = await account.sendSetCaps(client.getSender(), toNano('0.05'), buildCaps({ perVoucher: toNano('1'), perPeriod: toNano('1.5'), period: 86400 }));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: true });
        checkBudget('compute_account.set_caps', accountTx(r.transactions));
        // not yet in force: the relayers may still post what was served before the change
        await settle(voucher(toNano('3')));
        expect(await account.getPaid(owners[0].address)).toBe(toNano('3'));
        bc.now = NOW + GRACE;
        const v = (c: string) => voucher(toNano(c), { validUntil: NOW + 10 * 86400 });
        await settle(v('5'));
        expect(await account.getPaid(owners[0].address)).toBe(toNano('4'));      // per voucher
        await settle(v('5'));
        expect(await account.getPaid(owners[0].address)).toBe(toNano('4.5'));    // per period
        r = await settle(v('5'));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: false, exitCode: CaError.capReached });
        bc.now = NOW + GRACE + 86400;
        r = await settle(v('5'));
        expect(r.transactions).toHaveTransaction({ to: account.address, success: true });
        expect(await account.getPaid(owners[0].address)).toBe(toNano('5'));
        expect((await account.getCaps()).spent).toBe(toNano('0.5'));
        // caps given at init apply at once
        const capped = bc.openContract(ComputeAccount.createFromConfig({ hub: hub.address, client: client.address, nonce: 13n }, code));
        await capped.sendInit(client.getSender(), toNano('5'), params(), buildCaps({ perVoucher: toNano('0.25'), perPeriod: toNano('10'), period: 0 }));
        const cv = buildVoucher({ globalId, account: capped.address, epoch: 0, owner: owners[0].address, cumulative: toNano('1'), validUntil: bc.now + 600 });
        const s = signKofN(cv, secrets(), [0, 1]);
        await capped.sendSettle(poster.getSender(), toNano('0.05'), s.signers, s.sigs, cv);
        expect(await capped.getPaid(owners[0].address)).toBe(toNano('0.25'));
        // a malformed rule is refused
        r = await capped.sendSetCaps(client.getSender(), toNano('0.05'), beginCell().storeUint(1, 8).endCell());
        expect(r.transactions).toHaveTransaction({ to: capped.address, success: false });
    });

    it('bounds per-provider state: at most 32 providers per epoch', async () => {
        const rich = bc.openContract(ComputeAccount.createFromConfig({ hub: hub.address, client: client.address, nonce: 11n }, code));
        await rich.sendInit(client.getSender(), toNano('50'), params());
        for (let i = 0; i < 33; i++) {
            const o = (await bc.treasury('p' + i)).address;
            const v = buildVoucher({ globalId, account: rich.address, epoch: 0, owner: o, cumulative: toNano('0.1'), validUntil: NOW + 600 });
            const s = signKofN(v, secrets(), [0, 1]);
            const r = await rich.sendSettle(poster.getSender(), toNano('0.05'), s.signers, s.sigs, v);
            if (i < 32) expect(r.transactions).toHaveTransaction({ to: rich.address, success: true });
            else expect(r.transactions).toHaveTransaction({ to: rich.address, success: false, exitCode: CaError.tooManyProviders });
        }
        expect((await rich.getAccountData()).nPaid).toBe(32);
    });

    it('gas: the worst settlement (10-of-10 signers, 32nd provider) fits the budget in compute_account.fc', async () => {
        const ten: KeyPair[] = [];
        for (let i = 0; i < 10; i++) ten.push(keyPairFromSeed(Buffer.alloc(32, 50 + i)));
        // 31 providers paid under a 1-of-10 set, then the hub moves to 10-of-10 and the 32nd is paid
        const setA = buildRelayerSet(1, 1, ten.map((r) => r.publicKey));
        const setB = buildRelayerSet(2, 10, ten.map((r) => r.publicKey));
        const hubData = beginCell().storeRef(setA).endCell();
        const hubAddr = contractAddress(0, { code: hubCode, data: hubData });
        await stranger.send({ to: hubAddr, value: toNano('1'), init: { code: hubCode, data: hubData } });
        const acc = bc.openContract(ComputeAccount.createFromConfig({ hub: hubAddr, client: client.address, nonce: 12n }, code));
        await acc.sendInit(client.getSender(), toNano('50'), params(setA));
        const post = async (i: number, signers: number[]) => {
            const o = (await bc.treasury('q' + i)).address;
            const v = buildVoucher({ globalId, account: acc.address, epoch: 0, owner: o, cumulative: toNano('0.1'), validUntil: NOW + 600 });
            const s = signKofN(v, ten.map((r) => r.secretKey), signers);
            const r = await acc.sendSettle(poster.getSender(), toNano('0.05'), s.signers, s.sigs, v);
            const tx = r.transactions.find((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(acc.address))!;
            expect(exitCode(tx)).toBe(0);
            return tx;
        };
        for (let i = 0; i < 31; i++) await post(i, [i % 10]);
        await stranger.send({ to: hubAddr, value: toNano('0.05'), body: beginCell().storeUint(1, 32).storeRef(setB).endCell() });
        await acc.sendRefreshRelayers(stranger.getSender(), toNano('0.05'));
        expect((await acc.getAccountParams()).k).toBe(10);
        const tx = await post(31, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        checkBudget('compute_account.settle_worst_10of10_32providers', tx);
        // the unused part of the budget stays in the account (never the client's money)
        const d = await acc.getAccountData();
        expect((await bc.getContract(acc.address)).balance).toBeGreaterThanOrEqual(d.balance + MIN_RESERVE);
    });

    it('returns jettons from any transfer_notification (TON-only account)', async () => {
        const jw = await bc.treasury('someJettonWallet');
        const from = stranger.address;
        const body = beginCell().storeUint(0x7362d09c, 32).storeUint(5, 64).storeCoins(1_000_000n).storeAddress(from).storeBit(0).endCell();
        const before = (await account.getAccountData()).balance;
        const r = await jw.send({ to: account.address, value: toNano('0.05'), body });
        expect(r.transactions).toHaveTransaction({ from: account.address, to: jw.address, op: 0x0f8a7ea5 });
        const tx = accountTx(r.transactions);
        const out = tx.outMessages.values()[0].body.beginParse();
        expect(out.loadUint(32)).toBe(0x0f8a7ea5);
        expect(out.loadUintBig(64)).toBe(5n);
        expect(out.loadCoins()).toBe(1_000_000n);
        expect(out.loadAddress().equals(from)).toBe(true);
        expect((await account.getAccountData()).balance).toBe(before);
    });
});
