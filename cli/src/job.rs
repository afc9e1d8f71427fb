//! One-off jobs: a job_escrow deployed and paid by the client directly from
//! its wallet (protocol rule 6), completed by anyone posting the relayers'
//! k-of-n proof, or expired after deadline + grace (with the operator's
//! acceptance as evidence, slashing the provider's stake).

use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::job_escrow::{
    self as je, Acceptance, Completion, Config, Job, JobState,
};
use spindle_sdk::protocol::provider_stake::BASECHAIN_GAS_PRICE;
use spindle_sdk::protocol::relayer_set::Proof;
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::{ArcCell, Signature, SigningKey, TonAddress};

use crate::onchain::{Payer, get_ints};

/// The basechain forward-fee lump (config param 25), nanotons.
pub const FWD_LUMP: u128 = 400_000;

/// Extra value attached to every escrow message above what the contract
/// requires; the escrow returns what it does not spend.
pub const MARGIN: u128 = 10_000_000;

/// The escrow code in every escrow's StateInit: the library reference cell
/// of job_escrow's code ([`je::code`], the SDK owns it).
pub fn code() -> anyhow::Result<ArcCell> {
    Ok(je::code()?)
}

/// The escrow's address for (hub, client, nonce).
pub fn escrow_address(
    hub: &TonAddress,
    client: &TonAddress,
    nonce: u64,
) -> anyhow::Result<TonAddress> {
    Ok(je::state_init(code()?, hub, client, nonce)?.address(0)?)
}

/// What the client sends to create a job: the payment, the settlement fee,
/// the escrow's reserve, the create gas and [`MARGIN`] (the margin comes back
/// with the remainder at settlement).
pub fn create_value(job: &Job, config: &Config) -> u128 {
    job.amount + config.settle_fee + je::RESERVE + je::GAS_CREATE * BASECHAIN_GAS_PRICE + MARGIN
}

/// What a poster attaches to `complete` (the unspent part comes back to it).
pub const COMPLETE_VALUE: u128 = je::GAS_COMPLETE * BASECHAIN_GAS_PRICE + 4 * FWD_LUMP + MARGIN;

/// What a poster attaches to `expire` with evidence (the stake returns the
/// unspent part with the finder's fee).
pub const EXPIRE_SLASH_VALUE: u128 =
    (je::GAS_EXPIRE_SLASH + je::GAS_STAKE_SLASH) * BASECHAIN_GAS_PRICE + 7 * FWD_LUMP + MARGIN;

/// What a poster attaches to `expire` without evidence.
pub const EXPIRE_VALUE: u128 = je::GAS_EXPIRE * BASECHAIN_GAS_PRICE + 2 * FWD_LUMP + MARGIN;

/// The client deploys the escrow for job `nonce` and pays it; returns its address.
pub async fn create_job(
    api: &Toncenter,
    client: &Payer,
    hub: &TonAddress,
    nonce: u64,
    job: &Job,
    config: &Config,
) -> anyhow::Result<TonAddress> {
    let init = je::state_init(code()?, hub, &client.address, nonce)?;
    let escrow = init.address(0)?;
    client
        .send(
            api,
            vec![
                InternalMessage::new(escrow.clone(), create_value(job, config))
                    .with_state_init(init)
                    .with_body(je::create_body(job, config, nonce)?),
            ],
        )
        .await?;
    Ok(escrow)
}

/// Signs `completion` with the given `(index, key)` relayers (a test and demo
/// helper: real relayers sign separately and exchange signatures).
pub fn sign_completion(
    k: u8,
    completion: &Completion,
    relayers: &[(usize, &SigningKey)],
) -> anyhow::Result<Proof> {
    Ok(Proof::sign(k, &completion.payload()?, relayers)?)
}

/// `poster` posts the completion with its proof; the transfer lands (the
/// escrow may still refuse it: check [`job_state`]).
pub async fn complete_job(
    api: &Toncenter,
    poster: &Payer,
    completion: &Completion,
    proof: &Proof,
) -> anyhow::Result<()> {
    let body = je::complete_body(completion, proof, completion.nonce)?;
    poster
        .send(
            api,
            vec![InternalMessage::new(completion.escrow.clone(), COMPLETE_VALUE).with_body(body)],
        )
        .await
}

/// The operator's acceptance signature for `provider_owner`'s stake taking job
/// `nonce` at `escrow`.
pub fn sign_acceptance(
    operator: &SigningKey,
    acceptance: &Acceptance,
) -> anyhow::Result<Signature> {
    Ok(spindle_sdk::signing::sign(operator, &acceptance.payload()?))
}

/// Anyone posts `expire` on `escrow` after deadline + grace, with the
/// operator's acceptance (provider owner, signature) as evidence or without.
pub async fn expire_job(
    api: &Toncenter,
    poster: &Payer,
    escrow: &TonAddress,
    evidence: Option<(&TonAddress, &Signature)>,
) -> anyhow::Result<()> {
    let value = if evidence.is_some() {
        EXPIRE_SLASH_VALUE
    } else {
        EXPIRE_VALUE
    };
    let body = je::expire_body(evidence, 0)?;
    poster
        .send(
            api,
            vec![InternalMessage::new(escrow.clone(), value).with_body(body)],
        )
        .await
}

/// The escrow's `get_job`.
pub async fn job_state(api: &Toncenter, escrow: &TonAddress) -> anyhow::Result<JobState> {
    let s = get_ints(api, escrow, "get_job", &[]).await?;
    Ok(JobState::from_stack(&s)?)
}
