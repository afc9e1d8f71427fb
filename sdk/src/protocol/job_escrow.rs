//! job_escrow messages: one escrow per (hub, client, nonce) holds one job's
//! payment until k-of-n relayers sign its completion (JCMP), or refunds it
//! after the deadline — slashing the provider's stake when the operator had
//! signed an acceptance (JACC) and nothing was delivered.
//! See `contracts/Specification.md`, section job_escrow.

use super::jetton::JettonCfg;
use super::relayer_set::{Proof, RelayerSet};
use super::{arc, cell, coins, expect_op, load_coins_u128};
use crate::message::StateInit;
use crate::signing::{PayloadHeader, tag};
use crate::{ArcCell, BigInt, Cell, CellParser, Result, Signature, TonAddress};

/// Op codes (contracts/func/op-codes.fc).
pub mod op {
    pub const CREATE: u32 = 0x4a42_0001;
    pub const COMPLETE: u32 = 0x4a42_0002;
    pub const EXPIRE: u32 = 0x4a42_0003;
    pub const DELIVERED: u32 = 0x4a42_0004;
    /// Escrow → client: the refund / remainder.
    pub const REFUND: u32 = 0x4a42_0005;
    /// Escrow → poster: the settlement fee.
    pub const SETTLE_FEE: u32 = 0x4a42_0006;
    /// Escrow → treasury: the protocol fee.
    pub const FEE: u32 = 0x4a42_0007;
    /// Provider stake → client / treasury / finder: slash proceeds.
    pub const STAKE_SLASHED: u32 = 0x5354_000a;
    /// Client (or hub) → escrow: deploy a USDT job, opened by its jettons.
    pub const CREATE_USDT: u32 = 0x4a42_0008;
    /// Anyone → USDT escrow: send jettons owed after a refused transfer to the client.
    pub const CLAIM: u32 = 0x4a42_0009;
}

/// The completion tag, "JCMP".
pub const COMPLETE_TAG: u32 = tag(b"JCMP");
/// The acceptance tag, "JACC".
pub const ACCEPT_TAG: u32 = tag(b"JACC");
/// The worker's result tag, "JRES" (checked off-chain by every relayer that signs).
pub const RESULT_TAG: u32 = tag(b"JRES");

/// Kept by the escrow forever (`je::reserve`), nanotons.
pub const RESERVE: u128 = 2_000_000;
/// Gas budgets the escrow charges (`je::gas_*`), in gas units.
pub const GAS_CREATE: u128 = 7_000;
/// What a poster attaches for `complete`'s gas (2-of-3 uses 11.7k, each
/// further signature ≈ 0.6k; the escrow checks no minimum and returns the
/// unspent value, mode 64).
pub const GAS_COMPLETE: u128 = 15_000;
pub const GAS_EXPIRE: u128 = 9_000;
pub const GAS_EXPIRE_SLASH: u128 = 14_000;
/// provider_stake's slash handler budget (`je::gas_stake_slash`).
pub const GAS_STAKE_SLASH: u128 = 16_000;

/// States `get_job` reports (-1: not initialised).
pub const OPEN: i8 = 0;
pub const COMPLETED: i8 = 1;
pub const EXPIRED: i8 = 2;
/// A USDT job deployed, waiting for exactly its amount in jettons.
pub const FUNDING: i8 = 3;

/// USDT escrows' create budget (`je::gas_create_usdt`).
pub const GAS_CREATE_USDT: u128 = 11_000;
/// TON a payer should forward with the jettons that fund a USDT escrow: covers
/// the notification handler (gas 9000) and, if the escrow refuses them, the
/// transfer back (Specification.md "USDT (jettons)": ≥ 0.0036, 0.06 recommended).
pub const USDT_FUND_FORWARD_TON: u128 = 60_000_000;

/// The escrow's initial data, which fixes its address (protocol rule 6).
pub fn init_data(hub: &TonAddress, client: &TonAddress, nonce: u64) -> Result<Cell> {
    cell(|b| {
        b.store_address(hub)?
            .store_address(client)?
            .store_u64(64, nonce)?;
        Ok(())
    })
}

/// The escrow code as every escrow's StateInit carries it: the library
/// reference cell of the compiled code (`libraryRef` in
/// `contracts/build/job_escrow.json`). This is the one place the Rust side
/// gets it: the hub's codes, the stakes' `escrow_code` (hash + depth 0), and
/// every escrow address derivation (SDK, relayers, CLI) take it from here, so
/// all of them agree with the escrows the hub and clients deploy. The code
/// itself runs only once published as a masterchain library
/// ([`library_code`]; `contracts/Specification.md`, "Escrow code as a
/// masterchain library cell").
pub fn code() -> Result<ArcCell> {
    Ok(escrow_artifact()?.1.clone())
}

/// The compiled escrow code that a librarian publishes in the masterchain's
/// public libraries (the devnet does at genesis), under its hash.
pub fn library_code() -> Result<ArcCell> {
    Ok(escrow_artifact()?.0.clone())
}

/// (code, library reference), parsed and checked once.
fn escrow_artifact() -> Result<&'static (ArcCell, ArcCell)> {
    static PARSED: std::sync::OnceLock<std::result::Result<(ArcCell, ArcCell), String>> =
        std::sync::OnceLock::new();
    let parsed = PARSED.get_or_init(|| {
        let a = crate::artifact!("job_escrow").map_err(|e| e.to_string())?;
        let lib = a
            .library_ref
            .ok_or("job_escrow.json has no libraryRef (run npm run build in contracts/)")?;
        Ok((a.code, lib))
    });
    parsed.as_ref().map_err(|reason| crate::Error::Artifact {
        path: "contracts/build/job_escrow.json".into(),
        reason: reason.clone(),
    })
}

/// The escrow's state init; `code` is normally [`code`] (the library reference).
pub fn state_init(
    code: ArcCell,
    hub: &TonAddress,
    client: &TonAddress,
    nonce: u64,
) -> Result<StateInit> {
    Ok(StateInit::new(code, arc(init_data(hub, client, nonce)?)))
}

/// What the escrow snapshots at create (`EscrowCfg`), normally the hub's params.
#[derive(Debug, Clone)]
pub struct Config {
    /// Paid to whoever posts `complete` or `expire` (protocol rule 11), nanotons.
    pub settle_fee: u128,
    /// Protocol fee on the pay, basis points (to the treasury).
    pub fee_bps: u16,
    /// Seconds after the deadline during which a completion is still accepted.
    pub grace: u32,
    /// Seconds after deadline + grace during which slashing evidence is accepted.
    pub window: u32,
    /// provider_stake's code: payouts and slashes go to the stake derived from (hub, owner).
    pub stake_code: ArcCell,
    pub treasury: TonAddress,
    pub relayers: RelayerSet,
}

impl Config {
    pub fn to_cell(&self) -> Result<Cell> {
        let relayers = self.relayers.to_cell()?;
        cell(|b| {
            b.store_coins(&coins(self.settle_fee))?
                .store_u16(16, self.fee_bps)?;
            b.store_u32(32, self.grace)?.store_u32(32, self.window)?;
            b.store_tonhash(&self.stake_code.cell_hash())?;
            b.store_u16(16, self.stake_code.cell_depth())?;
            b.store_address(&self.treasury)?.store_child(relayers)?;
            Ok(())
        })
    }

    /// The protocol fee the treasury takes from `pay`.
    pub fn fee(&self, pay: u128) -> u128 {
        pay * u128::from(self.fee_bps) / 10_000
    }
}

/// The job's terms.
#[derive(Debug, Clone)]
pub struct Job {
    /// The payment held, nanotons.
    pub amount: u128,
    /// Unix time by which the provider must deliver.
    pub deadline: u32,
    /// Hash of the job's specification (off-chain).
    pub spec_hash: [u8; 32],
}

/// `create` body: sent with the state init by the hub or the client itself,
/// with at least amount + settle fee + [`RESERVE`] + the create gas.
pub fn create_body(job: &Job, config: &Config, query_id: u64) -> Result<Cell> {
    let cfg = config.to_cell()?;
    cell(|b| {
        b.store_u32(32, op::CREATE)?.store_u64(64, query_id)?;
        b.store_coins(&coins(job.amount))?
            .store_u32(32, job.deadline)?;
        b.store_slice(&job.spec_hash)?.store_child(cfg)?;
        Ok(())
    })
}

/// `create_usdt` body (protocol rule 7): as [`create_body`] with the job amount
/// in jetton units, plus `EscrowJettonCfg` (the hub's accepted [`JettonCfg`]
/// and `slash_amount`, the nanoTON the provider's stake is slashed against).
/// Sent with the state init and settle fee + [`RESERVE`] + gas(11000) in TON;
/// the escrow waits in [`FUNDING`] until [`usdt_fund_body`]'s jettons arrive.
pub fn create_usdt_body(
    job: &Job,
    config: &Config,
    jetton: &JettonCfg,
    slash_amount: u128,
    query_id: u64,
) -> Result<Cell> {
    let cfg = config.to_cell()?;
    let jc = jetton.escrow_cell(slash_amount)?;
    cell(|b| {
        b.store_u32(32, op::CREATE_USDT)?.store_u64(64, query_id)?;
        b.store_coins(&coins(job.amount))?
            .store_u32(32, job.deadline)?;
        b.store_slice(&job.spec_hash)?.store_child(cfg)?;
        b.store_child(jc)?;
        Ok(())
    })
}

/// The jetton `transfer` the payer sends to **its own** jetton wallet to fund
/// a USDT escrow: exactly the job amount, excess TON back to the payer, and
/// [`USDT_FUND_FORWARD_TON`] forwarded so the escrow is notified (attach that
/// plus the wallet's fees, e.g. 0.06 TON more).
pub fn usdt_fund_body(
    escrow: &TonAddress,
    amount: u128,
    payer: &TonAddress,
    query_id: u64,
) -> Result<Cell> {
    super::jetton::transfer_body(amount, escrow, payer, USDT_FUND_FORWARD_TON, None, query_id)
}

/// A parsed `create_usdt` body.
#[derive(Debug, Clone)]
pub struct CreateUsdt {
    pub create: Create,
    pub jetton: JettonCfg,
    pub slash_amount: u128,
}

/// Reads a `create_usdt` body (a USDT escrow's first transaction).
pub fn parse_create_usdt(body: &Cell) -> Result<CreateUsdt> {
    let mut p = body.parser();
    let create = parse_create_fields(&mut p, op::CREATE_USDT)?;
    let jc = p.next_reference()?;
    let mut j = jc.parser();
    let jetton = JettonCfg::load(&mut j)?;
    let slash_amount = load_coins_u128(&mut j, "slash amount")?;
    Ok(CreateUsdt {
        create,
        jetton,
        slash_amount,
    })
}

/// A parsed `create` body: the job's terms and the config cell the escrow snapshots.
#[derive(Debug, Clone)]
pub struct Create {
    pub query_id: u64,
    pub job: Job,
    /// `EscrowCfg` as sent (settle fee, fee bps, grace, window, stake code, treasury, set).
    pub config: ArcCell,
}

/// Reads a `create` body (what the watcher decodes from an escrow's first transaction).
pub fn parse_create(body: &Cell) -> Result<Create> {
    parse_create_fields(&mut body.parser(), op::CREATE)
}

/// The fields `create` and `create_usdt` share: op, query id, the job's terms and
/// the config cell.
fn parse_create_fields(p: &mut CellParser, expected: u32) -> Result<Create> {
    let query_id = expect_op(p, expected)?;
    let amount = load_coins_u128(p, "create amount")?;
    let deadline = p.load_u32(32)?;
    let mut spec_hash = [0u8; 32];
    spec_hash.copy_from_slice(&p.load_bytes(32)?);
    let config = p.next_reference()?;
    Ok(Create {
        query_id,
        job: Job {
            amount,
            deadline,
            spec_hash,
        },
        config,
    })
}

/// A parsed `complete` body (the signatures are left unread: the escrow checked them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complete {
    pub query_id: u64,
    pub provider_owner: TonAddress,
    pub pay: u64,
    pub result_hash: [u8; 32],
    pub signers: u16,
}

/// Reads a `complete` body.
pub fn parse_complete(body: &Cell) -> Result<Complete> {
    let mut p = body.parser();
    let query_id = expect_op(&mut p, op::COMPLETE)?;
    let provider_owner = p.load_address()?;
    let pay = p.load_u64(64)?;
    let mut result_hash = [0u8; 32];
    result_hash.copy_from_slice(&p.load_bytes(32)?);
    let signers = p.load_u16(16)?;
    Ok(Complete {
        query_id,
        provider_owner,
        pay,
        result_hash,
        signers,
    })
}

/// Reads an `expire` body: its query id and the evidence's provider owner, if any.
pub fn parse_expire(body: &Cell) -> Result<(u64, Option<TonAddress>)> {
    let mut p = body.parser();
    let query_id = expect_op(&mut p, op::EXPIRE)?;
    let evidence = match p.load_bit()? {
        true => Some(p.next_reference()?.parser().load_address()?),
        false => None,
    };
    Ok((query_id, evidence))
}

/// A completion: the relayers attest that `provider_owner`'s job at `escrow`
/// is done and earns `pay` (≤ amount; the client gets the rest back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub global_id: i32,
    pub escrow: TonAddress,
    pub nonce: u64,
    pub provider_owner: TonAddress,
    pub pay: u64,
    pub result_hash: [u8; 32],
}

impl Completion {
    /// The signed cell (982 bits, no refs). The escrow hashes these bits
    /// without building the cell; the hash is the cell's representation hash.
    pub fn payload(&self) -> Result<Cell> {
        let header = PayloadHeader {
            tag: COMPLETE_TAG,
            global_id: self.global_id,
            target: self.escrow.clone(),
            id: self.nonce,
        };
        header.cell_with(|b| {
            b.store_address(&self.provider_owner)?;
            b.store_u64(64, self.pay)?.store_slice(&self.result_hash)?;
            Ok(())
        })
    }
}

/// The escrow's signature chain: the first signature in the root cell, each
/// next one in a ref of the previous (`sigs:^SigChain` in `complete`). This is
/// not [`Proof::store`]'s layout (which puts the first signature inline in the
/// body, after the payload ref).
pub fn sig_chain(proof: &Proof) -> Result<Cell> {
    let mut next: Option<ArcCell> = None;
    for sig in proof.signatures.iter().rev() {
        let c = cell(|c| {
            c.store_slice(&sig.to_bytes())?;
            if let Some(n) = &next {
                c.store_reference(n)?;
            }
            Ok(())
        })?;
        next = Some(arc(c));
    }
    match next {
        Some(c) => Ok((*c).clone()),
        None => Err(crate::Error::Key(
            "a proof needs at least one signature".into(),
        )),
    }
}

/// `complete` body: `provider pay:uint64 result_hash:uint256 signers:uint16
/// sigs:^SigChain` — the payload itself is not sent; the escrow rebuilds it.
/// Post it with enough value for its gas (`GAS_COMPLETE`; too little runs out
/// of gas and changes nothing); the poster gets the settlement fee plus what
/// is left of that value after the gas, less its message's forward fee.
pub fn complete_body(completion: &Completion, proof: &Proof, query_id: u64) -> Result<Cell> {
    let sigs = sig_chain(proof)?;
    cell(|b| {
        b.store_u32(32, op::COMPLETE)?.store_u64(64, query_id)?;
        b.store_address(&completion.provider_owner)?;
        b.store_u64(64, completion.pay)?
            .store_slice(&completion.result_hash)?;
        b.store_u16(16, proof.signers)?.store_child(sigs)?;
        Ok(())
    })
}

/// An acceptance: the provider's operator key attests that `provider_owner`'s
/// stake took job `nonce` at `escrow` — the evidence that slashes the stake if
/// the job expires undelivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    pub global_id: i32,
    pub escrow: TonAddress,
    pub nonce: u64,
    pub provider_owner: TonAddress,
}

impl Acceptance {
    /// The cell the operator signs.
    pub fn payload(&self) -> Result<Cell> {
        let header = PayloadHeader {
            tag: ACCEPT_TAG,
            global_id: self.global_id,
            target: self.escrow.clone(),
            id: self.nonce,
        };
        header.cell_with(|b| {
            b.store_address(&self.provider_owner)?;
            Ok(())
        })
    }
}

/// A worker's result for an escrow job: the provider's operator key attests
/// that `provider_owner`'s worker produced `result_hash` (SHA-256 of the
/// result body) with this usage for job `nonce` at `escrow`. Relayers sign a
/// completion only over a result carrying a valid signature of this payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobResult {
    pub global_id: i32,
    pub escrow: TonAddress,
    pub nonce: u64,
    pub provider_owner: TonAddress,
    pub result_hash: [u8; 32],
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl JobResult {
    /// The cell the operator signs (the usage in a ref: header, owner and hash
    /// already take 918 of a cell's 1023 bits).
    pub fn payload(&self) -> Result<Cell> {
        let usage = cell(|b| {
            b.store_u64(64, self.input_tokens)?
                .store_u64(64, self.output_tokens)?;
            Ok(())
        })?;
        let header = PayloadHeader {
            tag: RESULT_TAG,
            global_id: self.global_id,
            target: self.escrow.clone(),
            id: self.nonce,
        };
        header.cell_with(|b| {
            b.store_address(&self.provider_owner)?
                .store_slice(&self.result_hash)?;
            b.store_child(usage)?;
            Ok(())
        })
    }
}

/// `expire` body: `evidence:(Maybe ^(provider:MsgAddressInt sig:bits512))`.
/// Without evidence it only refunds an open job; with an acceptance signature
/// it also slashes the provider's stake (attach at least `GAS_EXPIRE_SLASH +
/// GAS_STAKE_SLASH` gas + 7 forward lumps).
pub fn expire_body(evidence: Option<(&TonAddress, &Signature)>, query_id: u64) -> Result<Cell> {
    let ev = match evidence {
        Some((provider, sig)) => Some(cell(|b| {
            b.store_address(provider)?.store_slice(&sig.to_bytes())?;
            Ok(())
        })?),
        None => None,
    };
    cell(|b| {
        b.store_u32(32, op::EXPIRE)?.store_u64(64, query_id)?;
        match ev {
            Some(c) => b.store_bit(true)?.store_child(c)?,
            None => b.store_bit(false)?,
        };
        Ok(())
    })
}

/// What `get_job` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobState {
    /// [`OPEN`], [`COMPLETED`], [`EXPIRED`], or -1 before `create`.
    pub state: i8,
    pub delivered: bool,
    pub slashed: bool,
    pub amount: u128,
    pub deadline: u32,
    pub spec_hash: [u8; 32],
}

impl JobState {
    /// From `get_job`'s stack `(state, delivered, slashed, amount, deadline, spec_hash)`.
    pub fn from_stack(stack: &[Option<BigInt>]) -> Result<Self> {
        let n = |i: usize| -> Result<&BigInt> {
            stack
                .get(i)
                .and_then(|v| v.as_ref())
                .ok_or_else(|| crate::Error::Key(format!("get_job: no integer at {i}")))
        };
        let small = |i: usize| -> Result<i128> {
            i128::try_from(n(i)?)
                .map_err(|_| crate::Error::Key(format!("get_job: value {i} too large")))
        };
        let (_, bytes) = n(5)?.to_bytes_be();
        let mut spec_hash = [0u8; 32];
        if bytes.len() > 32 {
            return Err(crate::Error::Key("get_job: spec hash over 256 bits".into()));
        }
        spec_hash[32 - bytes.len()..].copy_from_slice(&bytes);
        Ok(Self {
            state: small(0)? as i8,
            delivered: small(1)? != 0,
            slashed: small(2)? != 0,
            amount: small(3)? as u128,
            deadline: small(4)? as u32,
            spec_hash,
        })
    }
}

/// The canonical bytes of a job spec: its JSON with every object's keys sorted
/// (by their UTF-8 bytes), no insignificant whitespace, strings and numbers as
/// `serde_json` writes them. [`spec_hash`] hashes these bytes; a client that
/// hashes the spec with another JSON writer must produce exactly these bytes.
pub fn canonical_spec(spec: &serde_json::Value) -> Vec<u8> {
    fn write(v: &serde_json::Value, out: &mut Vec<u8>) {
        use serde_json::Value;
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend(serde_json::to_vec(k).expect("a string serializes"));
                    out.push(b':');
                    write(&map[k], out);
                }
                out.push(b'}');
            }
            Value::Array(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(item, out);
                }
                out.push(b']');
            }
            scalar => out.extend(serde_json::to_vec(scalar).expect("a scalar serializes")),
        }
    }
    let mut out = Vec::new();
    write(spec, &mut out);
    out
}

/// The `spec_hash` a job escrow holds for `spec` (an OpenAI request body such
/// as `{"model", "messages", "max_tokens", …}`): SHA-256 of [`canonical_spec`].
pub fn spec_hash(spec: &serde_json::Value) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(canonical_spec(spec)).into()
}

/// The tag of a client's request to read its job's result, "JGET".
pub const READ_RESULT_TAG: u32 = tag(b"JGET");

/// A client's proof that it may read job `nonce`'s result from `relayer`:
/// signed with the key of the client's wallet (the escrow's `client`, whose
/// public key its `get_public_key` get-method reports). Never acted on
/// on-chain; the tag keeps it from being valid for anything else, and
/// `valid_until` bounds how long an intercepted one is worth anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRead {
    pub global_id: i32,
    pub escrow: TonAddress,
    pub nonce: u64,
    /// The relayer asked (its identity address), so one relayer cannot replay
    /// the request to another.
    pub relayer: TonAddress,
    /// Unix seconds after which the relayer refuses it.
    pub valid_until: u32,
}

impl ResultRead {
    /// The cell the client signs.
    pub fn payload(&self) -> Result<Cell> {
        let header = PayloadHeader {
            tag: READ_RESULT_TAG,
            global_id: self.global_id,
            target: self.escrow.clone(),
            id: self.nonce,
        };
        header.cell_with(|b| {
            b.store_address(&self.relayer)?
                .store_u32(32, self.valid_until)?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod spec_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_hash_ignores_key_order_and_whitespace_but_not_values() {
        let a: serde_json::Value = serde_json::from_str(
            r#"{"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hé"}]}"#,
        )
        .unwrap();
        let b =
            json!({"messages": [{"content": "hé", "role": "user"}], "max_tokens": 8, "model": "m"});
        assert_eq!(spec_hash(&a), spec_hash(&b));
        assert_eq!(
            canonical_spec(&a),
            r#"{"max_tokens":8,"messages":[{"content":"hé","role":"user"}],"model":"m"}"#
                .as_bytes()
        );
        let c =
            json!({"messages": [{"content": "hé", "role": "user"}], "max_tokens": 9, "model": "m"});
        assert_ne!(spec_hash(&a), spec_hash(&c));
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;
    use crate::protocol::relayer_set::RelayerSet;

    fn addr(b: u8) -> TonAddress {
        TonAddress::new(0, crate::TonHash::from([b; 32]))
    }

    fn config() -> Config {
        let keys = (1..=3u8)
            .map(|i| crate::SigningKey::from_bytes(&[i; 32]).verifying_key())
            .collect();
        Config {
            settle_fee: 10,
            fee_bps: 500,
            grace: 60,
            window: 3600,
            stake_code: arc(Cell::default()),
            treasury: addr(9),
            relayers: RelayerSet::new(1, 2, keys).unwrap(),
        }
    }

    #[test]
    fn create_round_trips() {
        let job = Job {
            amount: 123_456_789,
            deadline: 1_900_000_000,
            spec_hash: [7; 32],
        };
        let body = create_body(&job, &config(), 42).unwrap();
        let parsed = parse_create(&body).unwrap();
        assert_eq!(parsed.query_id, 42);
        assert_eq!(
            (parsed.job.amount, parsed.job.deadline, parsed.job.spec_hash),
            (job.amount, job.deadline, job.spec_hash)
        );
        assert_eq!(
            parsed.config.cell_hash(),
            config().to_cell().unwrap().cell_hash()
        );
    }

    #[test]
    fn create_usdt_round_trips() {
        use crate::protocol::jetton::{JettonCfg, WalletLayout};
        let job = Job {
            amount: 25_000_000, // 25 USDT
            deadline: 1_900_000_000,
            spec_hash: [3; 32],
        };
        let jetton = JettonCfg {
            master: addr(4),
            layout: WalletLayout::Governed,
            wallet_code_hash: crate::TonHash::from([5u8; 32]),
            wallet_code_depth: 0,
            transfer_ton: 50_000_000,
        };
        let body = create_usdt_body(&job, &config(), &jetton, 1_000_000_000, 8).unwrap();
        let parsed = parse_create_usdt(&body).unwrap();
        assert_eq!(
            (
                parsed.create.query_id,
                parsed.create.job.amount,
                parsed.slash_amount
            ),
            (8, job.amount, 1_000_000_000)
        );
        assert_eq!(parsed.jetton, jetton);
        assert!(
            parse_create(&body).is_err(),
            "a USDT create is not a TON create"
        );
        let fund = usdt_fund_body(&addr(1), job.amount, &addr(2), 0).unwrap();
        let (_, amount, dest, fwd) = crate::protocol::jetton::parse_transfer(&fund).unwrap();
        assert_eq!(
            (amount, dest, fwd),
            (job.amount, addr(1), USDT_FUND_FORWARD_TON)
        );
    }

    #[test]
    fn complete_and_expire_round_trip() {
        let keys: Vec<_> = (1..=3u8)
            .map(|i| crate::SigningKey::from_bytes(&[i; 32]))
            .collect();
        let c = Completion {
            global_id: -3,
            escrow: addr(1),
            nonce: 5,
            provider_owner: addr(2),
            pay: 99,
            result_hash: [3; 32],
        };
        let proof = Proof::sign(2, &c.payload().unwrap(), &[(0, &keys[0]), (2, &keys[2])]).unwrap();
        let parsed = parse_complete(&complete_body(&c, &proof, 8).unwrap()).unwrap();
        assert_eq!(
            parsed,
            Complete {
                query_id: 8,
                provider_owner: addr(2),
                pay: 99,
                result_hash: [3; 32],
                signers: proof.signers
            }
        );
        assert_eq!(
            parse_expire(&expire_body(None, 4).unwrap()).unwrap(),
            (4, None)
        );
        let sig = crate::Signature::from_bytes(&[1; 64]);
        assert_eq!(
            parse_expire(&expire_body(Some((&addr(2), &sig)), 0).unwrap()).unwrap(),
            (0, Some(addr(2)))
        );
    }

    #[test]
    fn wrong_op_and_short_bodies_are_named_errors() {
        let expire = expire_body(None, 1).unwrap();
        assert!(matches!(
            parse_create(&expire),
            Err(crate::Error::UnexpectedOp {
                expected: op::CREATE,
                got: op::EXPIRE
            })
        ));
        assert!(matches!(
            parse_complete(&Cell::default()),
            Err(crate::Error::Cell(_))
        ));
        let truncated = cell(|b| {
            b.store_u32(32, op::CREATE)?.store_u64(64, 1)?;
            Ok(())
        })
        .unwrap();
        assert!(parse_create(&truncated).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `job_submit` fuzz target: with serde_json's default float parser
    /// this number re-read from the canonical bytes came back 1 ULP off, so the
    /// canonical form (and the spec hash the escrow commits to) changed.
    #[test]
    fn canonical_spec_is_stable_when_reread() {
        let spec: serde_json::Value =
            serde_json::from_str(r#"{"n":100333333333333300000133584280347126436,"t":0.7}"#)
                .unwrap();
        let canonical = canonical_spec(&spec);
        let reread: serde_json::Value = serde_json::from_slice(&canonical).unwrap();
        assert_eq!(canonical_spec(&reread), canonical);
        assert_eq!(spec_hash(&reread), spec_hash(&spec));
    }
}
