//! The relayer set and k-of-n proofs.
//!
//! A set is `version:uint32 k:uint8 n:uint8` followed by the n ed25519 keys,
//! three per cell (the header cell included), chained by refs. A proof names
//! its signers as a bitmap over the set (bit i = relayer i, so indexes are
//! strictly ascending and no signer counts twice) and carries exactly k
//! signatures in that order: the first inline, each next one in a ref of the
//! previous (a ref-chain keeps every cell under 1023 bits).

use super::{arc, cell};
use crate::{
    ArcCell, Cell, CellBuilder, Error, Result, Signature, SigningKey, VerifyingKey, signing,
};

/// At most this many relayers: more CHKSIGNU per transaction costs extra gas.
pub const MAX_RELAYERS: usize = 10;

/// A versioned set of relayer keys with threshold `k`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayerSet {
    pub version: u32,
    pub k: u8,
    pub keys: Vec<VerifyingKey>,
}

impl RelayerSet {
    /// Checks 1 ≤ k ≤ n ≤ 10, as the contracts do.
    pub fn new(version: u32, k: u8, keys: Vec<VerifyingKey>) -> Result<Self> {
        if k == 0 || usize::from(k) > keys.len() || keys.len() > MAX_RELAYERS {
            return Err(Error::Key(format!(
                "relayer set needs 1 <= k <= n <= {MAX_RELAYERS}, got k={k} n={}",
                keys.len()
            )));
        }
        Ok(Self { version, k, keys })
    }

    /// The set's cell, as the hub and children store it.
    pub fn to_cell(&self) -> Result<Cell> {
        let chunks: Vec<&[VerifyingKey]> = self.keys.chunks(3).collect();
        let mut next: Option<ArcCell> = None;
        for (i, chunk) in chunks.iter().enumerate().rev() {
            let c = cell(|b| {
                if i == 0 {
                    b.store_u32(32, self.version)?.store_u8(8, self.k)?;
                    b.store_u8(8, self.keys.len() as u8)?;
                }
                for key in *chunk {
                    b.store_slice(key.as_bytes())?;
                }
                if let Some(n) = &next {
                    b.store_reference(n)?;
                }
                Ok(())
            })?;
            next = Some(arc(c));
        }
        match next {
            Some(c) => Ok((*c).clone()),
            None => unreachable!("RelayerSet::new refuses an empty set"),
        }
    }

    /// Index of `key` in the set.
    pub fn index_of(&self, key: &VerifyingKey) -> Option<usize> {
        self.keys.iter().position(|k| k == key)
    }
}

/// Exactly k signatures over one payload, with their signers' bitmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub signers: u16,
    /// In ascending signer order.
    pub signatures: Vec<Signature>,
}

impl Proof {
    /// Collects signatures `(relayer index, signature)` in any order: sorted,
    /// deduplicated by index, and cut to the first `k`.
    pub fn from_signatures(k: u8, mut sigs: Vec<(usize, Signature)>) -> Result<Self> {
        sigs.sort_by_key(|(i, _)| *i);
        sigs.dedup_by_key(|(i, _)| *i);
        sigs.truncate(usize::from(k));
        if sigs.len() < usize::from(k) || sigs.iter().any(|(i, _)| *i >= MAX_RELAYERS) {
            return Err(Error::Key(format!(
                "a proof needs {k} distinct relayer signatures, got {}",
                sigs.len()
            )));
        }
        Ok(Self {
            signers: sigs.iter().fold(0, |m, (i, _)| m | (1 << i)),
            signatures: sigs.into_iter().map(|(_, s)| s).collect(),
        })
    }

    /// Signs `payload` with the given `(index, key)` relayers (a test and demo
    /// helper: real relayers sign separately and exchange signatures).
    pub fn sign(k: u8, payload: &Cell, keys: &[(usize, &SigningKey)]) -> Result<Self> {
        let sigs = keys
            .iter()
            .map(|(i, key)| (*i, signing::sign(key, payload)))
            .collect();
        Self::from_signatures(k, sigs)
    }

    /// Writes `signers:uint16`, the payload as a ref, the first signature
    /// inline and the rest as a ref-chain — the layout every proof-taking op
    /// shares after its op and query id.
    pub fn store(&self, b: &mut CellBuilder, payload: &Cell) -> Result<()> {
        b.store_u16(16, self.signers)?;
        b.store_child(payload.clone())?;
        let mut next: Option<ArcCell> = None;
        for sig in self.signatures.iter().skip(1).rev() {
            let c = cell(|c| {
                c.store_slice(&sig.to_bytes())?;
                if let Some(n) = &next {
                    c.store_reference(n)?;
                }
                Ok(())
            })?;
            next = Some(arc(c));
        }
        if let Some(first) = self.signatures.first() {
            b.store_slice(&first.to_bytes())?;
        }
        if let Some(n) = &next {
            b.store_reference(n)?;
        }
        Ok(())
    }
}
