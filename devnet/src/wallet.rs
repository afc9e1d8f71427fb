//! Genesis wallets: wallet v5r1 contracts with deterministic keys, deployed
//! and funded in block 1, and the transfers the faucet signs.
//!
//! Keys are `sha256("spindle-devnet/<name>")`, so every devnet hands out the
//! same addresses and keys (they are test keys: never use them elsewhere).
//! Wallet ids follow W5's rule for the devnet's network id (config param 19):
//! `wallet_id = global_id XOR 0x8000_0000` (workchain 0, version 0, subwallet
//! 0), the value `spindle_sdk::wallet::WalletV5R1::new(key, 0, DEVNET_GLOBAL_ID)`
//! and `@ton/ton`'s `WalletContractV5R1.create({ walletId: { networkGlobalId },
//! publicKey })` derive, so their addresses agree with the devnet's.

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use tonlib_core::TonAddress;
use tonlib_core::wallet::mnemonic::KeyPair;
use tonlib_core::wallet::ton_wallet::TonWallet;
use tonlib_core::wallet::version_helper::VersionHelper;
use tonlib_core::wallet::wallet_version::WalletVersion;
use tycho_types::models::{IntAddr, StateInit, StdAddr};
use tycho_types::num::Tokens;
use tycho_types::prelude::*;

use crate::boc;

/// A funded test wallet (wallet v5r1) that exists from genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenesisWallet {
    pub name: String,
    pub address: TonAddress,
    pub public_key: [u8; 32],
    /// The ed25519 seed (32 bytes); `key_pair()` gives the 64-byte form.
    pub secret_key: [u8; 32],
    pub initial_balance: u128,
    /// W5 wallet id (see the module docs).
    pub wallet_id: i32,
}

/// W5's wallet id for a network: `global_id XOR (1 << 31)` for workchain 0,
/// version 0, subwallet 0.
pub fn v5r1_wallet_id(global_id: i32) -> i32 {
    (global_id as u32 ^ 0x8000_0000) as i32
}

impl GenesisWallet {
    /// A wallet for the devnet's default network id ([`crate::config::DEVNET_GLOBAL_ID`]).
    pub fn derive(name: &str, initial_balance: u128) -> Self {
        Self::derive_for(name, initial_balance, crate::config::DEVNET_GLOBAL_ID)
    }

    /// A wallet whose W5 wallet id is bound to `global_id`.
    pub fn derive_for(name: &str, initial_balance: u128, global_id: i32) -> Self {
        let seed: [u8; 32] = Sha256::digest(format!("spindle-devnet/{name}").as_bytes()).into();
        let public_key = SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        let mut w = Self {
            name: name.to_string(),
            address: TonAddress::NULL,
            public_key,
            secret_key: seed,
            initial_balance,
            wallet_id: v5r1_wallet_id(global_id),
        };
        w.address = w.ton_wallet().address;
        w
    }

    /// The key pair in tonlib-core's (NaCl) form: 64-byte secret = seed ‖ public key.
    pub fn key_pair(&self) -> KeyPair {
        let mut secret = self.secret_key.to_vec();
        secret.extend_from_slice(&self.public_key);
        KeyPair {
            public_key: self.public_key.to_vec(),
            secret_key: secret,
        }
    }

    /// tonlib-core's wallet object, for signing transfers.
    pub fn ton_wallet(&self) -> TonWallet {
        TonWallet::new_with_params(WalletVersion::V5R1, self.key_pair(), 0, self.wallet_id)
            .expect("v5r1 wallet code is built in")
    }

    pub(crate) fn std_address(&self) -> StdAddr {
        boc::to_std(&self.address)
    }

    /// Code and data of the wallet, for its deploying message.
    pub(crate) fn state_init(&self) -> anyhow::Result<StateInit> {
        let w = self.ton_wallet();
        let code = VersionHelper::get_code(w.version)?;
        let data = VersionHelper::get_data(w.version, &w.key_pair, w.wallet_id)?;
        Ok(StateInit {
            split_depth: None,
            special: None,
            code: Some(boc::from_tonlib(code)?),
            data: Some(boc::from_tonlib(&data)?),
            libraries: Dict::new(),
        })
    }

    /// A signed external message (BoC) carrying one transfer of `amount`
    /// nanotons to `to`, for [`crate::Devnet::send_boc`] or `sendBoc`.
    pub fn sign_transfer(
        &self,
        seqno: u32,
        valid_until: u32,
        to: &TonAddress,
        amount: u128,
        bounce: bool,
    ) -> anyhow::Result<Vec<u8>> {
        Ok(boc::encode(&self.transfer(
            seqno,
            valid_until,
            &boc::to_std(to),
            amount,
            bounce,
            false,
        )?))
    }

    /// Like [`Self::sign_transfer`], with the wallet's state init attached so
    /// the message also deploys the wallet (seqno 0 on a funded, uninit address).
    pub fn sign_deploy_transfer(
        &self,
        valid_until: u32,
        to: &TonAddress,
        amount: u128,
        bounce: bool,
    ) -> anyhow::Result<Vec<u8>> {
        Ok(boc::encode(&self.transfer(
            0,
            valid_until,
            &boc::to_std(to),
            amount,
            bounce,
            true,
        )?))
    }

    /// The code and data BoCs of this wallet (its state init), e.g. to deploy it.
    pub fn state_init_boc(&self) -> anyhow::Result<Vec<u8>> {
        Ok(boc::encode(&CellBuilder::build_from(self.state_init()?)?))
    }

    /// A signed external message: one transfer of `amount` to `dst`
    /// (send mode 3: pay fees separately, ignore errors).
    pub(crate) fn transfer(
        &self,
        seqno: u32,
        valid_until: u32,
        dst: &StdAddr,
        amount: u128,
        bounce: bool,
        with_init: bool,
    ) -> anyhow::Result<Cell> {
        let out = internal_message(dst, amount, bounce)?;
        let ext = self.ton_wallet().create_external_msg(
            valid_until,
            seqno,
            with_init,
            [boc::to_tonlib(&out)?],
        )?;
        boc::from_tonlib(&ext)
    }
}

/// A wallet's outgoing internal message with no body (`src` = addr_none; the
/// network fills it in).
pub(crate) fn internal_message(dst: &StdAddr, amount: u128, bounce: bool) -> anyhow::Result<Cell> {
    let ctx = Cell::empty_context();
    let mut b = CellBuilder::new();
    b.store_bit_zero()?; // int_msg_info$0
    b.store_bit_one()?; // ihr_disabled
    b.store_bit(bounce)?;
    b.store_bit_zero()?; // bounced
    b.store_small_uint(0, 2)?; // src: addr_none
    IntAddr::Std(dst.clone()).store_into(&mut b, ctx)?;
    Tokens::new(amount).store_into(&mut b, ctx)?;
    b.store_bit_zero()?; // no extra currencies
    Tokens::ZERO.store_into(&mut b, ctx)?; // ihr_fee
    Tokens::ZERO.store_into(&mut b, ctx)?; // fwd_fee
    b.store_u64(0)?; // created_lt
    b.store_u32(0)?; // created_at
    b.store_bit_zero()?; // no state init
    b.store_bit_zero()?; // empty inline body
    Ok(b.build()?)
}
