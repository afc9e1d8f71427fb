//! Paying: every command that moves money either signs here with a local key
//! (a key file, or a 24-word mnemonic from `SPINDLE_MNEMONIC` or stdin — never
//! from argv, where shell history and `ps` would show it) or, with
//! `--wallet-link`, prints a TonConnect request, a `ton://transfer` link and a
//! QR code for the user's own wallet. Either way the command then waits until
//! the receiving contract's transaction is on-chain and reports what it did,
//! including the contract's exit code when it refused.

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use spindle_sdk::message::InternalMessage;
use spindle_sdk::toncenter::Toncenter;
use spindle_sdk::tonconnect::{SendTransaction, transfer_link};
use spindle_sdk::transaction::{Compute, Summary};
use spindle_sdk::wallet::mnemonic_to_key;
use spindle_sdk::{SigningKey, TonAddress};

use super::amount::ton;
use super::chain::{ChainArgs, parse_address};
use crate::onchain::Payer;

/// Allowance for the wallet's own fees on top of what a command sends.
pub const FEE_ALLOWANCE: u128 = 50_000_000;

/// How the command pays.
#[derive(Debug, Clone, clap::Args)]
pub struct PayArgs {
    /// File with the paying wallet's key: 64 hex digits (a 32-byte ed25519 secret,
    /// as `spindle devnet` prints) or a 24-word mnemonic. The wallet is W5 (v5r1).
    #[arg(long, env = "SPINDLE_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Read the wallet's 24-word mnemonic from stdin (or set SPINDLE_MNEMONIC).
    #[arg(long, conflicts_with = "key_file")]
    pub mnemonic_stdin: bool,
    /// Never accepted: a mnemonic on the command line leaks into shell history and `ps`.
    #[arg(long, hide = true, num_args = 0.., allow_hyphen_values = true)]
    pub mnemonic: Option<Vec<String>>,
    /// Do not sign here: print a TonConnect request, a ton://transfer link and a QR
    /// code for your own wallet (Tonkeeper, …), then wait until it is on-chain.
    #[arg(long, conflicts_with_all = ["key_file", "mnemonic_stdin"])]
    pub wallet_link: bool,
    /// Your wallet's address (needed with --wallet-link; with a key, a check that
    /// the key is the one of this wallet).
    #[arg(long, value_name = "ADDRESS")]
    pub from: Option<String>,
    /// Seconds to wait for the transaction to appear on-chain.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
}

/// The wallet that pays.
pub enum Wallet {
    /// Signs here.
    Local(Payer),
    /// The user's own wallet signs what we print.
    Link(TonAddress),
}

impl PayArgs {
    /// Resolves the key (or the wallet to link to), refusing a mnemonic on argv.
    pub fn wallet(&self, chain: &ChainArgs) -> anyhow::Result<Wallet> {
        if self.mnemonic.is_some() {
            bail!(
                "refusing a mnemonic on the command line: it would stay in your shell history and be visible to every user in `ps`. \
                 Put it in SPINDLE_MNEMONIC, pipe it with --mnemonic-stdin, or use --key-file FILE"
            );
        }
        let from = self
            .from
            .as_deref()
            .map(|s| parse_address("--from", s))
            .transpose()?;
        if self.wallet_link {
            let from = from.context(
                "--wallet-link needs --from ADDRESS, your wallet's address: the contracts are derived from who pays",
            )?;
            return Ok(Wallet::Link(from));
        }
        let key = self.key()?;
        let payer = Payer::new("your wallet", key, chain.global_id)?;
        if let Some(from) = from {
            if from != payer.address {
                bail!(
                    "this key signs for wallet {} (W5, network id {}), not --from {}: wrong key or mnemonic?",
                    chain.wallet(&payer.address),
                    chain.global_id,
                    chain.wallet(&from)
                );
            }
        }
        Ok(Wallet::Local(payer))
    }

    fn key(&self) -> anyhow::Result<SigningKey> {
        if let Some(path) = &self.key_file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --key-file {}", path.display()))?;
            return key_from_text(&text).with_context(|| format!("--key-file {}", path.display()));
        }
        if self.mnemonic_stdin {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the mnemonic from stdin")?;
            return key_from_mnemonic(&text).context("--mnemonic-stdin");
        }
        if let Ok(text) = std::env::var("SPINDLE_MNEMONIC") {
            return key_from_mnemonic(&text).context("SPINDLE_MNEMONIC");
        }
        bail!(
            "this command moves money and needs a wallet: --key-file FILE, SPINDLE_MNEMONIC, --mnemonic-stdin, \
             or pay from your own wallet with --wallet-link --from ADDRESS"
        )
    }
}

/// A key file holds 64 hex digits or a mnemonic.
fn key_from_text(text: &str) -> anyhow::Result<SigningKey> {
    let t = text.trim();
    if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) {
        let bytes: [u8; 32] = hex::decode(t)?
            .try_into()
            .expect("64 hex digits are 32 bytes");
        return Ok(SigningKey::from_bytes(&bytes));
    }
    key_from_mnemonic(t)
}

fn key_from_mnemonic(text: &str) -> anyhow::Result<SigningKey> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() != 24 {
        bail!("a TON mnemonic has 24 words, this one has {}", words.len());
    }
    mnemonic_to_key(&words.join(" "))
        .map_err(|e| anyhow::anyhow!("{e}: check the words and their order (wrong mnemonic?)"))
}

impl Wallet {
    pub fn address(&self) -> &TonAddress {
        match self {
            Wallet::Local(p) => &p.address,
            Wallet::Link(a) => a,
        }
    }

    /// Refuses up front when the wallet cannot pay `value` plus fees, so
    /// nothing is sent that would fail half-way.
    pub async fn check_funds(
        &self,
        chain: &ChainArgs,
        api: &Toncenter,
        value: u128,
    ) -> anyhow::Result<()> {
        let info = api.get_address_information(self.address()).await?;
        let who = chain.wallet(self.address());
        if info.balance == 0 {
            match self {
                Wallet::Local(_) => bail!(
                    "wallet {who} (W5 for this key, network id {}) holds nothing on this network: wrong key or mnemonic, or wrong --global-id? \
                     Fund it, or sign with the key of the wallet that holds your TON",
                    chain.global_id
                ),
                Wallet::Link(_) => bail!(
                    "wallet {who} (--from) holds nothing on this network: fund it or check --from"
                ),
            }
        }
        let need = value + FEE_ALLOWANCE;
        if info.balance < need {
            bail!(
                "insufficient funds: wallet {who} holds {} but this needs {} ({} plus up to {} in network fees); top it up or send less",
                ton(info.balance),
                ton(need),
                ton(value),
                ton(FEE_ALLOWANCE)
            );
        }
        Ok(())
    }

    /// Sends `message` (one contract call) and waits until the receiving
    /// contract's transaction is on-chain; fails with the contract's reason
    /// when it refused (then the value bounced back, less gas).
    pub async fn pay(
        &self,
        chain: &ChainArgs,
        api: &Toncenter,
        args: &PayArgs,
        what: &str,
        message: InternalMessage,
    ) -> anyhow::Result<Summary> {
        let to = message.to.clone();
        let body_hash = message
            .body
            .as_ref()
            .map(|b| b.cell_hash())
            .context("every Spindle call has a body")?;
        let since = api
            .get_transactions(&to, 1, None)
            .await?
            .first()
            .map(|t| t.transaction_id.lt)
            .unwrap_or(0);
        let out = chain.output();
        match self {
            Wallet::Local(p) => {
                out.progress(format!(
                    "{what}: sending {} from {}",
                    ton(message.value),
                    chain.wallet(&p.address)
                ));
                p.send(api, vec![message]).await?;
            }
            Wallet::Link(from) => {
                let now = super::chain::chain_now(api, from).await?;
                let req = SendTransaction::new(
                    std::slice::from_ref(&message),
                    u64::from(now) + args.timeout,
                    Some(chain.global_id),
                )?;
                let link = transfer_link(&message, chain.testnet())?;
                let json = serde_json::to_string(&req.to_request_json(1))?;
                if out.json {
                    println!(
                        "{}",
                        serde_json::json!({"tonconnect": req, "request": req.to_request_json(1), "link": link})
                    );
                } else {
                    println!(
                        "{what}: pay {} to {} from your wallet {}.",
                        ton(message.value),
                        chain.contract(&to),
                        chain.wallet(from)
                    );
                    println!("TonConnect sendTransaction request (for a dApp bridge):");
                    println!("{json}");
                    println!("Or open this link in your wallet:");
                    println!("{link}");
                    println!("{}", qr(&link));
                }
                out.progress(format!(
                    "waiting up to {} s for the transaction to appear on-chain …",
                    args.timeout
                ));
            }
        }
        let tx = wait_seen(
            api,
            &to,
            &body_hash,
            since,
            Duration::from_secs(args.timeout),
        )
        .await?;
        if !tx.succeeded() {
            bail!(
                "{what}: {} refused the message ({}); its value came back to the wallet less gas",
                chain.contract(&to),
                explain(&tx)
            );
        }
        Ok(tx)
    }
}

/// A QR code of `text` drawn with Unicode half blocks.
fn qr(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
        // A deploy carries the contract's code (kilobytes): more than a QR code holds.
        Err(qrcode::types::QrError::DataTooLong) => {
            "(no QR code: this request carries a contract's code, too long for a QR code; open the link on \
             this device or send the TonConnect request)"
                .into()
        }
        Err(e) => format!("(no QR code: {e}; open the link or send the TonConnect request)"),
    }
}

/// Waits until `to` has a transaction newer than `since_lt` whose incoming
/// message carries `body_hash`.
async fn wait_seen(
    api: &Toncenter,
    to: &TonAddress,
    body_hash: &spindle_sdk::TonHash,
    since_lt: u64,
    timeout: Duration,
) -> anyhow::Result<Summary> {
    let start = Instant::now();
    loop {
        for tx in api.get_transactions(to, 16, None).await.unwrap_or_default() {
            if tx.transaction_id.lt <= since_lt {
                break;
            }
            let Some(m) = &tx.in_msg else { continue };
            if m.body()
                .ok()
                .flatten()
                .is_some_and(|b| b.cell_hash() == *body_hash)
            {
                return Ok(tx.summary()?);
            }
        }
        if start.elapsed() >= timeout {
            bail!(
                "the transaction did not appear on-chain within {} s (raise --timeout, or check the wallet)",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The exit code of a refused transaction, with the contract's name for it.
pub fn explain(tx: &Summary) -> String {
    match tx.outcome.as_ref().map(|o| o.compute) {
        Some(Compute::Vm { exit_code, .. }) => match exit_name(exit_code) {
            Some(name) => format!("exit code {exit_code}: {name}"),
            None => format!("exit code {exit_code}"),
        },
        Some(Compute::Skipped) => "the contract did not run".into(),
        None => "no compute phase".into(),
    }
}

/// Names from contracts/Specification.md.
fn exit_name(code: i32) -> Option<&'static str> {
    Some(match code {
        -14 => "out of gas: too little value attached",
        101 => "wrong sender: only the owner (or the hub) may do this",
        102 => "too little value attached",
        103 => "an address is not a basechain address",
        104 => "bad parameters",
        105 => "not initialised",
        130 => "the job is not open",
        131 => "too late",
        132 => "too early: the deadline plus grace has not passed",
        134 => "already slashed",
        135 => "the job was delivered",
        136 => "the evidence window is closed",
        141 => "already unbonding",
        142 => "no unbond request: run `spindle provider unbond` first",
        143 => "the unbonding period is not over",
        144 => "the operator key was already rotated in this unbonding period",
        145 => "stake below the hub minimum",
        402 => "only the account's client may do this",
        421 => "withdrawal already requested",
        422 => "no withdrawal requested",
        423 => "the grace period is not over",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_hold_hex_or_a_mnemonic() {
        let k = key_from_text(&format!("{}\n", "11".repeat(32))).unwrap();
        assert_eq!(k.to_bytes(), [0x11; 32]);
        let phrase = spindle_sdk::wallet::generate_mnemonic();
        let k = key_from_text(&phrase).unwrap();
        assert_eq!(k.to_bytes(), mnemonic_to_key(&phrase).unwrap().to_bytes());
        assert!(
            key_from_text("abandon ".repeat(23).trim())
                .unwrap_err()
                .to_string()
                .contains("24 words")
        );
        assert!(
            key_from_text(&"abandon ".repeat(24)).is_err(),
            "a bad checksum mnemonic is refused"
        );
    }
}
