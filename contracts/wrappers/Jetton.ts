// A real TEP-74 jetton for the USDT tests: the reference jetton minter and
// wallet (token-contract) as compiled and shipped by @ton-community/assets-sdk,
// plus the message bodies Spindle's USDT paths use. Layouts: TEP-74.
import { Address, beginCell, Cell, contractAddress } from '@ton/core';
// deep imports: only the compiled code, not the SDK's CLI and its dependencies
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { jettonMinterCode } = require('@ton-community/assets-sdk/dist/jetton/contracts/build/jetton-minter');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { jettonWalletCode } = require('@ton-community/assets-sdk/dist/jetton/contracts/build/jetton-wallet');

export const minterCode: Cell = Cell.fromBase64(jettonMinterCode.codeBoc);
export const walletCode: Cell = Cell.fromBase64(jettonWalletCode.codeBoc);

export const JettonOp = {
    transfer: 0x0f8a7ea5, notification: 0x7362d09c, internalTransfer: 0x178d4519, excesses: 0xd53276db, mint: 21,
} as const;

/** Reference minter data: total_supply:Coins admin:MsgAddress content:^Cell wallet_code:^Cell. */
export function minterData(admin: Address): Cell {
    return beginCell().storeCoins(0).storeAddress(admin).storeRef(beginCell().storeUint(1, 8).endCell()).storeRef(walletCode).endCell();
}
export function minterAddress(admin: Address): Address {
    return contractAddress(0, { code: minterCode, data: minterData(admin) });
}
/** The wallet `master` deploys for `owner` (reference layout: balance owner master code). */
export function walletAddress(master: Address, owner: Address): Address {
    const data = beginCell().storeCoins(0).storeAddress(owner).storeAddress(master).storeRef(walletCode).endCell();
    return contractAddress(0, { code: walletCode, data });
}
/** Minter `mint` (op 21, admin only): `amount` jettons to `to`'s wallet, `ton` attached to it. */
export function mintBody(to: Address, amount: bigint, ton: bigint, queryId = 0n): Cell {
    const internal = beginCell().storeUint(JettonOp.internalTransfer, 32).storeUint(queryId, 64).storeCoins(amount)
        .storeAddress(null).storeAddress(null).storeCoins(0).storeBit(0).endCell();
    return beginCell().storeUint(JettonOp.mint, 32).storeUint(queryId, 64).storeAddress(to).storeCoins(ton).storeRef(internal).endCell();
}
/** TEP-74 `transfer`, sent by a wallet's owner to its wallet. */
export function transferBody(amount: bigint, to: Address, response: Address | null, forwardTon: bigint, queryId = 0n, forwardPayload: Cell | null = null): Cell {
    const b = beginCell().storeUint(JettonOp.transfer, 32).storeUint(queryId, 64).storeCoins(amount).storeAddress(to)
        .storeAddress(response).storeBit(0).storeCoins(forwardTon);
    if (forwardPayload) b.storeBit(1).storeRef(forwardPayload); else b.storeBit(0);
    return b.endCell();
}
/** A transfer_notification as a jetton wallet would send it (for fake-sender tests). */
export function notificationBody(amount: bigint, from: Address, queryId = 0n): Cell {
    return beginCell().storeUint(JettonOp.notification, 32).storeUint(queryId, 64).storeCoins(amount).storeAddress(from).storeBit(0).endCell();
}

/** Jetton wallet data layouts Spindle's children can compute addresses for (JettonCfg.wallet_layout). */
export const WalletLayout = { reference: 0, governed: 1 } as const;
/** Which wallet a USDT child expects: layout + the StateInit code cell's (hash, depth) (for a library cell: its own). */
export type WalletSpec = { layout: number; codeHash: Buffer; codeDepth: number };
export const referenceWallet: WalletSpec = { layout: WalletLayout.reference, codeHash: walletCode.hash(), codeDepth: walletCode.depth() };

/** Spindle's JettonCfg: master wallet_layout:uint4 wallet_code_hash wallet_code_depth transfer_ton (+ slash_amount for an escrow). */
export function jettonCfgBuilder(master: Address, transferTon: bigint, wallet: WalletSpec = referenceWallet) {
    return beginCell().storeAddress(master).storeUint(wallet.layout, 4).storeBuffer(wallet.codeHash, 32).storeUint(wallet.codeDepth, 16)
        .storeCoins(transferTon);
}
export function escrowJettonCfg(master: Address, transferTon: bigint, slashAmount: bigint, wallet: WalletSpec = referenceWallet): Cell {
    return jettonCfgBuilder(master, transferTon, wallet).storeCoins(slashAmount).endCell();
}
export function accountJettonCfg(master: Address, transferTon: bigint, wallet: WalletSpec = referenceWallet): Cell {
    return jettonCfgBuilder(master, transferTon, wallet).endCell();
}

// ---- governed stablecoin layout (tests/fixtures/governed_*.fc, written for the tests)
/** Library cell standing for `code` (a StateInit holding it runs `code` once the library is published). */
export function libraryCell(code: Cell): Cell {
    return beginCell().storeUint(2, 8).storeBuffer(code.hash(), 32).endCell({ exotic: true });
}
export const GovernedOp = { mint: 0x642b7d07, setStatus: 0xeed236d3 } as const;
/** Governed minter data: total_supply:Coins admin:MsgAddressInt wallet_code:^Cell (the library cell). */
export function governedMinterData(admin: Address, walletLib: Cell): Cell {
    return beginCell().storeCoins(0).storeAddress(admin).storeRef(walletLib).endCell();
}
/** Governed wallet address (data: status:uint4 balance:Coins owner master, code = the library cell). */
export function governedWalletAddress(master: Address, owner: Address, walletLib: Cell): Address {
    const data = beginCell().storeUint(0, 4).storeCoins(0).storeAddress(owner).storeAddress(master).endCell();
    return contractAddress(0, { code: walletLib, data });
}
export function governedMintBody(to: Address, amount: bigint, ton: bigint, queryId = 0n): Cell {
    return beginCell().storeUint(GovernedOp.mint, 32).storeUint(queryId, 64).storeAddress(to).storeCoins(ton).storeCoins(amount).endCell();
}
export function governedSetStatusBody(owner: Address, status: number, queryId = 0n): Cell {
    return beginCell().storeUint(GovernedOp.setStatus, 32).storeUint(queryId, 64).storeAddress(owner).storeUint(status, 4).endCell();
}
