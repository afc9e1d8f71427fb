//! The chain the watcher tests drive: a devnet over HTTP with the real job_escrow and
//! compute_account contracts, driven from genesis W5 wallets with the SDK's typed
//! messages. The faucet's address stands for the hub; wallet 0 is the client, 1 the
//! poster, 2 the provider owner, 3 another hub (whose escrows must be refused).

use std::sync::Arc;
use std::time::Duration;

use spindle_devnet::{Devnet, DevnetConfig, ServerHandle, TON};
use spindle_relayer::Store;
use spindle_relayer::watch::walk::WalkPolicy;
use spindle_relayer::watch::{WatchConfig, Watcher};
use spindle_sdk::message::InternalMessage;
use spindle_sdk::protocol::compute_account::{self as ca, Params, Voucher};
use spindle_sdk::protocol::job_escrow::{self as je, Completion, Config, Job};
use spindle_sdk::protocol::provider_stake::BASECHAIN_GAS_PRICE;
use spindle_sdk::protocol::relayer_set::{Proof, RelayerSet};
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::wallet::{Outgoing, Transfer, WalletV5R1};
use spindle_sdk::{SigningKey, TonAddress, address};

pub const AMOUNT: u128 = TON / 2;
pub const GRACE: u32 = 60;

pub struct World {
    pub devnet: Devnet,
    pub url: String,
    pub api: Toncenter,
    _server: ServerHandle,
    pub hub: TonAddress,
    pub keys: Vec<SigningKey>,
    pub set: RelayerSet,
}

/// A client with no rate limit and quick retries (a local chain).
pub fn client(url: &str) -> Toncenter {
    let mut config = ToncenterConfig::new(url.to_owned());
    config.requests_per_second = 0.0;
    config.max_retries = 8;
    config.backoff = Duration::from_millis(5);
    config.max_backoff = Duration::from_millis(40);
    config.timeout = Duration::from_millis(500);
    Toncenter::new(config)
}

pub fn raw(a: &TonAddress) -> String {
    address::to_raw(a)
}

impl World {
    pub async fn start() -> World {
        let devnet = Devnet::new(DevnetConfig {
            block_interval: Some(Duration::from_millis(50)),
            ..DevnetConfig::default()
        })
        .unwrap();
        let server = devnet.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let keys: Vec<SigningKey> = (1..=3u8)
            .map(|i| SigningKey::from_bytes(&[i; 32]))
            .collect();
        let set = RelayerSet::new(1, 2, keys.iter().map(|k| k.verifying_key()).collect()).unwrap();
        World {
            hub: devnet.faucet_wallet().address.clone(),
            api: client(&server.url),
            url: server.url.clone(),
            devnet,
            _server: server,
            keys,
            set,
        }
    }

    /// A watcher on `store` through the API at `url`.
    pub fn watcher(&self, store: Store, url: &str, page_size: u32, depth: u32) -> Watcher {
        let mut config = WatchConfig::new(self.hub.clone(), depth);
        config.walk = WalkPolicy {
            page_size,
            max_stalls: 50,
            backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        };
        Watcher::new(Arc::new(client(url)), store, config).unwrap()
    }

    pub fn address(&self, i: usize) -> TonAddress {
        self.devnet.wallets()[i].address.clone()
    }

    /// Genesis wallet `i` sends `messages` in one transfer, and the transfer lands.
    pub async fn send(&self, i: usize, messages: Vec<InternalMessage>) {
        let w = &self.devnet.wallets()[i];
        let key = SigningKey::from_bytes(&w.secret_key);
        let wallet = WalletV5R1::new(key.verifying_key(), 0, self.devnet.global_id());
        let addr = wallet.address().unwrap();
        let seqno = self.api.wallet_seqno(&addr).await.unwrap();
        let t = Transfer {
            seqno,
            valid_until: self.devnet.now() + 120,
            messages: messages.into_iter().map(Outgoing::new).collect(),
        };
        self.api
            .send_boc(&wallet.external_transfer(&key, &t).unwrap())
            .await
            .unwrap();
        for _ in 0..600 {
            if self.api.wallet_seqno(&addr).await.unwrap() > seqno {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("wallet {i}'s transfer did not land");
    }

    /// Waits until no message is in flight to `accounts`: their transaction counts stay
    /// the same over three produced blocks (the devnet delivers every queued internal
    /// message within a block).
    pub async fn quiet(&self, accounts: &[&TonAddress]) {
        let counts = |w: &World| accounts.iter().map(|a| w.tx_count(a)).collect::<Vec<_>>();
        for _ in 0..200 {
            let before = counts(self);
            let seqno = self.devnet.last_block_seqno();
            while self.devnet.last_block_seqno() < seqno + 3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            if counts(self) == before {
                return;
            }
        }
        panic!("the chain never went quiet");
    }

    pub fn tx_count(&self, addr: &TonAddress) -> usize {
        self.devnet.transactions(addr, usize::MAX).len()
    }

    /// The newest transaction id of `addr` straight from the devnet.
    pub fn newest(&self, addr: &TonAddress) -> (u64, [u8; 32]) {
        let t = &self.devnet.transactions(addr, 1)[0];
        (t.lt, t.hash)
    }

    pub fn escrow_config(&self) -> Config {
        Config {
            settle_fee: TON / 100,
            fee_bps: 500,
            grace: GRACE,
            window: 3600,
            stake_code: spindle_sdk::artifact!("provider_stake").unwrap().code,
            treasury: self.address(3),
            relayers: self.set.clone(),
        }
    }

    /// The address of `hub`'s escrow for (wallet 0, nonce).
    pub fn escrow(&self, hub: &TonAddress, nonce: u64) -> TonAddress {
        let code = je::code().unwrap();
        je::state_init(code, hub, &self.address(0), nonce)
            .unwrap()
            .address(0)
            .unwrap()
    }

    /// Wallet 0 deploys and pays `hub`'s escrow `nonce` with `deadline`.
    pub async fn create_escrow(
        &self,
        hub: &TonAddress,
        nonce: u64,
        deadline: u32,
    ) -> (TonAddress, Job) {
        self.create_escrow_from(0, hub, nonce, deadline).await
    }

    /// Wallet `from` (the client, wallet 0, or the hub itself) deploys and pays `hub`'s
    /// escrow for client wallet 0.
    pub async fn create_escrow_from(
        &self,
        from: usize,
        hub: &TonAddress,
        nonce: u64,
        deadline: u32,
    ) -> (TonAddress, Job) {
        let code = je::code().unwrap();
        let init = je::state_init(code, hub, &self.address(0), nonce).unwrap();
        let escrow = init.address(0).unwrap();
        let job = Job {
            amount: AMOUNT,
            deadline,
            spec_hash: [nonce as u8; 32],
        };
        let config = self.escrow_config();
        let value = AMOUNT
            + config.settle_fee
            + je::RESERVE
            + je::GAS_CREATE * BASECHAIN_GAS_PRICE
            + TON / 100;
        self.send(
            from,
            vec![
                InternalMessage::new(escrow.clone(), value)
                    .with_state_init(init)
                    .with_body(je::create_body(&job, &config, nonce).unwrap()),
            ],
        )
        .await;
        (escrow, job)
    }

    /// The poster (wallet 1) completes escrow `nonce` with a 2-of-3 proof.
    pub async fn complete_escrow(&self, escrow: &TonAddress, nonce: u64) {
        let completion = Completion {
            global_id: self.devnet.global_id(),
            escrow: escrow.clone(),
            nonce,
            provider_owner: self.address(2),
            pay: (AMOUNT / 2) as u64,
            result_hash: [9; 32],
        };
        let proof = Proof::sign(
            2,
            &completion.payload().unwrap(),
            &[(0, &self.keys[0]), (2, &self.keys[2])],
        )
        .unwrap();
        let value = je::GAS_COMPLETE * BASECHAIN_GAS_PRICE + 4 * 400_000 + TON / 100;
        let body = je::complete_body(&completion, &proof, nonce).unwrap();
        self.send(
            1,
            vec![InternalMessage::new(escrow.clone(), value).with_body(body)],
        )
        .await;
    }

    /// The poster expires `escrow` without evidence (after deadline + grace).
    pub async fn expire_escrow(&self, escrow: &TonAddress) {
        let value = je::GAS_EXPIRE * BASECHAIN_GAS_PRICE + 2 * 400_000 + TON / 100;
        let body = je::expire_body(None, 0).unwrap();
        self.send(
            1,
            vec![InternalMessage::new(escrow.clone(), value).with_body(body)],
        )
        .await;
    }

    /// Wallet 0 deploys its compute account (nonce 7) with `deposit`.
    pub async fn create_account(&self, deposit: u128) -> TonAddress {
        let code = spindle_sdk::artifact!("compute_account").unwrap().code;
        let init = ca::state_init(code, &self.hub, &self.address(0), 7).unwrap();
        let account = init.address(0).unwrap();
        let params = Params {
            relayers: self.set.clone(),
            settle_fee: TON / 100,
            grace: 3600,
            stake_code: spindle_sdk::artifact!("provider_stake").unwrap().code,
            jetton_wallet: None,
        };
        self.send(
            0,
            vec![
                InternalMessage::new(account.clone(), deposit)
                    .with_state_init(init)
                    .with_body(ca::init_body(&params, 1).unwrap()),
            ],
        )
        .await;
        account
    }

    /// Wallet `from` sends `n` plain transfers of 0.01 TON to `to` (deposits on a compute
    /// account), up to 255 per wallet transfer.
    pub async fn transfers(&self, from: usize, to: &TonAddress, n: usize) {
        let mut left = n;
        while left > 0 {
            let batch = left.min(255);
            let msgs = (0..batch)
                .map(|_| InternalMessage::new(to.clone(), TON / 100))
                .collect();
            self.send(from, msgs).await;
            left -= batch;
        }
    }

    /// The poster settles a 2-of-3 voucher of `cumulative` for provider wallet 2 on `account`.
    pub async fn settle_voucher(&self, account: &TonAddress, cumulative: u128) -> Voucher {
        let voucher = Voucher {
            global_id: self.devnet.global_id(),
            account: account.clone(),
            epoch: 0,
            provider_owner: self.address(2),
            cumulative,
            valid_until: self.devnet.now() + 600,
        };
        let proof = Proof::sign(
            2,
            &voucher.payload().unwrap(),
            &[(1, &self.keys[1]), (2, &self.keys[2])],
        )
        .unwrap();
        let body = ca::settle_body(&voucher, &proof, 5).unwrap();
        self.send(
            1,
            vec![InternalMessage::new(account.clone(), TON / 10).with_body(body)],
        )
        .await;
        voucher
    }
}
