//! What the settlement of an escrow job reads from the chain: the escrow's state
//! (`get_job`), identity (`get_ids`: hub, client, nonce) and snapshotted config (grace,
//! window, relayer set), and the provider stake's operator keys (`get_stake`).

use spindle_sdk::protocol::job_escrow::JobState;
use spindle_sdk::toncenter::{StackValue, Toncenter};
use spindle_sdk::{ArcCell, BigInt, TonAddress, TonHash, VerifyingKey, signing};

fn stack<E: std::fmt::Display>(
    r: Result<spindle_sdk::toncenter::GetMethodResult, E>,
) -> Result<Vec<StackValue>, String> {
    r.map(|r| r.stack).map_err(|e| e.to_string())
}

fn uint<T: TryFrom<BigInt>>(s: &[StackValue], i: usize, what: &str) -> Result<T, String> {
    let n = s
        .get(i)
        .and_then(StackValue::as_num)
        .cloned()
        .ok_or_else(|| format!("{what}: stack entry {i} is not a number"))?;
    T::try_from(n).map_err(|_| format!("{what}: entry {i} out of range"))
}

fn address(s: &[StackValue], i: usize, what: &str) -> Result<TonAddress, String> {
    let cell: &ArcCell = s
        .get(i)
        .and_then(StackValue::as_cell)
        .ok_or_else(|| format!("{what}: stack entry {i} is not a slice"))?;
    cell.parser()
        .load_address()
        .map_err(|e| format!("{what}: entry {i}: {e}"))
}

/// The escrow's `get_job` (state -1 if it is not initialised).
pub async fn job_state(api: &Toncenter, escrow: &TonAddress) -> Result<JobState, String> {
    let s = stack(api.run_get_method(escrow, "get_job", &[]).await)?;
    let ints: Vec<Option<BigInt>> = s.iter().map(|v| v.as_num().cloned()).collect();
    JobState::from_stack(&ints).map_err(|e| e.to_string())
}

/// Who created the escrow: `(hub, client, nonce)`, from which its address derives.
pub async fn escrow_ids(
    api: &Toncenter,
    escrow: &TonAddress,
) -> Result<(TonAddress, TonAddress, u64), String> {
    let s = stack(api.run_get_method(escrow, "get_ids", &[]).await)?;
    Ok((
        address(&s, 0, "get_ids")?,
        address(&s, 1, "get_ids")?,
        uint(&s, 2, "get_ids")?,
    ))
}

/// What the escrow snapshotted at creation and the settlement depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EscrowConfig {
    /// Seconds after the deadline in which `complete` is still accepted.
    pub grace: u32,
    /// Seconds after deadline + grace in which acceptance evidence still slashes.
    pub window: u32,
    /// Hash of the relayer-set cell whose signatures the escrow checks.
    pub relayer_set: TonHash,
}

pub async fn escrow_config(api: &Toncenter, escrow: &TonAddress) -> Result<EscrowConfig, String> {
    let s = stack(api.run_get_method(escrow, "get_config", &[]).await)?;
    let set = s
        .get(6)
        .and_then(StackValue::as_cell)
        .ok_or("get_config: entry 6 is not the relayer set cell")?;
    Ok(EscrowConfig {
        grace: uint(&s, 2, "get_config")?,
        window: uint(&s, 3, "get_config")?,
        relayer_set: set.cell_hash(),
    })
}

/// The operator keys a provider stake accepts signatures from: the current one and,
/// after a rotation, the previous one (kept valid as evidence, protocol rule 4).
pub async fn operator_keys(
    api: &Toncenter,
    stake: &TonAddress,
) -> Result<Vec<VerifyingKey>, String> {
    let s = stack(api.run_get_method(stake, "get_stake", &[]).await)?;
    let mut keys = Vec::new();
    for i in [4, 5] {
        let n: BigInt = uint(&s, i, "get_stake")?;
        if n == BigInt::from(0) {
            continue;
        }
        let (_, bytes) = n.to_bytes_be();
        if bytes.len() > 32 {
            return Err("get_stake: key over 256 bits".into());
        }
        let mut key = [0u8; 32];
        key[32 - bytes.len()..].copy_from_slice(&bytes);
        keys.push(signing::verifying_key(&key).map_err(|e| e.to_string())?);
    }
    Ok(keys)
}

/// The escrow's transaction that ran `op` (`complete` or `expire`) without aborting —
/// the one that changed its state — among its newest 50: `(sender, lt, hash)`.
pub async fn acting_transaction(
    api: &Toncenter,
    escrow: &TonAddress,
    op: u32,
) -> Result<Option<(TonAddress, u64, [u8; 32])>, String> {
    let txs = api
        .get_transactions(escrow, 50, None)
        .await
        .map_err(|e| e.to_string())?;
    for tx in txs {
        let Some(m) = tx.in_msg.as_ref().filter(|m| !m.source.is_empty()) else {
            continue;
        };
        let body_op = m
            .body()
            .ok()
            .flatten()
            .and_then(|b| b.parser().load_u32(32).ok());
        if body_op != Some(op) {
            continue;
        }
        let worked = tx
            .summary()
            .ok()
            .and_then(|s| s.outcome)
            .is_some_and(|o| !o.aborted);
        if !worked {
            continue;
        }
        let sender = spindle_sdk::address::parse_address(&m.source).map_err(|e| e.to_string())?;
        let hash: [u8; 32] = tx
            .transaction_id
            .hash
            .as_slice()
            .try_into()
            .map_err(|_| "hash length")?;
        return Ok(Some((sender, tx.transaction_id.lt, hash)));
    }
    Ok(None)
}
