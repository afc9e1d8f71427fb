//! Configuration: the example loads, environment wins, secrets stay out of Debug, and
//! every problem is reported with a fix.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use spindle_relayer::config::{Config, ConfigError, example_config};

const KEY_HEX: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0";
const HUB: &str = "0:1212121212121212121212121212121212121212121212121212121212121212";

fn key_file(dir: &Path, mode: u32) -> PathBuf {
    let path = dir.join("relayer.key");
    std::fs::write(&path, format!("{KEY_HEX}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn problems(err: ConfigError) -> String {
    assert!(
        !err.problems().is_empty(),
        "expected validation problems, got {err}"
    );
    err.to_string()
}

#[test]
fn example_config_loads_and_hides_secrets() {
    let dir = crate::common::temp_dir("cfg_example");
    let key = key_file(&dir, 0o600);
    let text = example_config(HUB, &key);
    let path = dir.join("relayer.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::load_with_env(
        Some(&path),
        env(&[("SPINDLE_CHAIN_API_KEY", "sekrit-api-key")]),
    )
    .unwrap();
    assert_eq!(config.chain.hub, HUB);
    assert_eq!(config.chain.rps, 10);
    assert_eq!(config.key.seed()[0], 0x9f);
    assert_eq!(config.store_url.expose(), "sqlite://spindle-relayer.db");
    assert_eq!(config.thresholds.lease_duration.as_secs(), 60);
    assert_eq!(config.prices.len(), 1);
    let debug = format!("{config:?}");
    assert!(
        !debug.contains(KEY_HEX) && !debug.contains("159, 142"),
        "key leaked: {debug}"
    );
    assert!(!debug.contains("sekrit"), "API key leaked: {debug}");
    assert_eq!(
        config.chain.api_key.as_ref().unwrap().expose(),
        "sekrit-api-key"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn environment_overrides_the_file() {
    let dir = crate::common::temp_dir("cfg_env");
    let key = key_file(&dir, 0o400);
    let text = example_config(HUB, Path::new("/nonexistent/key"));
    let peer = "ab".repeat(32);
    let config = Config::from_toml_str(
        &text,
        "test",
        env(&[
            ("SPINDLE_RELAYER_KEY_FILE", key.to_str().unwrap()),
            ("SPINDLE_CHAIN_RPS", "5"),
            (
                "SPINDLE_STORE_URL",
                "postgres://spindle:hunter2@db.internal/spindle",
            ),
            (
                "SPINDLE_PEERS",
                &format!("{peer}@https://r2.example:8480, {peer}@http://10.0.0.3:8480"),
            ),
            ("SPINDLE_THRESHOLDS_HEARTBEAT_INTERVAL_SECS", "20"),
            (
                "SPINDLE_WORKER_SOMETHING",
                "ignored: another component's variable",
            ),
        ]),
    );
    // Duplicate peer key: reported, together with nothing else.
    let err = problems(config.unwrap_err());
    assert!(
        err.contains("peers[1].pubkey") && err.contains("repeats"),
        "{err}"
    );

    let other = "cd".repeat(32);
    let config = Config::from_toml_str(
        &text,
        "test",
        env(&[
            ("SPINDLE_RELAYER_KEY_FILE", key.to_str().unwrap()),
            ("SPINDLE_CHAIN_RPS", "5"),
            (
                "SPINDLE_STORE_URL",
                "postgres://spindle:hunter2@db.internal/spindle",
            ),
            (
                "SPINDLE_PEERS",
                &format!("{peer}@https://r2.example:8480,{other}@http://10.0.0.3:8480"),
            ),
        ]),
    )
    .unwrap();
    assert_eq!(config.chain.rps, 5);
    assert!(config.store_url.is_postgres());
    assert_eq!(config.peers.len(), 2);
    assert_eq!(config.peers[1].url.as_str(), "http://10.0.0.3:8480/");
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"), "store password leaked: {debug}");
    assert!(!config.store_url.to_string().contains("hunter2"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn readable_key_file_is_refused_with_a_fix() {
    let dir = crate::common::temp_dir("cfg_mode");
    let key = key_file(&dir, 0o644);
    let err =
        problems(Config::from_toml_str(&example_config(HUB, &key), "test", env(&[])).unwrap_err());
    assert!(
        err.contains("relayer.key_file") && err.contains("0644") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains(KEY_HEX), "the error must not quote the key");

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&key, "not a key").unwrap();
    let err =
        problems(Config::from_toml_str(&example_config(HUB, &key), "test", env(&[])).unwrap_err());
    assert!(
        err.contains("64 hex digits") && !err.contains("not a key"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn all_problems_reported_at_once() {
    let text = r#"
        [chain]
        api_url = "ftp://nowhere"
        [relayer]
        listen = "localhost"
        [store]
        url = "mysql://x"
        [thresholds]
        lease_duration_secs = 20
        heartbeat_interval_secs = 15
        [[prices]]
        asset = "DOGE"
        model = "m"
        per_million_tokens = 0
    "#;
    let err =
        Config::from_toml_str(text, "test", env(&[("SPINDLE_CHAIN_RPS", "lots")])).unwrap_err();
    let msg = problems(err);
    assert!(
        msg.contains("SPINDLE_CHAIN_RPS") && msg.contains("not a whole number"),
        "{msg}"
    );

    let err = Config::from_toml_str(text, "test", env(&[])).unwrap_err();
    let found = err
        .problems()
        .iter()
        .map(|p| p.setting.clone())
        .collect::<Vec<_>>();
    for expected in [
        "chain.api_url (SPINDLE_CHAIN_API_URL)",
        "chain.hub (SPINDLE_CHAIN_HUB)",
        "relayer.key_file (SPINDLE_RELAYER_KEY_FILE)",
        "relayer.listen (SPINDLE_RELAYER_LISTEN)",
        "store.url (SPINDLE_STORE_URL)",
        "thresholds.heartbeat_interval_secs (SPINDLE_THRESHOLDS_HEARTBEAT_INTERVAL_SECS)",
        "prices[0].asset",
        "prices[0].per_million_tokens",
    ] {
        assert!(
            found.iter().any(|f| f == expected),
            "missing problem for {expected}: {found:?}"
        );
    }
    assert!(
        err.problems().iter().all(|p| !p.fix.is_empty()),
        "every problem says what to do"
    );
}

#[test]
fn unknown_settings_are_refused() {
    let err = Config::from_toml_str("[chain]\napi_ur = \"http://x\"\n", "relayer.toml", env(&[]))
        .unwrap_err();
    assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
    assert!(err.to_string().contains("api_ur"), "{err}");
}

#[test]
fn hub_is_checked_and_normalised() {
    let dir = crate::common::temp_dir("cfg_hub");
    let key = key_file(&dir, 0o600);
    let address = spindle_sdk::address::parse_address(HUB).unwrap();
    let friendly = spindle_sdk::address::to_user_friendly(&address, true, false);
    let config = Config::from_toml_str(&example_config(&friendly, &key), "test", env(&[])).unwrap();
    assert_eq!(
        (config.chain.hub.as_str(), config.chain.hub_raw.as_str()),
        (friendly.as_str(), HUB)
    );

    let err = Config::from_toml_str(&example_config("EQ-not-an-address", &key), "test", env(&[]))
        .unwrap_err();
    let msg = problems(err);
    assert!(
        msg.contains("chain.hub (SPINDLE_CHAIN_HUB)") && msg.contains("not a TON address"),
        "{msg}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn own_key_among_peers_is_refused() {
    let dir = crate::common::temp_dir("cfg_self");
    let key = key_file(&dir, 0o600);
    let mut seed = [0u8; 32];
    hex::decode_to_slice(KEY_HEX, &mut seed).unwrap();
    let own = hex::encode(
        spindle_sdk::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes(),
    );
    let peers = format!("{own}@https://me.example:8480");
    let err = Config::from_toml_str(
        &example_config(HUB, &key),
        "test",
        env(&[("SPINDLE_PEERS", &peers)]),
    )
    .unwrap_err();
    let msg = problems(err);
    assert!(msg.contains("own key"), "{msg}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn init_writes_a_private_key_once() {
    use spindle_relayer::config::RelayerKey;
    let dir = crate::common::temp_dir("cfg_init");
    let path = dir.join("new.key");
    let key = RelayerKey::from_seed([7; 32]);
    key.write_new(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let err = RelayerKey::from_seed([8; 32]).write_new(&path).unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::AlreadyExists,
        "an existing key is never overwritten"
    );
    let config = Config::from_toml_str(&example_config(HUB, &path), "test", env(&[])).unwrap();
    assert_eq!(config.key.seed(), &[7; 32]);
    assert_eq!(config.key.public_key(), key.public_key());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn relayer_set_defaults_to_sorted_members_and_a_majority() {
    let dir = crate::common::temp_dir("cfg_set");
    let key = key_file(&dir, 0o600);
    let text = example_config(HUB, &key);
    let public = |seed: u8| {
        spindle_sdk::SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes()
    };
    let (pa, pb) = (public(7), public(8));
    let (a, b) = (hex::encode(pa), hex::encode(pb));
    let peers = format!("{a}@https://r2.example:8480,{b}@https://r3.example:8480");
    let config = Config::from_toml_str(&text, "test", env(&[("SPINDLE_PEERS", &peers)])).unwrap();
    let own = config.key.public_key();
    let mut expected = vec![own, pa, pb];
    expected.sort();
    assert_eq!(config.relayer_set.members, expected);
    assert_eq!((config.relayer_set.k, config.relayer_set.version), (2, 1));
    assert_eq!(config.relayer_set.to_set().unwrap().keys.len(), 3);
    // The gateway's identity is the posting wallet's address on this network.
    let wallet = spindle_sdk::address::to_raw(&config.wallet().address().unwrap());
    assert_eq!(config.gateway.relayer_address, wallet);
    assert_eq!(config.gateway.global_id, config.chain.global_id);

    // Members that are not exactly this relayer and its peers are named.
    let listed = text.replace(
        "# members = [",
        &format!("members = [\"{a}\", \"{}\"]\n# x = [", hex::encode(own)),
    );
    let err = problems(
        Config::from_toml_str(&listed, "test", env(&[("SPINDLE_PEERS", &peers)])).unwrap_err(),
    );
    assert!(err.contains("relayer_set.members"), "{err}");
    let err = problems(
        Config::from_toml_str(
            &text,
            "test",
            env(&[("SPINDLE_PEERS", &peers), ("SPINDLE_RELAYER_SET_K", "4")]),
        )
        .unwrap_err(),
    );
    assert!(
        err.contains("relayer_set.k (SPINDLE_RELAYER_SET_K): is 4"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn gateway_identity_is_derived_and_providers_are_checked() {
    let dir = crate::common::temp_dir("cfg_gw");
    let key = key_file(&dir, 0o600);
    let text = example_config(HUB, &key);
    let with = |extra: &str| text.replace("[gateway]\n", &format!("[gateway]\n{extra}\n"));
    let err = problems(
        Config::from_toml_str(&with("relayer_address = \"0:00\""), "test", env(&[])).unwrap_err(),
    );
    assert!(
        err.contains("gateway.relayer_address") && err.contains("derived"),
        "{err}"
    );
    let bad_provider =
        format!("{text}\n[[gateway.providers]]\noperator_key = \"zz\"\nowner = \"{HUB}\"\n");
    let err = problems(Config::from_toml_str(&bad_provider, "test", env(&[])).unwrap_err());
    assert!(err.contains("gateway.providers"), "{err}");
    let err =
        problems(Config::from_toml_str(&with("heartbeat_sec = 3"), "test", env(&[])).unwrap_err());
    assert!(
        err.contains("gateway") && err.contains("heartbeat_sec"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn explorer_defaults_by_network_and_can_be_set_or_turned_off() {
    let dir = crate::common::temp_dir("cfg_explorer");
    let key = key_file(&dir, 0o600);
    let text = example_config(HUB, &key);
    let load = |pairs: &[(&str, &str)]| Config::from_toml_str(&text, "test", env(pairs));
    // A devnet has no explorer unless one is named.
    let devnet = load(&[("SPINDLE_CHAIN_GLOBAL_ID", "-1313")]).unwrap();
    assert_eq!(devnet.chain.explorer, None);
    let testnet = load(&[("SPINDLE_CHAIN_GLOBAL_ID", "-3")]).unwrap();
    assert_eq!(
        testnet.chain.explorer.as_deref(),
        Some("https://testnet.tonviewer.com/")
    );
    let mainnet = load(&[("SPINDLE_CHAIN_GLOBAL_ID", "-239")]).unwrap();
    assert_eq!(
        mainnet.chain.explorer.as_deref(),
        Some("https://tonviewer.com/")
    );
    // A configured base gets its trailing slash; "" in the file turns links off even on
    // mainnet.
    let own = load(&[("SPINDLE_CHAIN_EXPLORER", "http://explorer.local:8080/net")]).unwrap();
    assert_eq!(
        own.chain.explorer.as_deref(),
        Some("http://explorer.local:8080/net/")
    );
    let off_text = text.replace(
        "# explorer = \"https://testnet.tonviewer.com/\"",
        "explorer = \"\"",
    );
    assert_ne!(off_text, text);
    let off = Config::from_toml_str(
        &off_text,
        "test",
        env(&[("SPINDLE_CHAIN_GLOBAL_ID", "-239")]),
    )
    .unwrap();
    assert_eq!(off.chain.explorer, None);
    let msg = problems(load(&[("SPINDLE_CHAIN_EXPLORER", "ftp://x")]).unwrap_err());
    assert!(
        msg.contains("chain.explorer (SPINDLE_CHAIN_EXPLORER)")
            && msg.contains("not an http(s) URL"),
        "{msg}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
