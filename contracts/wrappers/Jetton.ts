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

/** Spindle's jetton config (EscrowJettonCfg without slash_amount / the account's JettonCfg). */
export function escrowJettonCfg(master: Address, transferTon: bigint, slashAmount: bigint): Cell {
    return beginCell().storeAddress(master).storeBuffer(walletCode.hash(), 32).storeUint(walletCode.depth(), 16)
        .storeCoins(transferTon).storeCoins(slashAmount).endCell();
}
export function accountJettonCfg(master: Address, transferTon: bigint): Cell {
    return beginCell().storeAddress(master).storeBuffer(walletCode.hash(), 32).storeUint(walletCode.depth(), 16)
        .storeCoins(transferTon).endCell();
}
