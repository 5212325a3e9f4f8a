//! The client in a real browser (headless Chromium, through wasm-bindgen-test-runner and ChromeDriver): the wallet
//! made from the browser's randomness and kept in localStorage, encrypted at rest once a password is set; the
//! channel kept in localStorage and read back by a fresh handle; and signatures identical to the native build's.
//! Run by `./scripts/test client` with WASM_BINDGEN_USE_BROWSER=1.
#![cfg(target_arch = "wasm32")]

use spoke_client::{BrowserStorage, Error, KeyValue, KvStore, Snapshot, StateStore, Wallet};
use spoke_protocol::{Address, ChannelParams, Timing, B256};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

mod vectors;

wasm_bindgen_test_configure!(run_in_browser);

fn local_storage() -> web_sys::Storage {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .expect("the page has localStorage")
}

/// Every value in localStorage.
fn stored_values() -> Vec<String> {
    let storage = local_storage();
    let count = storage.length().expect("length");
    (0..count)
        .filter_map(|i| storage.key(i).ok().flatten())
        .filter_map(|key| storage.get_item(&key).ok().flatten())
        .collect()
}

#[wasm_bindgen_test]
fn signatures_match_the_native_build() {
    vectors::check();
}

#[wasm_bindgen_test]
fn a_wallet_is_made_from_the_browsers_randomness_and_kept_in_local_storage() {
    let kv = BrowserStorage::local().expect("localStorage");
    Wallet::forget(&kv, "made").expect("clean slate");
    Wallet::forget(&kv, "other").expect("clean slate");
    let wallet = Wallet::create(&kv, "made").expect("created");
    assert_eq!(wallet.phrase().split(' ').count(), 12);
    let other = Wallet::create(&kv, "other").expect("a second wallet");
    assert_ne!(
        wallet.phrase(),
        other.phrase(),
        "two draws of the CSPRNG differ"
    );
    // A fresh handle on localStorage, as after a reload.
    let again = BrowserStorage::local().expect("localStorage");
    let opened = Wallet::open(&again, "made", None)
        .expect("opens")
        .expect("it is there");
    assert_eq!(opened.address(), wallet.address());
    assert_eq!(opened.phrase(), wallet.phrase());
    assert!(matches!(
        Wallet::create(&again, "made"),
        Err(Error::WalletExists(_))
    ));
}

#[wasm_bindgen_test]
fn a_password_encrypts_the_wallet_at_rest() {
    let kv = BrowserStorage::local().expect("localStorage");
    Wallet::forget(&kv, "locked").expect("clean slate");
    let wallet = Wallet::create(&kv, "locked").expect("created");
    let secret_hex = spoke_protocol::hex::encode(wallet.secret());
    let words: Vec<&str> = wallet.phrase().split(' ').collect();
    wallet
        .set_password(&kv, "correct horse")
        .expect("encrypted");

    for value in stored_values() {
        assert!(
            !value.contains(wallet.phrase()),
            "the phrase is stored in the clear"
        );
        assert!(
            !value.contains(&secret_hex),
            "the key is stored in the clear"
        );
        for pair in words.windows(2) {
            assert!(
                !value.contains(&pair.join(" ")),
                "words of the phrase are stored in the clear"
            );
        }
    }
    assert!(matches!(
        Wallet::open(&kv, "locked", None),
        Err(Error::Locked)
    ));
    assert!(matches!(
        Wallet::open(&kv, "locked", Some("wrong horse")),
        Err(Error::WrongPassword)
    ));
    let opened = Wallet::open(&kv, "locked", Some("correct horse"))
        .expect("opens")
        .expect("it is there");
    assert_eq!(opened.address(), wallet.address());
    assert_eq!(opened.phrase(), wallet.phrase());
    assert_eq!(
        Wallet::stored_address(&kv, "locked").expect("readable"),
        Some(wallet.address()),
        "the address stays readable while locked"
    );
}

#[wasm_bindgen_test]
fn the_channel_is_kept_in_local_storage_and_read_back_by_a_fresh_handle() {
    let user = Address::repeat_byte(2);
    let key = KvStore::key_for(user, "http://127.0.0.1:1/");
    let kv = BrowserStorage::local().expect("localStorage");
    kv.remove(&key).expect("clean slate");
    let snapshot = Snapshot {
        params: ChannelParams {
            chain_id: 31337,
            contract: Address::repeat_byte(1),
            user,
            node: Address::repeat_byte(3),
            epoch: 0,
            allowed_assets: vec![],
            timing: Timing::default(),
            max_locks: 8,
        },
        latest: None,
        unanswered: None,
        commitments: vec![],
        preimages: vec![(B256::repeat_byte(4), B256::repeat_byte(5))],
        link_preimages: vec![],
        spent: vec![spoke_client::Spent {
            at_ms: 1_700_000_000_000,
            asset: Address::repeat_byte(7),
            amount: spoke_protocol::U256::from(5),
        }],
    };
    let store = KvStore::new(std::sync::Arc::new(kv), key.clone());
    assert_eq!(store.load().expect("empty"), None);
    store.save(&snapshot).expect("saved");

    let reopened = KvStore::new(
        std::sync::Arc::new(BrowserStorage::local().expect("localStorage")),
        key.clone(),
    );
    assert_eq!(reopened.load().expect("loads"), Some(snapshot));
    assert!(local_storage()
        .get_item(&key)
        .expect("readable")
        .is_some_and(|v| v.contains("\"preimages\"")));

    local_storage()
        .set_item(&key, "{not json")
        .expect("writable");
    assert!(
        matches!(reopened.load(), Err(Error::Store(_))),
        "a damaged copy is an error, not an empty channel"
    );
}
