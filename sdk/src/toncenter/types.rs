//! Response types, shaped exactly like toncenter's JSON (big numbers as decimal
//! strings, hashes as base64), so they also serve a toncenter-compatible API.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{ArcCell, Result, TonHash, boc};

/// A transaction's logical time and hash: the cursor for paging.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TransactionId {
    #[serde(with = "num_str")]
    pub lt: u64,
    #[serde(with = "hash_b64")]
    pub hash: TonHash,
}

/// `getMasterchainInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterchainInfo {
    pub last: BlockId,
    pub init: BlockId,
    pub state_root_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockId {
    pub workchain: i32,
    pub shard: String,
    pub seqno: u32,
    pub root_hash: String,
    pub file_hash: String,
}

/// `getAddressInformation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressInformation {
    #[serde(with = "num_str")]
    pub balance: u128,
    /// Base64 BoC, empty when the account has no code.
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub data: String,
    pub last_transaction_id: TransactionId,
    /// `active`, `uninitialized` or `frozen`.
    pub state: String,
    #[serde(default)]
    pub sync_utime: u64,
}

/// `getWalletInformation`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletInformation {
    pub wallet: bool,
    #[serde(with = "num_str")]
    pub balance: u128,
    pub account_state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seqno: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wallet_id: Option<i64>,
    pub last_transaction_id: TransactionId,
}

/// One element of `getTransactions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub utime: u64,
    /// The whole transaction as a base64 BoC.
    pub data: String,
    pub transaction_id: TransactionId,
    #[serde(with = "num_str")]
    pub fee: u128,
    #[serde(with = "num_str")]
    pub storage_fee: u128,
    #[serde(with = "num_str")]
    pub other_fee: u128,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_msg: Option<RawMessage>,
    #[serde(default)]
    pub out_msgs: Vec<RawMessage>,
}

impl Transaction {
    pub fn cell(&self) -> Result<ArcCell> {
        boc::from_boc_base64(&self.data)
    }

    /// What happened in it (see [`crate::transaction`]).
    pub fn summary(&self) -> Result<crate::transaction::Summary> {
        crate::transaction::parse(&*self.cell()?)
    }
}

/// A message as toncenter prints it inside a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawMessage {
    /// User-friendly address, empty for external messages.
    pub source: String,
    pub destination: String,
    #[serde(with = "num_str")]
    pub value: u128,
    #[serde(with = "num_str")]
    pub fwd_fee: u128,
    #[serde(with = "num_str")]
    pub ihr_fee: u128,
    #[serde(with = "num_str")]
    pub created_lt: u64,
    pub body_hash: String,
    pub msg_data: MsgData,
}

impl RawMessage {
    /// The body cell, if toncenter sent it raw.
    pub fn body(&self) -> Result<Option<ArcCell>> {
        match &self.msg_data {
            MsgData::Raw { body, .. } => boc::from_boc_base64(body).map(Some),
            _ => Ok(None),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "@type")]
pub enum MsgData {
    #[serde(rename = "msg.dataRaw")]
    Raw {
        body: String,
        #[serde(default)]
        init_state: String,
    },
    #[serde(rename = "msg.dataText")]
    Text { text: String },
    #[serde(rename = "msg.dataDecryptedText")]
    DecryptedText { text: String },
    #[serde(rename = "msg.dataEncryptedText")]
    EncryptedText { text: String },
}

/// `sendBocReturnHash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// Hash of the external message cell.
    #[serde(with = "hash_b64")]
    pub hash: TonHash,
}

/// `estimateFee`, in nanotons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeEstimate {
    pub source_fees: Fees,
    #[serde(default)]
    pub destination_fees: Vec<Fees>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fees {
    pub in_fwd_fee: u64,
    pub storage_fee: u64,
    pub gas_fee: u64,
    pub fwd_fee: u64,
}

impl Fees {
    pub fn total(&self) -> u64 {
        self.in_fwd_fee + self.storage_fee + self.gas_fee + self.fwd_fee
    }
}

/// Integers written as decimal strings; numbers are accepted too.
pub mod num_str {
    use super::*;

    pub fn serialize<T: ToString, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: std::str::FromStr,
        D: Deserializer<'de>,
    {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum StrOrNum {
            Str(String),
            Num(serde_json::Number),
        }
        let s = match StrOrNum::deserialize(d)? {
            StrOrNum::Str(s) => s,
            StrOrNum::Num(n) => n.to_string(),
        };
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("not an unsigned integer: {s:?}")))
    }
}

/// 32-byte hashes in standard base64, as toncenter writes them.
pub mod hash_b64 {
    use super::*;

    pub fn serialize<S: Serializer>(h: &TonHash, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(h.as_slice()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<TonHash, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = STANDARD.decode(&s).map_err(serde::de::Error::custom)?;
        TonHash::try_from(bytes.as_slice())
            .map_err(|_| serde::de::Error::custom("hash must be 32 bytes"))
    }
}
