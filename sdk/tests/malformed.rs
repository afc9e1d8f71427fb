//! Hostile and malformed input gives a typed error, never a panic; plus the
//! pieces the golden vectors cannot cover (TonConnect, links, artifacts).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use spindle_sdk::address::{self, AddressForm};
use spindle_sdk::contracts::Artifact;
use spindle_sdk::message::{InternalMessage, StateInit};
use spindle_sdk::tonconnect::{SendTransaction, transfer_link};
use spindle_sdk::wallet::{
    Outgoing, Transfer, WalletV4R2, WalletV5R1, generate_mnemonic, mnemonic_to_key,
};
use spindle_sdk::{Error, SigningKey, TonAddress, TonHash, boc, signing};

const ALICE: &str = "EQAr2AbJfw4ArxofwzKPp2OpJpcjyNuPrE-Tr3HbGG1ukJ-t";

fn vector_bocs() -> Vec<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_str(include_str!("vectors/vectors.json")).unwrap();
    let mut out: Vec<Vec<u8>> = v["bocs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| STANDARD.decode(b["boc"].as_str().unwrap()).unwrap())
        .collect();
    out.push(
        STANDARD
            .decode(
                v["wallets"]["v5r1"][0]["transfers"][1]["external"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
    );
    out
}

/// A user-friendly address with a valid checksum over arbitrary content.
fn friendly(tag: u8, workchain: u8) -> String {
    let mut bytes = vec![tag, workchain];
    bytes.extend([9u8; 32]);
    let crc = crc::Crc::<u16>::new(&crc::CRC_16_XMODEM).checksum(&bytes);
    bytes.extend(crc.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn bad_addresses() {
    let mut bad_crc = ALICE.to_owned();
    bad_crc.replace_range(47.., "u");
    assert!(matches!(
        address::parse(&bad_crc),
        Err(Error::AddressChecksum { .. })
    ));
    assert!(matches!(
        address::parse(&friendly(0x11, 5)),
        Err(Error::Workchain(5))
    ));
    assert!(matches!(
        address::parse(&friendly(0x22, 0)),
        Err(Error::AddressFormat { .. })
    ));
    assert_eq!(
        address::parse(&friendly(0xd1, 0xff)).unwrap().form,
        AddressForm::UserFriendly {
            bounceable: false,
            testnet: true
        }
    );
    assert!(matches!(
        address::parse(&format!("7:{}", "ab".repeat(32))),
        Err(Error::Workchain(7))
    ));
    for input in [
        "",
        "EQAr2AbJfw4ArxofwzKPp2OpJpcjyNuPrE-Tr3HbGG1ukJ-", // 47 chars
        "EQAr2AbJfw4ArxofwzKPp2OpJpcjyNuPrE-Tr3HbGG1ukJ!t", // not base64
        "0:abc",
        "0:zz3f2abcb8da50c0e4c6e5c9b8d0d8e7f1f2a3b4c5d6e7f8091a2b3c4d5e6f7",
        "x:2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90",
        "0:2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90:1",
        "ñ:ñ",
        "ÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑÑ",
    ] {
        assert!(
            matches!(address::parse(input), Err(Error::AddressFormat { .. })),
            "{input:?}"
        );
    }
    // The standard alphabet is accepted too.
    let std = STANDARD_NO_PAD.encode(URL_SAFE_NO_PAD.decode(ALICE).unwrap());
    assert_eq!(
        address::parse(&std).unwrap(),
        address::parse(ALICE).unwrap()
    );
}

#[test]
fn bad_bocs() {
    assert!(matches!(
        boc::from_boc_base64("not base64!"),
        Err(Error::Base64(_))
    ));
    assert!(matches!(boc::from_boc_hex("zz"), Err(Error::Hex(_))));
    assert!(matches!(boc::from_boc(&[]), Err(Error::Boc(_))));
    assert!(matches!(
        boc::from_boc(&[0xb5, 0xee, 0x9c, 0x72, 0x41, 0x01, 0xff, 0xff, 0xff]),
        Err(Error::Boc(_))
    ));
    for bytes in vector_bocs() {
        assert!(boc::from_boc(&bytes).is_ok());
        for len in 0..bytes.len() {
            assert!(
                matches!(boc::from_boc(&bytes[..len]), Err(Error::Boc(_))),
                "prefix {len}"
            );
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(boc::from_boc(&trailing).is_err());
        // Any single corrupted byte is caught (by the CRC at the latest) without panicking.
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut corrupt = bytes.clone();
                corrupt[i] ^= flip;
                assert!(boc::from_boc(&corrupt).is_err(), "byte {i} ^ {flip:#x}");
            }
        }
        // Without a CRC corrupt cells reach cell construction (exotic flags,
        // levels, references): any outcome but a panic is fine, and whatever
        // decodes re-encodes to the same cell.
        let mut no_crc = bytes[..bytes.len() - 4].to_vec();
        no_crc[4] &= !0x40;
        assert!(boc::from_boc(&no_crc).is_ok());
        if no_crc.len() > 1024 {
            continue; // quadratic in debug builds; the smaller BoCs cover every field
        }
        for i in 4..no_crc.len() {
            for flip in [0x01, 0x08, 0x10, 0x20, 0x80, 0xff] {
                let mut corrupt = no_crc.clone();
                corrupt[i] ^= flip;
                if let Ok(cell) = boc::from_boc(&corrupt) {
                    assert_eq!(
                        boc::from_boc(&boc::to_boc(&cell)).unwrap(),
                        cell,
                        "byte {i} ^ {flip:#x}"
                    );
                }
            }
        }
    }
}

#[test]
fn boc_without_crc_or_with_several_roots() {
    // Header fields the encoder never writes: no CRC, two roots.
    let one = [
        0xb5, 0xee, 0x9c, 0x72, 0x01, 0x01, 0x01, 0x01, 0x00, 0x03, 0x00, 0x00, 0x02, 0xab,
    ];
    let cell = boc::from_boc(&one).unwrap();
    assert_eq!((cell.bit_len(), cell.data()), (8, &[0xab][..]));
    let two = [
        0xb5, 0xee, 0x9c, 0x72, 0x01, 0x01, 0x02, 0x02, 0x00, 0x06, 0x00, 0x01, 0x00, 0x02, 0xab,
        0x00, 0x02, 0xcd,
    ];
    assert!(matches!(boc::from_boc(&two), Err(Error::Boc(m)) if m.contains("one root")));
    // Cell 0 references itself.
    let backwards = [
        0xb5, 0xee, 0x9c, 0x72, 0x01, 0x01, 0x02, 0x01, 0x00, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00,
        0x00,
    ];
    assert!(matches!(boc::from_boc(&backwards), Err(Error::Boc(_))));
}

#[test]
fn not_a_transaction() {
    let v: serde_json::Value = serde_json::from_str(include_str!("vectors/vectors.json")).unwrap();
    let tx = boc::from_boc_base64(v["transactions"][0]["boc"].as_str().unwrap()).unwrap();
    assert!(spindle_sdk::transaction::parse(&tx).is_ok());
    let truncated = boc::build(|b| b.store_cell_data(&tx).map(drop)).unwrap(); // no refs: no description
    assert!(spindle_sdk::transaction::parse(&truncated).is_err());
    let empty = boc::build(|_| Ok(())).unwrap();
    assert!(matches!(
        spindle_sdk::transaction::parse_header(&empty),
        Err(Error::Cell(_))
    ));
    let message = InternalMessage::new(TonAddress::new(0, TonHash::from([1; 32])), 1)
        .to_cell()
        .unwrap();
    assert!(matches!(
        spindle_sdk::transaction::parse(&message),
        Err(Error::Boc(_))
    ));
}

#[test]
fn keys_mnemonics_and_limits() {
    assert!(matches!(
        signing::verifying_key(&[1; 31]),
        Err(Error::Key(_))
    ));
    assert!(matches!(
        mnemonic_to_key("abandon ".repeat(23).trim()),
        Err(Error::Mnemonic(_))
    ));
    assert!(matches!(
        mnemonic_to_key(&"notaword ".repeat(24)),
        Err(Error::Mnemonic(_))
    ));
    // 24 real words that fail TON's seed check (as almost all random phrases do).
    assert!(matches!(
        mnemonic_to_key("abandon ".repeat(24).trim()),
        Err(Error::Mnemonic(_))
    ));

    let phrase = generate_mnemonic();
    assert_eq!(phrase.split(' ').count(), 24);
    assert_ne!(phrase, generate_mnemonic());
    let key = mnemonic_to_key(&phrase).unwrap();

    let to = address::parse_address(ALICE).unwrap();
    let five = Transfer {
        seqno: 1,
        valid_until: 1,
        messages: vec![Outgoing::new(InternalMessage::new(to, 1)); 5],
    };
    let v4 = WalletV4R2::new(key.verifying_key(), 0);
    assert!(matches!(
        v4.transfer_body(&key, &five),
        Err(Error::TooManyMessages { got: 5, max: 4 })
    ));
    let v5 = WalletV5R1::new(key.verifying_key(), 0, spindle_sdk::MAINNET_GLOBAL_ID);
    assert!(v5.transfer_body(&key, &five).is_ok());
}

#[test]
fn tonconnect_request_and_transfer_link() {
    let body = boc::build(|b| b.store_u32(32, 0x1234).map(drop)).unwrap();
    let init = StateInit::new(
        boc::build(|b| b.store_u8(8, 1).map(drop)).unwrap().into(),
        boc::build(|b| b.store_u8(8, 2).map(drop)).unwrap().into(),
    );
    let to = init.address(0).unwrap();
    let msg = InternalMessage::new(to.clone(), 2_500_000_000)
        .with_body(body.clone())
        .with_state_init(init.clone());
    let plain = InternalMessage::new(address::parse_address(ALICE).unwrap(), 7).with_bounce(false);

    let req = SendTransaction::new(
        &[msg.clone(), plain],
        1_800_000_000,
        Some(spindle_sdk::TESTNET_GLOBAL_ID),
    )
    .unwrap();
    let json = serde_json::to_value(&req).unwrap();
    assert_eq!(json["validUntil"], 1_800_000_000);
    assert_eq!(json["network"], "-3");
    assert_eq!(
        json["messages"][0]["address"],
        address::to_user_friendly(&to, true, true)
    );
    assert_eq!(json["messages"][0]["amount"], "2500000000");
    assert_eq!(json["messages"][0]["payload"], boc::to_boc_base64(&body));
    assert_eq!(
        json["messages"][0]["stateInit"],
        boc::to_boc_base64(&init.to_cell().unwrap())
    );
    assert_eq!(
        json["messages"][1]["address"],
        "0QAr2AbJfw4ArxofwzKPp2OpJpcjyNuPrE-Tr3HbGG1ukHni"
    );
    assert!(json["messages"][1].get("payload").is_none());
    let rpc = req.to_request_json(3);
    assert_eq!(rpc["method"], "sendTransaction");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(rpc["params"][0].as_str().unwrap()).unwrap(),
        json
    );

    let link = transfer_link(&msg, false).unwrap();
    let prefix = format!(
        "ton://transfer/{}?amount=2500000000&bin=",
        address::to_user_friendly(&to, true, false)
    );
    assert!(link.starts_with(&prefix), "{link}");
    let (bin, init_b64) = link[prefix.len()..].split_once("&init=").unwrap();
    assert_eq!(
        boc::from_boc(&URL_SAFE_NO_PAD.decode(bin).unwrap())
            .unwrap()
            .cell_hash(),
        body.cell_hash()
    );
    let init_cell = boc::from_boc(&URL_SAFE_NO_PAD.decode(init_b64).unwrap()).unwrap();
    assert_eq!(init_cell.cell_hash(), to.hash_part);
    assert_eq!(
        transfer_link(&InternalMessage::new(to, 1), false)
            .unwrap()
            .matches('&')
            .count(),
        0
    );
}

#[test]
fn contract_artifacts() {
    let code = boc::build(|b| b.store_u32(32, 0xc0de).map(drop)).unwrap();
    let json = |hash: &str| {
        serde_json::json!({"name": "hub", "codeBoc": boc::to_boc_base64(&code), "codeHash": hash})
            .to_string()
    };
    let a = Artifact::from_json(&json(&code.cell_hash().to_hex()), "hub.json").unwrap();
    assert_eq!(
        (a.name.as_str(), a.code.cell_hash()),
        ("hub", code.cell_hash())
    );

    let dir = std::env::temp_dir().join(format!("spindle-sdk-artifacts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("hub.json"),
        json(&code.cell_hash().to_hex().to_uppercase()),
    )
    .unwrap();
    assert_eq!(
        Artifact::load(&dir, "hub").unwrap().code.cell_hash(),
        code.cell_hash()
    );
    assert!(matches!(
        Artifact::load(&dir, "missing"),
        Err(Error::Artifact { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();

    for bad in [
        json(&"00".repeat(32)),
        "{}".into(),
        json("x").replace("te6", "!!"),
    ] {
        assert!(
            matches!(
                Artifact::from_json(&bad, "hub.json"),
                Err(Error::Artifact { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn payload_body_from_a_closure_equals_body_from_a_cell() {
    let header = signing::PayloadHeader {
        tag: signing::tag(b"cmpl"),
        global_id: -3,
        target: TonAddress::new(0, TonHash::from([3u8; 32])),
        id: 9,
    };
    let child = boc::build(|b| b.store_u8(8, 1).map(drop)).unwrap().to_arc();
    let body = boc::build(|b| b.store_u64(64, 77)?.store_reference(&child).map(drop)).unwrap();
    let via_closure = header
        .cell_with(|b| b.store_u64(64, 77)?.store_reference(&child).map(drop))
        .unwrap();
    assert_eq!(via_closure, header.cell(&body).unwrap());

    let key = SigningKey::from_bytes(&[5; 32]);
    let sig = signing::sign(&key, &via_closure);
    signing::verify(&key.verifying_key(), &via_closure, &sig).unwrap();
    let other_key = SigningKey::from_bytes(&[6; 32]).verifying_key();
    assert!(matches!(
        signing::verify(&other_key, &via_closure, &sig),
        Err(Error::BadSignature)
    ));
    // Too long a body does not fit next to the 395-bit header.
    assert!(
        header
            .cell_with(|b| b.store_slice(&[0; 80]).map(drop))
            .is_err()
    );
}
