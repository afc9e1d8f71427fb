// Message builders and address helpers for hub / job_escrow / provider_stake (C1).
// Layouts: Specification.md and spindle.tlb. Used by tests/JobEscrow.spec.ts.
import { Address, beginCell, Cell, contractAddress } from '@ton/core';
import { sign } from '@ton/crypto';
import fs from 'fs';
import path from 'path';

export const Op = {
    escrowCreate: 0x4a420001,
    escrowComplete: 0x4a420002,
    escrowExpire: 0x4a420003,
    escrowDelivered: 0x4a420004,
    escrowRefund: 0x4a420005,
    escrowSettleFee: 0x4a420006,
    escrowFee: 0x4a420007,
    escrowCreateUsdt: 0x4a420008,
    escrowClaim: 0x4a420009,
    stakeJettonCollect: 0x5354000b,
    stakeInit: 0x53540001,
    stakeTopUp: 0x53540002,
    stakeSetOperator: 0x53540003,
    stakeUnbond: 0x53540004,
    stakeWithdraw: 0x53540005,
    stakeSlash: 0x53540006,
    stakeDeliver: 0x53540007,
    stakeCollect: 0x53540008,
    stakeWithdrawn: 0x53540009,
    stakeSlashed: 0x5354000a,
    payout: 0x4341000a,
} as const;

export const Err = {
    unknownOp: 100, wrongSender: 101, valueTooLow: 102, badAddress: 103, badParams: 104,
    notInitialized: 105, alreadyInitialized: 106, badRelayerSet: 110, badSigners: 111, badSignature: 112,
    paused: 120, jobNotOpen: 130, tooLate: 131, tooEarly: 132, payExceedsAmount: 133, alreadySlashed: 134,
    delivered: 135, windowClosed: 136, noEvidence: 137, notEscrow: 140, unbonding: 141, notUnbonding: 142,
    unbondNotOver: 143, rotationTooSoon: 144, stakeTooLow: 145, badDeadline: 146, amountTooLow: 147,
    notJettonJob: 148, nothingOwed: 149, noUsdt: 150,
} as const;

export const Tag = { complete: 0x4a434d50, accept: 0x4a414343, deliver: 0x4a444c56 } as const; // JCMP JACC JDLV

export function loadArtifact(name: string): Cell {
    const j = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'build', name + '.json'), 'utf8'));
    return Cell.fromBase64(j.codeBoc);
}

/** A library reference cell (exotic type 2: tag 0x02 + the code's hash): the code as published in the masterchain's library set. */
export function libraryRef(code: Cell): Cell {
    return beginCell().storeUint(2, 8).storeBuffer(code.hash(), 32).endCell({ exotic: true });
}

/** RelayerSet: version:uint32 k:uint8 n:uint8, keys three per cell chained by refs (same as compute_account). */
export function relayerSet(version: number, k: number, pubkeys: Buffer[]): Cell {
    let next: Cell | null = null;
    for (let c = Math.ceil(pubkeys.length / 3) - 1; c >= 0; c--) {
        const b = beginCell();
        if (c === 0) b.storeUint(version, 32).storeUint(k, 8).storeUint(pubkeys.length, 8);
        for (const pk of pubkeys.slice(c * 3, c * 3 + 3)) b.storeBuffer(pk, 32);
        if (next) b.storeRef(next);
        next = b.endCell();
    }
    return next ?? beginCell().storeUint(version, 32).storeUint(k, 8).storeUint(0, 8).endCell();
}

export type EscrowCfg = {
    settleFee: bigint; feeBps: number; grace: number; window: number;
    stakeCode: Cell; treasury: Address; relayers: Cell;
};
export function escrowCfg(c: EscrowCfg): Cell {
    return beginCell().storeCoins(c.settleFee).storeUint(c.feeBps, 16).storeUint(c.grace, 32).storeUint(c.window, 32)
        .storeBuffer(c.stakeCode.hash(), 32).storeUint(c.stakeCode.depth(), 16).storeAddress(c.treasury)
        .storeRef(c.relayers).endCell();
}
export function childData(hub: Address, client: Address, nonce: bigint): Cell {
    return beginCell().storeAddress(hub).storeAddress(client).storeUint(nonce, 64).endCell();
}
export function escrowAddress(code: Cell, hub: Address, client: Address, nonce: bigint): Address {
    return contractAddress(0, { code, data: childData(hub, client, nonce) });
}
export function escrowCreateBody(amount: bigint, deadline: number, specHash: bigint, cfg: Cell, queryId = 0n): Cell {
    return beginCell().storeUint(Op.escrowCreate, 32).storeUint(queryId, 64).storeCoins(amount).storeUint(deadline, 32)
        .storeUint(specHash, 256).storeRef(cfg).endCell();
}
/** create_usdt: as create, plus ^EscrowJettonCfg (wrappers/Jetton.ts escrowJettonCfg); the job opens when its jettons arrive. */
export function escrowCreateUsdtBody(amount: bigint, deadline: number, specHash: bigint, cfg: Cell, jetton: Cell, queryId = 0n): Cell {
    return beginCell().storeUint(Op.escrowCreateUsdt, 32).storeUint(queryId, 64).storeCoins(amount).storeUint(deadline, 32)
        .storeUint(specHash, 256).storeRef(cfg).storeRef(jetton).endCell();
}
/** The JCMP payload relayers sign (its hash). */
export function completePayload(globalId: number, escrow: Address, nonce: bigint, provider: Address, pay: bigint, resultHash: bigint): Cell {
    return beginCell().storeUint(Tag.complete, 32).storeInt(globalId, 32).storeAddress(escrow).storeUint(nonce, 64)
        .storeAddress(provider).storeUint(pay, 64).storeUint(resultHash, 256).endCell();
}
/** Signatures: first in the root, the rest one per cell chained by refs. */
export function sigChain(sigs: Buffer[]): Cell {
    let next: Cell | null = null;
    for (let i = sigs.length - 1; i >= 0; i--) {
        const b = beginCell().storeBuffer(sigs[i], 64);
        if (next) b.storeRef(next);
        next = b.endCell();
    }
    return next!;
}
export function signKofN(payload: Cell, secrets: Buffer[], idx: number[]): { signers: number; sigs: Cell } {
    let signers = 0;
    const s: Buffer[] = [];
    for (const i of idx) { signers |= 1 << i; s.push(sign(payload.hash(), secrets[i])); }
    return { signers, sigs: sigChain(s) };
}
export function completeBody(provider: Address, pay: bigint, resultHash: bigint, signers: number, sigs: Cell, queryId = 0n): Cell {
    return beginCell().storeUint(Op.escrowComplete, 32).storeUint(queryId, 64).storeAddress(provider).storeUint(pay, 64)
        .storeUint(resultHash, 256).storeUint(signers, 16).storeRef(sigs).endCell();
}
/** The JACC payload the operator key signs: it accepted job `nonce` at escrow `escrow` for stake owner `owner`. */
export function acceptPayload(globalId: number, escrow: Address, nonce: bigint, owner: Address): Cell {
    return beginCell().storeUint(Tag.accept, 32).storeInt(globalId, 32).storeAddress(escrow).storeUint(nonce, 64).storeAddress(owner).endCell();
}
export function expireBody(evidence?: { provider: Address; sig: Buffer } | null, queryId = 0n): Cell {
    const ev = evidence ? beginCell().storeAddress(evidence.provider).storeBuffer(evidence.sig, 64).endCell() : null;
    return beginCell().storeUint(Op.escrowExpire, 32).storeUint(queryId, 64).storeMaybeRef(ev).endCell();
}
export function deliverPayload(globalId: number, escrow: Address, nonce: bigint, owner: Address, resultHash: bigint): Cell {
    return beginCell().storeUint(Tag.deliver, 32).storeInt(globalId, 32).storeAddress(escrow).storeUint(nonce, 64)
        .storeAddress(owner).storeUint(resultHash, 256).endCell();
}
export function deliverBody(escrow: Address, nonce: bigint, resultHash: bigint, sig: Buffer, queryId = 0n): Cell {
    return beginCell().storeUint(Op.stakeDeliver, 32).storeUint(queryId, 64).storeAddress(escrow).storeUint(nonce, 64)
        .storeUint(resultHash, 256).storeRef(beginCell().storeBuffer(sig, 64).endCell()).endCell();
}

export type StakeCfg = {
    escrowCode: Cell; treasury: Address; slashMultPct: number; finderFee: bigint; unbondPeriod: number; minStake: bigint;
};
export function stakeCfg(c: StakeCfg): Cell {
    return beginCell().storeBuffer(c.escrowCode.hash(), 32).storeUint(c.escrowCode.depth(), 16).storeAddress(c.treasury)
        .storeUint(c.slashMultPct, 16).storeCoins(c.finderFee).storeUint(c.unbondPeriod, 32).storeCoins(c.minStake).endCell();
}
export function stakeData(hub: Address, owner: Address): Cell {
    return beginCell().storeAddress(hub).storeAddress(owner).endCell();
}
export function stakeAddress(code: Cell, hub: Address, owner: Address): Address {
    return contractAddress(0, { code, data: stakeData(hub, owner) });
}
export function stakeInitBody(opKey: Buffer, cfg: Cell, queryId = 0n): Cell {
    return beginCell().storeUint(Op.stakeInit, 32).storeUint(queryId, 64).storeBuffer(opKey, 32).storeRef(cfg).endCell();
}
export function opBody(op: number, queryId = 0n): Cell {
    return beginCell().storeUint(op, 32).storeUint(queryId, 64).endCell();
}
export function setOperatorBody(key: Buffer, queryId = 0n): Cell {
    return beginCell().storeUint(Op.stakeSetOperator, 32).storeUint(queryId, 64).storeBuffer(key, 32).endCell();
}

// ---------------------------------------------------------------- hub
export const HubOp = {
    createJob: 0x48420001, deployStake: 0x48420002, createAccount: 0x48420003, proposeParams: 0x48420004, setPaused: 0x48420005,
    getRelayerSet: 0x4341000b, relayerSet: 0x4341000c, createJobUsdt: 0x48420007, createAccountUsdt: 0x48420008,
} as const;
export type HubParams = {
    feeBps: number; minStake: bigint; unbondPeriod: number; slashMultPct: number; finderFee: bigint; settleFee: bigint;
    minJob: bigint; minDeadline: number; maxDeadline: number; grace: number; window: number; accountGrace: number; delay: number;
    relayers: Cell; treasury: Address;
    /** the accepted USDT: JettonCfg (wrappers/Jetton.ts accountJettonCfg), snapshotted by USDT children */
    jetton?: Cell | null;
};
export function hubParams(p: HubParams): Cell {
    return beginCell().storeUint(p.feeBps, 16).storeCoins(p.minStake).storeUint(p.unbondPeriod, 32).storeUint(p.slashMultPct, 16)
        .storeCoins(p.finderFee).storeCoins(p.settleFee).storeCoins(p.minJob).storeUint(p.minDeadline, 32).storeUint(p.maxDeadline, 32)
        .storeUint(p.grace, 32).storeUint(p.window, 32).storeUint(p.accountGrace, 32).storeUint(p.delay, 32)
        .storeRef(p.relayers).storeRef(beginCell().storeAddress(p.treasury).storeMaybeRef(p.jetton ?? null).endCell()).endCell();
}
/** Hub initial data: governance paused:uint1 params:^Params pending:(Maybe ^Pending) codes:^(escrow stake account). */
export function hubData(governance: Address, params: Cell, codes: { escrow: Cell; stake: Cell; account: Cell }): Cell {
    return beginCell().storeAddress(governance).storeUint(0, 1).storeRef(params).storeMaybeRef(null)
        .storeRef(beginCell().storeRef(codes.escrow).storeRef(codes.stake).storeRef(codes.account).endCell()).endCell();
}
export function hubCreateJobBody(nonce: bigint, amount: bigint, deadline: number, specHash: bigint, queryId = 0n): Cell {
    return beginCell().storeUint(HubOp.createJob, 32).storeUint(queryId, 64).storeUint(nonce, 64).storeCoins(amount)
        .storeUint(deadline, 32).storeUint(specHash, 256).endCell();
}
/** create_job_usdt: a USDT escrow with the hub's JettonCfg; amount in jetton units, slash_amount in nanoTON (≥ min_job). */
export function hubCreateJobUsdtBody(nonce: bigint, amount: bigint, deadline: number, specHash: bigint, slashAmount: bigint, queryId = 0n): Cell {
    return beginCell().storeUint(HubOp.createJobUsdt, 32).storeUint(queryId, 64).storeUint(nonce, 64).storeCoins(amount)
        .storeUint(deadline, 32).storeUint(specHash, 256).storeCoins(slashAmount).endCell();
}
/** create_account_usdt: a USDT compute account with the hub's JettonCfg. */
export function hubCreateAccountUsdtBody(nonce: bigint, caps: Cell | null = null, queryId = 0n): Cell {
    return beginCell().storeUint(HubOp.createAccountUsdt, 32).storeUint(queryId, 64).storeUint(nonce, 64).storeMaybeRef(caps).endCell();
}
export function hubDeployStakeBody(opKey: Buffer, queryId = 0n): Cell {
    return beginCell().storeUint(HubOp.deployStake, 32).storeUint(queryId, 64).storeBuffer(opKey, 32).endCell();
}
export function hubCreateAccountBody(nonce: bigint, caps: Cell | null = null, queryId = 0n): Cell {
    return beginCell().storeUint(HubOp.createAccount, 32).storeUint(queryId, 64).storeUint(nonce, 64).storeMaybeRef(caps).endCell();
}
export function hubProposeBody(params: Cell, queryId = 0n): Cell {
    return beginCell().storeUint(HubOp.proposeParams, 32).storeUint(queryId, 64).storeRef(params).endCell();
}
export function hubSetPausedBody(paused: boolean, queryId = 0n): Cell {
    return beginCell().storeUint(HubOp.setPaused, 32).storeUint(queryId, 64).storeUint(paused ? 1 : 0, 1).endCell();
}
