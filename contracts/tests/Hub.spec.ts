// hub (C1): deploys escrows / stakes / compute accounts with a parameter snapshot,
// delayed governance, pause scope, relayer-set replies; end-to-end job via the hub.
import { Blockchain, SandboxContract, TreasuryContract, SendMessageResult } from '@ton/sandbox';
import { Address, beginCell, Cell, toNano, Transaction } from '@ton/core';
import { keyPairFromSeed, KeyPair } from '@ton/crypto';
import '@ton/test-utils';
import fs from 'fs';
import path from 'path';
import {
    completeBody, completePayload, escrowAddress, Err, HubOp, hubCreateAccountBody, hubCreateJobBody, hubData, hubDeployStakeBody, hubParams,
    HubParams, hubProposeBody, hubSetPausedBody, loadArtifact, Op, relayerSet, signKofN, stakeAddress, expireBody, childData,
} from '../wrappers/Spindle';

const NOW = 1_800_000_000;
const GLOBAL_ID = -239;
const budgets: Record<string, { gas?: number; ton?: number }> = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'gas-budgets.json'), 'utf8'));
const snapshot: Record<string, { gas: number; fees_nanoton: string; fees_ton: string }> = {};
const gasOf = (t: Transaction) => { const d = t.description; return d.type === 'generic' && d.computePhase.type === 'vm' ? Number(d.computePhase.gasUsed) : 0; };
const feesOf = (r: SendMessageResult) => r.transactions.reduce((a, t) => a + t.totalFees.coins, 0n);
function record(name: string, t: Transaction, fees: bigint) {
    const gas = gasOf(t);
    snapshot[name] = { gas, fees_nanoton: fees.toString(), fees_ton: (Number(fees) / 1e9).toFixed(6) };
    const b = budgets[name];
    if (b?.gas !== undefined && gas > b.gas) throw new Error(`${name}: ${gas} gas exceeds its budget ${b.gas} (gas-budgets.json)`);
}
const txTo = (r: SendMessageResult, a: Address) => r.transactions.find((t) => t.inMessage?.info.dest instanceof Address && (t.inMessage.info.dest as Address).equals(a))!;

describe('hub', () => {
    const escrowCode = loadArtifact('job_escrow');
    const stakeCode = loadArtifact('provider_stake');
    const hubCode = loadArtifact('hub');
    const accountCode = loadArtifact('compute_account');
    let bc: Blockchain;
    let gov: SandboxContract<TreasuryContract>, client: SandboxContract<TreasuryContract>, owner: SandboxContract<TreasuryContract>;
    let treasury: SandboxContract<TreasuryContract>, stranger: SandboxContract<TreasuryContract>, poster: SandboxContract<TreasuryContract>;
    let relayers: KeyPair[], operator: KeyPair;
    let hub: Address;
    let base: HubParams;

    afterAll(() => {
        const file = path.join(__dirname, '..', 'gas-snapshot.json');
        let snap: Record<string, unknown> = {};
        try { snap = JSON.parse(fs.readFileSync(file, 'utf8')); } catch { snap = {}; }
        Object.assign(snap, snapshot);
        fs.writeFileSync(file, JSON.stringify(Object.fromEntries(Object.entries(snap).sort(([a], [b]) => a.localeCompare(b))), null, 2) + '\n');
    });

    beforeAll(async () => {
        relayers = await Promise.all([1, 2, 3, 4].map((i) => keyPairFromSeed(Buffer.alloc(32, i))));
        operator = await keyPairFromSeed(Buffer.alloc(32, 40));
    });

    beforeEach(async () => {
        bc = await Blockchain.create();
        bc.now = NOW;
        gov = await bc.treasury('gov');
        client = await bc.treasury('client');
        owner = await bc.treasury('owner');
        treasury = await bc.treasury('treasury');
        stranger = await bc.treasury('stranger');
        poster = await bc.treasury('poster');
        base = {
            feeBps: 250, minStake: toNano('5'), unbondPeriod: 86400 + 600 + 3600, slashMultPct: 150, finderFee: toNano('0.01'),
            settleFee: toNano('0.003'), minJob: toNano('0.1'), minDeadline: 60, maxDeadline: 86400, grace: 600, window: 3600,
            accountGrace: 3600, delay: 86400 + 3600, relayers: relayerSet(1, 2, relayers.slice(0, 3).map((k) => k.publicKey)), treasury: treasury.address,
        };
        const data = hubData(gov.address, hubParams(base), { escrow: escrowCode, stake: stakeCode, account: accountCode });
        const r = await gov.send({ to: (await import('@ton/core')).contractAddress(0, { code: hubCode, data }), value: toNano('1'), init: { code: hubCode, data } });
        hub = (await import('@ton/core')).contractAddress(0, { code: hubCode, data });
        expect(r.transactions).toHaveTransaction({ to: hub, deploy: true });
    });

    async function createJob(nonce: bigint, amount = toNano('1'), value?: bigint, deadline = NOW + 3600) {
        return client.send({ to: hub, value: value ?? amount + toNano('0.05'), body: hubCreateJobBody(nonce, amount, deadline, 0xabcn) });
    }

    it('end to end: stake via hub, job via hub, complete 2-of-3; get-methods give the children addresses', async () => {
        let r = await owner.send({ to: hub, value: toNano('10.1'), body: hubDeployStakeBody(operator.publicKey) });
        const stake = stakeAddress(stakeCode, hub, owner.address);
        expect(r.transactions).toHaveTransaction({ from: hub, to: stake, deploy: true, success: true });
        record('hub.deploy_stake', txTo(r, hub), feesOf(r));
        const got = (await bc.runGetMethod(hub, 'get_stake_address', [{ type: 'slice', cell: beginCell().storeAddress(owner.address).endCell() }])).stackReader.readAddress();
        expect(got.equals(stake)).toBe(true);
        r = await createJob(1n);
        const esc = escrowAddress(escrowCode, hub, client.address, 1n);
        expect(r.transactions).toHaveTransaction({ from: hub, to: esc, deploy: true, success: true });
        record('hub.create_job', txTo(r, hub), feesOf(r));
        const ge = (await bc.runGetMethod(hub, 'get_escrow_address', [{ type: 'slice', cell: beginCell().storeAddress(client.address).endCell() }, { type: 'int', value: 1n }])).stackReader.readAddress();
        expect(ge.equals(esc)).toBe(true);
        const job = (await bc.runGetMethod(esc, 'get_job')).stackReader;
        expect(job.readNumber()).toBe(0);
        job.readNumber(); job.readNumber();
        expect(job.readBigNumber()).toBe(toNano('1'));
        const p = completePayload(GLOBAL_ID, esc, 1n, owner.address, toNano('1'), 7n);
        const { signers, sigs } = signKofN(p, relayers.map((k) => k.secretKey), [0, 1]);
        const c = await poster.send({ to: esc, value: toNano('0.02'), body: completeBody(owner.address, toNano('1'), 7n, signers, sigs) });
        expect(c.transactions).toHaveTransaction({ from: esc, to: stake, op: Op.payout, success: true });
        const lifecycle = feesOf(r) + feesOf(c);
        snapshot['hub.lifecycle_create_via_hub_complete'] = { gas: gasOf(txTo(r, hub)) + gasOf(txTo(r, esc)) + gasOf(txTo(c, esc)), fees_nanoton: lifecycle.toString(), fees_ton: (Number(lifecycle) / 1e9).toFixed(6) };
    });

    it('create_job checks amount, deadline range and value up front', async () => {
        let r = await createJob(1n, toNano('0.05'));
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.amountTooLow });
        r = await createJob(2n, toNano('1'), undefined, NOW + 30);
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.badDeadline });
        r = await createJob(3n, toNano('1'), undefined, NOW + 86401);
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.badDeadline });
        r = await createJob(4n, toNano('1'), toNano('1.005'));
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.valueTooLow });
        r = await owner.send({ to: hub, value: toNano('5'), body: hubDeployStakeBody(operator.publicKey) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.valueTooLow });
    });

    it('pause stops creation only; complete and expire on existing escrows still work; only governance pauses', async () => {
        await owner.send({ to: hub, value: toNano('10.1'), body: hubDeployStakeBody(operator.publicKey) });
        await createJob(1n);
        await createJob(2n);
        let r = await stranger.send({ to: hub, value: toNano('0.05'), body: hubSetPausedBody(true) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.wrongSender });
        r = await gov.send({ to: hub, value: toNano('0.05'), body: hubSetPausedBody(true) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: true });
        r = await createJob(3n);
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.paused });
        r = await stranger.send({ to: hub, value: toNano('10.1'), body: hubDeployStakeBody(operator.publicKey) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.paused });
        r = await client.send({ to: hub, value: toNano('1'), body: hubCreateAccountBody(5n) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.paused });
        const e1 = escrowAddress(escrowCode, hub, client.address, 1n);
        const p = completePayload(GLOBAL_ID, e1, 1n, owner.address, toNano('1'), 7n);
        const { signers, sigs } = signKofN(p, relayers.map((k) => k.secretKey), [0, 2]);
        r = await poster.send({ to: e1, value: toNano('0.02'), body: completeBody(owner.address, toNano('1'), 7n, signers, sigs) });
        expect(r.transactions).toHaveTransaction({ to: e1, success: true });
        const e2 = escrowAddress(escrowCode, hub, client.address, 2n);
        bc.now = NOW + 3600 + 601;
        r = await poster.send({ to: e2, value: toNano('0.05'), body: expireBody() });
        expect(r.transactions).toHaveTransaction({ from: e2, to: client.address, op: Op.escrowRefund });
        r = await gov.send({ to: hub, value: toNano('0.05'), body: hubSetPausedBody(false) });
        r = await createJob(3n, toNano('1'), undefined, bc.now + 3600);
        expect(r.transactions).toHaveTransaction({ from: hub, deploy: true, success: true });
    });

    it('governance: only governance proposes, invalid params refused, changes apply after the delay to children created afterwards', async () => {
        const next = { ...base, settleFee: toNano('0.004'), relayers: relayerSet(2, 2, [relayers[0].publicKey, relayers[3].publicKey, relayers[2].publicKey]) };
        let r = await stranger.send({ to: hub, value: toNano('0.05'), body: hubProposeBody(hubParams(next)) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.wrongSender });
        // unbonding shorter than D + G + W
        r = await gov.send({ to: hub, value: toNano('0.05'), body: hubProposeBody(hubParams({ ...next, unbondPeriod: 86400 })) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.badParams });
        // delay shorter than account grace + D
        r = await gov.send({ to: hub, value: toNano('0.05'), body: hubProposeBody(hubParams({ ...next, delay: 3600 })) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.badParams });
        // relayer set version going down
        r = await gov.send({ to: hub, value: toNano('0.05'), body: hubProposeBody(hubParams({ ...next, relayers: relayerSet(0, 1, [relayers[0].publicKey]) })) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.badParams });
        r = await gov.send({ to: hub, value: toNano('0.05'), body: hubProposeBody(hubParams(next)) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: true });
        const pend = (await bc.runGetMethod(hub, 'get_pending')).stackReader;
        expect(pend.readNumber()).toBe(NOW + base.delay);
        // before the delay: children still get the old snapshot
        bc.now = NOW + base.delay - 1;
        await createJob(1n, toNano('1'), undefined, bc.now + 3600);
        let cfg = (await bc.runGetMethod(escrowAddress(escrowCode, hub, client.address, 1n), 'get_config')).stackReader;
        expect(cfg.readBigNumber()).toBe(toNano('0.003'));
        bc.now = NOW + base.delay;
        await createJob(2n, toNano('1'), undefined, bc.now + 3600);
        cfg = (await bc.runGetMethod(escrowAddress(escrowCode, hub, client.address, 2n), 'get_config')).stackReader;
        expect(cfg.readBigNumber()).toBe(toNano('0.004'));
        const set = (await bc.runGetMethod(hub, 'get_relayer_set')).stackReader.readCell();
        expect(set.beginParse().loadUint(32)).toBe(2);
        // the first escrow keeps its snapshot: v1 relayer 1 still counts there
        const e1 = escrowAddress(escrowCode, hub, client.address, 1n);
        const p = completePayload(GLOBAL_ID, e1, 1n, owner.address, toNano('1'), 7n);
        const { signers, sigs } = signKofN(p, relayers.map((k) => k.secretKey), [0, 1]);
        r = await poster.send({ to: e1, value: toNano('0.02'), body: completeBody(owner.address, toNano('1'), 7n, signers, sigs) });
        expect(r.transactions).toHaveTransaction({ to: e1, success: true });
    });

    it('a compute account created by the hub pulls a newer relayer set from it (real hub <-> real account)', async () => {
        let r = await client.send({ to: hub, value: toNano('1'), body: hubCreateAccountBody(8n) });
        const acct = (await import('@ton/core')).contractAddress(0, { code: accountCode, data: childData(hub, client.address, 8n) });
        expect(r.transactions).toHaveTransaction({ from: hub, to: acct, deploy: true, success: true });
        const next = { ...base, relayers: relayerSet(2, 2, [relayers[0].publicKey, relayers[3].publicKey, relayers[2].publicKey]) };
        await gov.send({ to: hub, value: toNano('0.05'), body: hubProposeBody(hubParams(next)) });
        bc.now = NOW + base.delay;
        r = await stranger.send({ to: acct, value: toNano('0.05'), body: beginCell().storeUint(0x43410006, 32).storeUint(1, 64).endCell() });
        expect(r.transactions).toHaveTransaction({ from: hub, to: acct, op: HubOp.relayerSet, success: true });
        const reply = txTo(r, hub);
        record('hub.relayer_set_reply', reply, feesOf(r));
        expect(gasOf(reply)).toBeLessThanOrEqual(8000); // compute_account budgets the hub's reply at 8000 gas (ca::gas_hub_reply)
        const ps = (await bc.runGetMethod(acct, 'get_account_params')).stack;
        const set = ps.find((x) => x.type === 'cell') as any;
        expect(set.cell.beginParse().loadUint(32)).toBe(2);
    });

    it('answers get_relayer_set and deploys compute accounts with the current snapshot', async () => {
        let r = await stranger.send({ to: hub, value: toNano('0.05'), body: beginCell().storeUint(HubOp.getRelayerSet, 32).storeUint(9, 64).endCell() });
        expect(r.transactions).toHaveTransaction({ from: hub, to: stranger.address, op: HubOp.relayerSet });
        r = await client.send({ to: hub, value: toNano('1'), body: hubCreateAccountBody(5n) });
        const acct = (await import('@ton/core')).contractAddress(0, { code: accountCode, data: childData(hub, client.address, 5n) });
        expect(r.transactions).toHaveTransaction({ from: hub, to: acct, deploy: true, success: true });
        record('hub.create_account', txTo(r, hub), feesOf(r));
        r = await client.send({ to: hub, value: toNano('0.005'), body: hubCreateAccountBody(6n) });
        expect(r.transactions).toHaveTransaction({ to: hub, success: false, exitCode: Err.valueTooLow });
    });
});
