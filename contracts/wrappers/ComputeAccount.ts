import {
    Address, beginCell, Builder, Cell, Contract, contractAddress, ContractProvider, Sender, SendMode, Slice, TupleBuilder,
} from '@ton/core';
import { sign } from '@ton/crypto';
import { Dictionary } from '@ton/core';

/** Op codes, mirrored from func/op-codes.fc (compute_account section). */
export const CaOp = {
    init: 0x43410001,
    deposit: 0x43410002,
    settle: 0x43410003,
    requestWithdraw: 0x43410004,
    withdraw: 0x43410005,
    refreshRelayers: 0x43410006,
    setCaps: 0x43410007,
    settleExcess: 0x43410008,
    withdrawn: 0x43410009,
    payout: 0x4341000a,
    hubGetRelayerSet: 0x4341000b,
    hubRelayerSet: 0x4341000c,
} as const;

/** Exit codes, mirrored from func/errors.fc (compute_account section). */
export const CaError = {
    notInitialized: 400,
    wrongSender: 401,
    notClient: 402,
    valueTooLow: 403,
    badParams: 404,
    badAddress: 405,
    unknownOp: 406,
    badTag: 410,
    wrongNetwork: 411,
    wrongTarget: 412,
    wrongEpoch: 413,
    expired: 414,
    badSigners: 415,
    badSignature: 416,
    notNewer: 417,
    noBalance: 418,
    capReached: 419,
    tooManyProviders: 420,
    withdrawPending: 421,
    withdrawNotRequested: 422,
    graceNotOver: 423,
    notHub: 424,
    wrongAsset: 425,
} as const;

/** Gas budgets (gas units), mirrored from func/compute_account.fc; each op charges GETGASFEE(budget). */
export const CA_GAS = {
    init: 12000, deposit: 2600, settle: 26000, settleTail: 1500, requestWithdraw: 6000, withdraw: 8000,
    refresh: 8000, setRelayers: 10000, bounce: 4500, setCaps: 8000, hubReply: 8000,
} as const;

export const VOUCHER_TAG = 0x56434852; // "VCHR"

/** RelayerSet: version:uint32 k:uint8 n:uint8, then n 256-bit keys, three per cell (header cell included), chained by refs. */
export function buildRelayerSet(version: number, k: number, pubkeys: Buffer[]): Cell {
    let next: Cell | null = null;
    const chunks: Buffer[][] = [];
    for (let i = 0; i < pubkeys.length; i += 3) chunks.push(pubkeys.slice(i, i + 3));
    for (let c = chunks.length - 1; c >= 0; c--) {
        const b = beginCell();
        if (c === 0) b.storeUint(version, 32).storeUint(k, 8).storeUint(pubkeys.length, 8);
        for (const pk of chunks[c]) b.storeBuffer(pk, 32);
        if (next) b.storeRef(next);
        next = b.endCell();
    }
    return next ?? beginCell().storeUint(version, 32).storeUint(k, 8).storeUint(0, 8).endCell();
}

export type CaParams = {
    relayerSet: Cell;
    settleFee: bigint;
    grace: number;
    stakeCode: Cell;
    jettonWallet?: Address | null;
    /** USDT account: JettonCfg (wrappers/Jetton.ts accountJettonCfg) as a second ref */
    jetton?: Cell | null;
};

export function buildCaParams(p: CaParams): Cell {
    const b = beginCell()
        .storeRef(p.relayerSet)
        .storeCoins(p.settleFee)
        .storeUint(p.grace, 32)
        .storeBuffer(p.stakeCode.hash(), 32)
        .storeUint(p.stakeCode.depth(), 16)
        .storeAddress(p.jettonWallet ?? null);
    if (p.jetton) b.storeRef(p.jetton);
    return b.endCell();
}

/** A caps rule (CaCapsRule): a voucher pays at most perVoucher, and at most perPeriod per period (0 = never resets). */
export type CaCapsRule = { perVoucher: bigint; perPeriod: bigint; period: number };

export function buildCaps(c: CaCapsRule): Cell {
    return beginCell().storeCoins(c.perVoucher).storeCoins(c.perPeriod).storeUint(c.period, 32).endCell();
}

export type Voucher = {
    globalId: number;
    account: Address;
    epoch: bigint | number;
    owner: Address;
    cumulative: bigint;
    validUntil: number;
    tag?: number;
};

/** The signed cell: tag:uint32 global_id:int32 target:MsgAddressInt id:uint64 owner cumulative:Coins valid_until:uint32. */
export function buildVoucher(v: Voucher): Cell {
    return beginCell()
        .storeUint(v.tag ?? VOUCHER_TAG, 32)
        .storeInt(v.globalId, 32)
        .storeAddress(v.account)
        .storeUint(BigInt(v.epoch), 64)
        .storeAddress(v.owner)
        .storeCoins(v.cumulative)
        .storeUint(v.validUntil, 32)
        .endCell();
}

/** Signatures after the first, one per cell, chained by refs (the first goes inline in the settle body). */
export function buildSigChain(sigs: Buffer[]): Cell | null {
    let next: Cell | null = null;
    for (let i = sigs.length - 1; i >= 0; i--) {
        const b = beginCell().storeBuffer(sigs[i], 64);
        if (next) b.storeRef(next);
        next = b.endCell();
    }
    return next;
}

/** Signs `payload` with the relayers at `indexes` (ascending): (bitmap, signatures in order). */
export function signKofN(payload: Cell, secretKeys: Buffer[], indexes: number[]): { signers: number; sigs: Buffer[] } {
    let signers = 0;
    const sigs: Buffer[] = [];
    for (const i of indexes) {
        signers |= 1 << i;
        sigs.push(sign(payload.hash(), secretKeys[i]));
    }
    return { signers, sigs };
}

export type ComputeAccountConfig = { hub: Address; client: Address; nonce: bigint };

export function computeAccountInitData(c: ComputeAccountConfig): Cell {
    return beginCell().storeAddress(c.hub).storeAddress(c.client).storeUint(c.nonce, 64).endCell();
}

/** provider_stake address for (hub, owner): initial data hub:MsgAddressInt owner:MsgAddressInt. */
export function stakeAddress(stakeCode: Cell, hub: Address, owner: Address, workchain = 0): Address {
    const data = beginCell().storeAddress(hub).storeAddress(owner).endCell();
    return contractAddress(workchain, { code: stakeCode, data });
}

export class ComputeAccount implements Contract {
    constructor(readonly address: Address, readonly init?: { code: Cell; data: Cell }) {}

    static createFromAddress(address: Address) {
        return new ComputeAccount(address);
    }

    static createFromConfig(config: ComputeAccountConfig, code: Cell, workchain = 0) {
        const data = computeAccountInitData(config);
        const init = { code, data };
        return new ComputeAccount(contractAddress(workchain, init), init);
    }

    static initBody(params: Cell, caps?: Cell | null, queryId = 0n): Cell {
        return beginCell().storeUint(CaOp.init, 32).storeUint(queryId, 64).storeRef(params).storeMaybeRef(caps ?? null).endCell();
    }

    /** Direct deploy by the client (or the hub): state init + params. */
    async sendInit(provider: ContractProvider, via: Sender, value: bigint, params: Cell, caps?: Cell | null) {
        await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: ComputeAccount.initBody(params, caps) });
    }

    async sendDeposit(provider: ContractProvider, via: Sender, value: bigint, queryId = 0n) {
        await provider.internal(via, {
            value, sendMode: SendMode.PAY_GAS_SEPARATELY,
            body: beginCell().storeUint(CaOp.deposit, 32).storeUint(queryId, 64).endCell(),
        });
    }

    /** settle#43410003 query_id:uint64 signers:uint16 voucher:^Voucher sig:bits512 next:^SigChain (only if k > 1) */
    static settleBody(signers: number, sigs: Buffer[], voucher: Cell, queryId = 0n): Cell {
        const b = beginCell().storeUint(CaOp.settle, 32).storeUint(queryId, 64).storeUint(signers, 16).storeRef(voucher);
        if (sigs.length > 0) b.storeBuffer(sigs[0], 64);
        const rest = buildSigChain(sigs.slice(1));
        if (rest) b.storeRef(rest);
        return b.endCell();
    }

    async sendSettle(provider: ContractProvider, via: Sender, value: bigint, signers: number, sigs: Buffer[], voucher: Cell, queryId = 0n) {
        await provider.internal(via, { value, sendMode: SendMode.PAY_GAS_SEPARATELY, body: ComputeAccount.settleBody(signers, sigs, voucher, queryId) });
    }

    async sendRequestWithdraw(provider: ContractProvider, via: Sender, value: bigint, queryId = 0n) {
        await provider.internal(via, {
            value, sendMode: SendMode.PAY_GAS_SEPARATELY,
            body: beginCell().storeUint(CaOp.requestWithdraw, 32).storeUint(queryId, 64).endCell(),
        });
    }

    async sendWithdraw(provider: ContractProvider, via: Sender, value: bigint, queryId = 0n) {
        await provider.internal(via, {
            value, sendMode: SendMode.PAY_GAS_SEPARATELY,
            body: beginCell().storeUint(CaOp.withdraw, 32).storeUint(queryId, 64).endCell(),
        });
    }

    async sendRefreshRelayers(provider: ContractProvider, via: Sender, value: bigint, queryId = 0n) {
        await provider.internal(via, {
            value, sendMode: SendMode.PAY_GAS_SEPARATELY,
            body: beginCell().storeUint(CaOp.refreshRelayers, 32).storeUint(queryId, 64).endCell(),
        });
    }

    async sendSetCaps(provider: ContractProvider, via: Sender, value: bigint, caps: Cell | null, queryId = 0n) {
        await provider.internal(via, {
            value, sendMode: SendMode.PAY_GAS_SEPARATELY,
            body: beginCell().storeUint(CaOp.setCaps, 32).storeUint(queryId, 64).storeMaybeRef(caps).endCell(),
        });
    }

    async getAccountData(provider: ContractProvider) {
        const r = (await provider.get('get_account_state', [])).stack;
        const state = { initialized: r.readBoolean(), balance: r.readBigNumber(), epoch: r.readNumber(), withdrawAt: r.readNumber(), nPaid: r.readNumber() };
        const ids = (await provider.get('get_account_ids', [])).stack;
        return { hub: ids.readAddress(), client: ids.readAddress(), nonce: ids.readBigNumber(), ...state };
    }

    async getAccountParams(provider: ContractProvider) {
        const r = (await provider.get('get_account_params', [])).stack;
        return {
            relayerVersion: r.readNumber(), k: r.readNumber(), n: r.readNumber(), settleFee: r.readBigNumber(),
            grace: r.readNumber(), stakeCodeHash: r.readBigNumber(), relayerSet: r.readCell(), jettonWallet: r.readAddressOpt(),
        };
    }

    async getStakeAddress(provider: ContractProvider, owner: Address): Promise<Address> {
        const tb = new TupleBuilder();
        tb.writeAddress(owner);
        return (await provider.get('get_stake_address', tb.build())).stack.readAddress();
    }

    async getPaid(provider: ContractProvider, owner: Address): Promise<bigint> {
        const tb = new TupleBuilder();
        tb.writeAddress(owner);
        return (await provider.get('get_paid', tb.build())).stack.readBigNumber();
    }

    async getCaps(provider: ContractProvider) {
        const r = (await provider.get('get_caps', [])).stack;
        return {
            perVoucher: r.readBigNumber(), perPeriod: r.readBigNumber(), period: r.readNumber(), periodStart: r.readNumber(),
            spent: r.readBigNumber(), pending: r.readCellOpt(), pendingAt: r.readNumber(),
        };
    }

    async getFees(provider: ContractProvider) {
        const r = (await provider.get('get_fees', [])).stack;
        return { settleMinValue: r.readBigNumber(), depositFee: r.readBigNumber(), initMinValue: r.readBigNumber(), refreshMinValue: r.readBigNumber() };
    }
}

/** Decodes an initialised account's storage (CaStorage in spindle.tlb) without running get-methods. */
export function parseCaStorage(data: Cell) {
    const s = data.beginParse();
    const balance = s.loadCoins();
    const nPaid = s.loadUint(8);
    const paid = s.loadDict(Dictionary.Keys.BigUint(256), Dictionary.Values.BigVarUint(4));
    const caps = s.loadMaybeRef();
    const epoch = s.loadUint(32);
    const withdrawAt = s.loadUint(32);
    const settleFee = s.loadCoins();
    const stakeCodeHash = s.loadUintBig(256);
    const stakeCodeDepth = s.loadUint(16);
    const hub = s.loadAddress();
    const relayers = s.loadRef();
    const st = s.loadRef().beginParse();
    const client = st.loadAddress();
    const nonce = st.loadUintBig(64);
    const grace = st.loadUint(32);
    /** cumulative paid in this epoch to the stake at `stake` (an address) */
    const paidTo = (stake: Address) => paid.get(BigInt('0x' + stake.hash.toString('hex'))) ?? 0n;
    return { balance, nPaid, paid, caps, epoch, withdrawAt, settleFee, stakeCodeHash, stakeCodeDepth, hub, relayers, client, nonce, grace, paidTo };
}
