//! What the settlement needs to read from a compute_account: its state, its relayer
//! set and what it has paid each provider (the final word on "settled").

use spindle_sdk::toncenter::{StackArg, StackValue, Toncenter};
use spindle_sdk::{BigInt, TonAddress, TonHash, boc};

/// `get_account_state` of an initialised account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountState {
    pub balance: u128,
    pub epoch: u64,
    /// When a requested withdrawal may happen (0 if none requested).
    pub withdraw_at: u64,
}

fn num(stack: &[StackValue], i: usize, what: &str) -> Result<BigInt, String> {
    stack
        .get(i)
        .and_then(StackValue::as_num)
        .cloned()
        .ok_or_else(|| format!("{what}: stack entry {i} is not a number"))
}

fn uint<T: TryFrom<BigInt>>(stack: &[StackValue], i: usize, what: &str) -> Result<T, String> {
    T::try_from(num(stack, i, what)?).map_err(|_| format!("{what}: entry {i} out of range"))
}

/// The account's state, or `None` if it is not initialised.
pub async fn account_state(
    api: &Toncenter,
    account: &TonAddress,
) -> Result<Option<AccountState>, String> {
    let r = api
        .run_get_method(account, "get_account_state", &[])
        .await
        .map_err(|e| e.to_string())?;
    if num(&r.stack, 0, "get_account_state")? == BigInt::from(0) {
        return Ok(None);
    }
    Ok(Some(AccountState {
        balance: uint(&r.stack, 1, "get_account_state")?,
        epoch: uint(&r.stack, 2, "get_account_state")?,
        withdraw_at: uint(&r.stack, 3, "get_account_state")?,
    }))
}

/// Hash of the relayer-set cell the account snapshotted.
pub async fn relayer_set_hash(api: &Toncenter, account: &TonAddress) -> Result<TonHash, String> {
    let r = api
        .run_get_method(account, "get_account_params", &[])
        .await
        .map_err(|e| e.to_string())?;
    let cell = r
        .stack
        .get(6)
        .and_then(StackValue::as_cell)
        .ok_or("get_account_params: entry 6 is not the relayer set cell")?;
    Ok(cell.cell_hash())
}

/// What the account has paid `owner`'s stake in its current epoch.
pub async fn paid(
    api: &Toncenter,
    account: &TonAddress,
    owner: &TonAddress,
) -> Result<u128, String> {
    let slice = boc::build(|b| b.store_address(owner).map(|_| ())).map_err(|e| e.to_string())?;
    let r = api
        .run_get_method(account, "get_paid", &[StackArg::Slice(slice.into())])
        .await
        .map_err(|e| e.to_string())?;
    uint(&r.stack, 0, "get_paid")
}

/// The chain's current time (the last block's), which `valid_until` is checked against.
pub async fn chain_time(api: &Toncenter, any: &TonAddress) -> Result<u64, String> {
    let info = api
        .get_address_information(any)
        .await
        .map_err(|e| e.to_string())?;
    Ok(info.sync_utime)
}

/// The account's newest transaction id (lt, hash), as the confirmation record.
pub async fn last_transaction(
    api: &Toncenter,
    account: &TonAddress,
) -> Result<(u64, [u8; 32]), String> {
    let txs = api
        .get_transactions(account, 1, None)
        .await
        .map_err(|e| e.to_string())?;
    let tx = txs.first().ok_or("the account has no transactions")?;
    let hash: [u8; 32] = tx
        .transaction_id
        .hash
        .as_slice()
        .try_into()
        .map_err(|_| "hash length")?;
    Ok((tx.transaction_id.lt, hash))
}
