//! Small builders for test data.

use spindle_relayer::store::{ChainEvent, ChainTx, NewJob};

pub const HUB: &str = "0:1111111111111111111111111111111111111111111111111111111111111111";

/// A 32-byte value made from a small number (hashes, keys).
pub fn h(n: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&n.to_be_bytes());
    out[31] = 0xaa;
    out
}

/// A 64-byte signature-shaped value.
pub fn sig(n: u64) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..8].copy_from_slice(&n.to_be_bytes());
    out[63] = 0x55;
    out
}

pub fn escrow(i: u64) -> String {
    format!("0:{:064x}", 0xe5c0_0000_u64 + i)
}

/// A funded job with deadline `deadline`.
pub fn job(i: u64, deadline: i64) -> NewJob {
    NewJob {
        escrow: escrow(i),
        client: format!("0:{:064x}", 0xc1_u64),
        nonce: i,
        asset: "TON".into(),
        amount: 1_000_000_000 + i,
        deadline,
        spec_hash: h(1000 + i),
    }
}

pub fn tx(account: &str, lt: u64) -> ChainTx {
    ChainTx {
        account: account.to_owned(),
        lt,
        hash: h(lt),
    }
}

pub fn funded(i: u64, deadline: i64) -> Vec<ChainEvent> {
    vec![ChainEvent::JobFunded(job(i, deadline))]
}
