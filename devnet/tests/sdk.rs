//! The relayer's own path: spindle-sdk's wallet and toncenter client against
//! the devnet's HTTP API, exactly as against toncenter.

use spindle_devnet::config::DEVNET_GLOBAL_ID;
use spindle_devnet::{Devnet, DevnetConfig, TON};
use spindle_sdk::SigningKey;
use spindle_sdk::message::InternalMessage;
use spindle_sdk::toncenter::{Toncenter, ToncenterConfig};
use spindle_sdk::wallet::{Outgoing, Transfer, WalletV5R1};

#[tokio::test]
async fn sdk_wallet_and_toncenter_client_work_against_the_devnet() {
    let d = Devnet::new(DevnetConfig {
        block_interval: None,
        ..DevnetConfig::default()
    })
    .unwrap();
    let server = d.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let mut cfg = ToncenterConfig::new(server.url.clone());
    cfg.requests_per_second = 0.0;
    let tc = Toncenter::new(cfg);

    // The SDK derives the same address from the genesis key and network id.
    let g = d.wallets()[0].clone();
    let key = SigningKey::from_bytes(&g.secret_key);
    let wallet = WalletV5R1::new(key.verifying_key(), 0, DEVNET_GLOBAL_ID);
    assert_eq!(wallet.address().unwrap(), g.address);
    assert_eq!(wallet.wallet_id() as i32, g.wallet_id);

    let info = tc.get_wallet_information(&g.address).await.unwrap();
    assert!(info.wallet);
    assert_eq!(tc.wallet_seqno(&g.address).await.unwrap(), 0);
    let start = tc
        .get_address_information(&g.address)
        .await
        .unwrap()
        .last_transaction_id;

    // Two SDK-signed transfers, each in its own block.
    let to = d.wallets()[1].address.clone();
    for seqno in 0..2 {
        let t = Transfer {
            seqno,
            valid_until: d.now() + 60,
            messages: vec![Outgoing::new(InternalMessage::new(to.clone(), TON / 10))],
        };
        let msg = wallet.external_transfer(&key, &t).unwrap();
        tc.send_boc(&msg).await.unwrap();
        d.produce_block();
    }
    assert_eq!(tc.wallet_seqno(&g.address).await.unwrap(), 2);

    // Gap-free paging from the cursor sees exactly the two new transactions.
    let txs = tc
        .transactions_since(&g.address, Some(&start), 2)
        .await
        .unwrap();
    assert_eq!(txs.len(), 2);
    assert!(txs[0].transaction_id.lt < txs[1].transaction_id.lt);

    // A replayed transfer is refused as toncenter refuses it.
    let stale = Transfer {
        seqno: 0,
        valid_until: d.now() + 60,
        messages: vec![],
    };
    let err = tc
        .send_boc(&wallet.external_transfer(&key, &stale).unwrap())
        .await
        .unwrap_err();
    assert!(format!("{err}").contains("not accepted"), "{err}");
}
