//! Sending transactions from a wallet through the toncenter API and waiting
//! until they land — the same path against the devnet, testnet or mainnet.

use std::time::Duration;

use anyhow::{Context, bail};
use spindle_sdk::message::InternalMessage;
use spindle_sdk::toncenter::{StackArg, StackValue, Toncenter};
use spindle_sdk::wallet::{Outgoing, Transfer, WalletV5R1};
use spindle_sdk::{BigInt, SigningKey, TonAddress};

/// A wallet v5r1 that signs with a local key.
pub struct Payer {
    pub name: String,
    pub key: SigningKey,
    pub wallet: WalletV5R1,
    pub address: TonAddress,
}

impl Payer {
    pub fn new(name: &str, key: SigningKey, global_id: i32) -> anyhow::Result<Self> {
        let wallet = WalletV5R1::new(key.verifying_key(), 0, global_id);
        let address = wallet.address()?;
        Ok(Self {
            name: name.to_owned(),
            key,
            wallet,
            address,
        })
    }

    /// Signs and sends one transfer with `messages`, then waits until the
    /// wallet's seqno moves past it (the transfer is in a block).
    pub async fn send(
        &self,
        api: &Toncenter,
        messages: Vec<InternalMessage>,
    ) -> anyhow::Result<()> {
        let seqno = api.wallet_seqno(&self.address).await?;
        let now = api.get_address_information(&self.address).await?.sync_utime as u32;
        let transfer = Transfer {
            seqno,
            valid_until: now + 120,
            messages: messages.into_iter().map(Outgoing::new).collect(),
        };
        let ext = self.wallet.external_transfer(&self.key, &transfer)?;
        api.send_boc(&ext)
            .await
            .with_context(|| format!("{} could not send its transfer", self.name))?;
        wait_until(|| async { Ok(api.wallet_seqno(&self.address).await? > seqno) })
            .await
            .with_context(|| format!("{}'s transfer (seqno {seqno}) did not land", self.name))?;
        Ok(())
    }
}

/// Polls `done` every 100 ms for up to 30 s.
pub async fn wait_until<F, Fut>(mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    for _ in 0..300 {
        if done().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out after 30 s")
}

/// Runs a get-method and returns its stack as integers (cells and slices as
/// `None`), for the many get-methods that return numbers.
pub async fn get_ints(
    api: &Toncenter,
    address: &TonAddress,
    method: &str,
    args: &[StackArg],
) -> anyhow::Result<Vec<Option<BigInt>>> {
    let r = api
        .run_get_method(address, method, args)
        .await
        .with_context(|| format!("get-method {method} on {address}"))?;
    Ok(r.stack
        .iter()
        .map(|v| StackValue::as_num(v).cloned())
        .collect())
}

/// The balance of `address` in nanotons (0 if it does not exist).
pub async fn balance(api: &Toncenter, address: &TonAddress) -> anyhow::Result<u128> {
    Ok(api.get_address_information(address).await?.balance)
}

/// What `address` received from `from` over its last 100 transactions: the
/// values of the incoming messages, before the receiver's own fees.
pub async fn received_from(
    api: &Toncenter,
    address: &TonAddress,
    from: &TonAddress,
) -> anyhow::Result<u128> {
    Ok(incoming_from(api, address, from).await?.iter().sum())
}

/// The value of each message `address` received from `from` over its last 100
/// transactions, oldest first.
pub async fn incoming_from(
    api: &Toncenter,
    address: &TonAddress,
    from: &TonAddress,
) -> anyhow::Result<Vec<u128>> {
    let mut values = Vec::new();
    for tx in api.get_transactions(address, 100, None).await? {
        if let Some(m) = tx.in_msg.filter(|m| !m.source.is_empty()) {
            if spindle_sdk::address::parse_address(&m.source)? == *from {
                values.push(m.value);
            }
        }
    }
    values.reverse();
    Ok(values)
}
