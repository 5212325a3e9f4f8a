//! The wallet's tests, natively, over `MemoryKv`.

use super::*;
use crate::MemoryKv;

/// Few rounds, so that debug-build tests stay quick; one test uses the real default.
const FAST: u32 = 1_000;
const HARDHAT: &str = "test test test test test test test test test test test junk";
const HARDHAT_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const HARDHAT_SECRET: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

fn hardhat_address() -> Address {
    HARDHAT_ADDRESS.parse().expect("address")
}

/// Nothing that gives the wallet away is in the store: the phrase, any two of its words in a row, the key.
fn assert_no_secret_stored(kv: &MemoryKv, wallet: &Wallet) {
    let words: Vec<&str> = wallet.phrase().split(' ').collect();
    let secret = hex::encode(wallet.secret());
    for value in kv.values() {
        let lower = value.to_lowercase();
        assert!(!lower.contains(wallet.phrase()), "phrase stored: {value}");
        for pair in words.windows(2) {
            assert!(
                !lower.contains(&pair.join(" ")),
                "words stored in sequence: {value}"
            );
        }
        assert!(!lower.contains(&secret), "secret key stored: {value}");
        assert!(
            !lower.contains("\"phrase\""),
            "phrase field stored: {value}"
        );
    }
}

#[test]
fn create_then_open_without_password() {
    let kv = MemoryKv::new();
    let wallet = Wallet::create(&kv, "main").expect("create");
    assert_eq!(wallet.phrase().split(' ').count(), 12);
    assert_eq!(wallet.name(), "main");
    let opened = Wallet::open(&kv, "main", None)
        .expect("open")
        .expect("stored");
    assert_eq!(opened.address(), wallet.address());
    assert_eq!(opened.phrase(), wallet.phrase());
    assert_eq!(opened.secret(), wallet.secret());
    assert_eq!(wallet.signer().expect("signer").address(), wallet.address());
    assert_eq!(
        Wallet::stored_address(&kv, "main").expect("address"),
        Some(wallet.address())
    );
    assert_eq!(
        Wallet::is_encrypted(&kv, "main").expect("encrypted"),
        Some(false)
    );
    // Another name is another wallet.
    let other = Wallet::create(&kv, "other").expect("create other");
    assert_ne!(other.phrase(), wallet.phrase());
    assert_ne!(other.address(), wallet.address());
}

#[test]
fn create_twice_refuses_and_keeps_the_first() {
    let kv = MemoryKv::new();
    let first = Wallet::create(&kv, "main").expect("create");
    let err = Wallet::create(&kv, "main").expect_err("second create");
    assert!(matches!(err, Error::WalletExists(_)), "{err:?}");
    assert_eq!(err.code(), "WALLET_EXISTS");
    let opened = Wallet::open(&kv, "main", None)
        .expect("open")
        .expect("stored");
    assert_eq!(opened.phrase(), first.phrase());
}

#[test]
fn metamask_test_vector() {
    let kv = MemoryKv::new();
    let wallet = Wallet::import(&kv, "main", HARDHAT, None, false).expect("import");
    assert_eq!(wallet.address(), hardhat_address());
    assert_eq!(wallet.address().to_checksum(None), HARDHAT_ADDRESS);
    assert_eq!(hex::encode(wallet.secret()), HARDHAT_SECRET);
    assert_eq!(
        wallet.signer().expect("signer").address(),
        hardhat_address()
    );
    // Case and spacing do not matter; the phrase is kept normalised.
    let messy = "  Test TEST test\ttest test test\n test test test  test test JUNK ";
    let again = Wallet::import(&kv, "messy", messy, None, false).expect("import messy");
    assert_eq!(again.address(), hardhat_address());
    assert_eq!(again.phrase(), HARDHAT);
    let opened = Wallet::open(&kv, "messy", None)
        .expect("open")
        .expect("stored");
    assert_eq!(opened.phrase(), HARDHAT);
    // The address is in clear, checksummed, for a page to show.
    let raw = kv.get("spoke:wallet:main").expect("get").expect("stored");
    assert!(raw.contains(HARDHAT_ADDRESS), "{raw}");
}

#[test]
fn password_seals_the_phrase() {
    let kv = MemoryKv::new();
    let wallet = Wallet::create(&kv, "main").expect("create");
    wallet
        .set_password_with_iterations(&kv, "hunter22", FAST)
        .expect("set password");
    assert_no_secret_stored(&kv, &wallet);
    assert_eq!(
        Wallet::is_encrypted(&kv, "main").expect("encrypted"),
        Some(true)
    );
    assert_eq!(
        Wallet::stored_address(&kv, "main").expect("address"),
        Some(wallet.address())
    );

    let err = Wallet::open(&kv, "main", None).expect_err("no password");
    assert!(matches!(err, Error::Locked), "{err:?}");
    assert_eq!(err.code(), "LOCKED");
    let err = Wallet::open(&kv, "main", Some("hunter2")).expect_err("wrong password");
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    assert_eq!(err.code(), "WRONG_PASSWORD");
    let err = Wallet::open(&kv, "main", Some("")).expect_err("empty password");
    assert!(matches!(err, Error::WrongPassword), "{err:?}");

    let opened = Wallet::open(&kv, "main", Some("hunter22"))
        .expect("open")
        .expect("stored");
    assert_eq!(opened.address(), wallet.address());
    assert_eq!(opened.phrase(), wallet.phrase());

    opened
        .check_password(&kv, "hunter22")
        .expect("right password");
    let err = opened
        .check_password(&kv, "Hunter22")
        .expect_err("wrong password");
    assert!(matches!(err, Error::WrongPassword), "{err:?}");

    // A new password replaces the old one.
    opened
        .set_password_with_iterations(&kv, "correct horse", FAST)
        .expect("new password");
    assert_no_secret_stored(&kv, &wallet);
    let err = Wallet::open(&kv, "main", Some("hunter22")).expect_err("old password");
    assert!(matches!(err, Error::WrongPassword), "{err:?}");
    let reopened = Wallet::open(&kv, "main", Some("correct horse"))
        .expect("open")
        .expect("stored");
    assert_eq!(reopened.phrase(), wallet.phrase());
}

#[test]
fn password_at_the_default_rounds() {
    let kv = MemoryKv::new();
    let wallet = Wallet::import(&kv, "main", HARDHAT, None, false).expect("import");
    wallet.set_password(&kv, "hunter22").expect("set password");
    assert_no_secret_stored(&kv, &wallet);
    let raw = kv.get("spoke:wallet:main").expect("get").expect("stored");
    let record: serde_json::Value = serde_json::from_str(&raw).expect("json");
    assert_eq!(record["version"], 1);
    assert_eq!(record["address"], HARDHAT_ADDRESS);
    assert_eq!(record["crypto"]["kdf"], "pbkdf2-hmac-sha256");
    assert_eq!(record["crypto"]["iterations"], DEFAULT_ITERATIONS);
    assert_eq!(record["crypto"]["cipher"], "aes-256-gcm");
    assert_eq!(record["crypto"]["salt"].as_str().expect("salt").len(), 32);
    assert_eq!(record["crypto"]["nonce"].as_str().expect("nonce").len(), 24);
    let opened = Wallet::open(&kv, "main", Some("hunter22"))
        .expect("open")
        .expect("stored");
    assert_eq!(opened.address(), hardhat_address());
    assert_eq!(opened.phrase(), HARDHAT);
}

#[test]
fn check_password_without_a_password_set() {
    let kv = MemoryKv::new();
    let wallet = Wallet::create(&kv, "main").expect("create");
    wallet
        .check_password(&kv, "anything")
        .expect("no password set");
    // A password given for a clear wallet is ignored.
    assert!(Wallet::open(&kv, "main", Some("anything"))
        .expect("open")
        .is_some());
}

#[test]
fn empty_password_is_refused() {
    let kv = MemoryKv::new();
    let wallet = Wallet::create(&kv, "main").expect("create");
    let err = wallet
        .set_password_with_iterations(&kv, "", FAST)
        .expect_err("empty");
    assert_eq!(err.code(), "WALLET");
    assert_eq!(
        Wallet::is_encrypted(&kv, "main").expect("encrypted"),
        Some(false)
    );
    let err = Wallet::import_with_iterations(&kv, "b", HARDHAT, Some(""), false, FAST)
        .expect_err("empty");
    assert_eq!(err.code(), "WALLET");
    assert_eq!(Wallet::stored_address(&kv, "b").expect("address"), None);
}

#[test]
fn import_with_password_never_stores_the_phrase() {
    let kv = MemoryKv::new();
    let wallet = Wallet::import_with_iterations(&kv, "main", HARDHAT, Some("pw"), false, FAST)
        .expect("import");
    assert_no_secret_stored(&kv, &wallet);
    assert_eq!(
        Wallet::is_encrypted(&kv, "main").expect("encrypted"),
        Some(true)
    );
    assert_eq!(
        Wallet::stored_address(&kv, "main").expect("address"),
        Some(hardhat_address())
    );
    let opened = Wallet::open(&kv, "main", Some("pw"))
        .expect("open")
        .expect("stored");
    assert_eq!(opened.phrase(), HARDHAT);
}

#[test]
fn bad_phrases_are_refused_and_nothing_is_stored() {
    let kv = MemoryKv::new();
    let cases = [
        // Valid words, wrong last word for the checksum.
        ("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon", "checksum"),
        ("test test test test test test test test test test test jungle", "checksum"),
        ("test test test test test test test test test test test junkk", "word 12"),
        ("test test test test test test test test test test test", "11 words"),
        ("", "0 words"),
    ];
    for (phrase, expected) in cases {
        let err = Wallet::import(&kv, "main", phrase, None, false).expect_err(phrase);
        assert!(matches!(err, Error::BadPhrase(_)), "{phrase}: {err:?}");
        assert_eq!(err.code(), "BAD_PHRASE");
        let message = err.to_string();
        assert!(message.contains(expected), "{phrase}: {message}");
        assert!(!message.contains("test test"), "{message}");
        assert!(kv.values().is_empty(), "{phrase}: something was stored");
    }
    // With a password too, nothing is stored.
    let err = Wallet::import_with_iterations(&kv, "main", "test junk", Some("pw"), false, FAST)
        .expect_err("bad");
    assert_eq!(err.code(), "BAD_PHRASE");
    assert!(kv.values().is_empty());
}

#[test]
fn import_does_not_overwrite_unless_asked() {
    let kv = MemoryKv::new();
    let old = Wallet::create(&kv, "main").expect("create");
    let err = Wallet::import(&kv, "main", HARDHAT, None, false).expect_err("exists");
    assert!(matches!(err, Error::WalletExists(_)), "{err:?}");
    let kept = Wallet::open(&kv, "main", None)
        .expect("open")
        .expect("stored");
    assert_eq!(kept.phrase(), old.phrase());
    // A bad phrase with `replace` keeps the old one too.
    Wallet::import(&kv, "main", "test junk", None, true).expect_err("bad phrase");
    let kept = Wallet::open(&kv, "main", None)
        .expect("open")
        .expect("stored");
    assert_eq!(kept.phrase(), old.phrase());

    let new = Wallet::import(&kv, "main", HARDHAT, None, true).expect("replace");
    assert_eq!(new.address(), hardhat_address());
    let opened = Wallet::open(&kv, "main", None)
        .expect("open")
        .expect("stored");
    assert_eq!(opened.phrase(), HARDHAT);
    // The old wallet object no longer matches what is stored.
    assert!(old.set_password_with_iterations(&kv, "pw", FAST).is_err());
    assert_eq!(
        Wallet::is_encrypted(&kv, "main").expect("encrypted"),
        Some(false)
    );
}

#[test]
fn damaged_records_are_errors_not_panics() {
    let kv = MemoryKv::new();
    let key = "spoke:wallet:main";
    let good = Wallet::import_with_iterations(&kv, "main", HARDHAT, Some("pw"), false, FAST)
        .expect("import");
    let sealed = kv.get(key).expect("get").expect("stored");
    let record: serde_json::Value = serde_json::from_str(&sealed).expect("json");
    let with = |path: &[&str], value: serde_json::Value| {
        let mut record = record.clone();
        let mut at = &mut record;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = value;
        record.to_string()
    };
    let damaged = [
        "{not json".to_string(),
        "null".to_string(),
        "[]".to_string(),
        r#"{"version":1,"address":"0x00"}"#.to_string(),
        format!(r#"{{"version":1,"address":"{HARDHAT_ADDRESS}"}}"#),
        format!(r#"{{"version":2,"address":"{HARDHAT_ADDRESS}","phrase":"{HARDHAT}"}}"#),
        format!(r#"{{"version":1,"address":"{HARDHAT_ADDRESS}","phrase":"not a phrase"}}"#),
        // The phrase of another address.
        format!(
            r#"{{"version":1,"address":"0x70997970C51812dc3A010C7d01b50e0d17dc79C8","phrase":"{HARDHAT}"}}"#
        ),
        with(&["phrase"], HARDHAT.into()),
        with(&["crypto", "nonce"], "00".into()),
        with(&["crypto", "nonce"], "zz".into()),
        with(&["crypto", "salt"], "".into()),
        with(&["crypto", "ciphertext"], "00".into()),
        with(&["crypto", "ciphertext"], 7.into()),
        with(&["crypto", "iterations"], 0.into()),
        with(&["crypto", "iterations"], u64::from(u32::MAX).into()),
        with(&["crypto", "iterations"], (-1).into()),
        with(&["crypto", "kdf"], "scrypt".into()),
        with(&["crypto", "cipher"], "aes-128-ctr".into()),
    ];
    for value in damaged {
        kv.set(key, &value).expect("set");
        let err = Wallet::open(&kv, "main", Some("pw")).expect_err(&value);
        assert_eq!(err.code(), "WALLET", "{value}: {err:?}");
        assert!(!err.to_string().contains("test test"), "{}", err);
    }
    kv.set(key, "{not json").expect("set");
    assert!(Wallet::stored_address(&kv, "main").is_err());
    assert!(Wallet::is_encrypted(&kv, "main").is_err());
    assert!(good.check_password(&kv, "pw").is_err());
    // A damaged record still counts as a wallet that `create` will not overwrite.
    assert!(matches!(
        Wallet::create(&kv, "main"),
        Err(Error::WalletExists(_))
    ));

    // Tampering with the sealed part or the address it is bound to fails like a wrong password.
    let flipped = {
        let mut ciphertext = record["crypto"]["ciphertext"]
            .as_str()
            .expect("hex")
            .to_string();
        let last = if ciphertext.ends_with('0') { "1" } else { "0" };
        ciphertext.replace_range(ciphertext.len() - 1.., last);
        ciphertext
    };
    for value in [
        with(&["crypto", "ciphertext"], flipped.into()),
        with(
            &["address"],
            "0x70997970C51812dc3A010C7d01b50e0d17dc79C8".into(),
        ),
    ] {
        kv.set(key, &value).expect("set");
        let err = Wallet::open(&kv, "main", Some("pw")).expect_err(&value);
        assert!(matches!(err, Error::WrongPassword), "{err:?}");
    }
}

#[test]
fn forget_removes_the_wallet() {
    let kv = MemoryKv::new();
    let wallet = Wallet::create(&kv, "main").expect("create");
    Wallet::create(&kv, "other").expect("create other");
    Wallet::forget(&kv, "main").expect("forget");
    assert!(Wallet::open(&kv, "main", None).expect("open").is_none());
    assert_eq!(Wallet::stored_address(&kv, "main").expect("address"), None);
    assert_eq!(Wallet::is_encrypted(&kv, "main").expect("encrypted"), None);
    assert!(Wallet::open(&kv, "other", None).expect("open").is_some());
    // A forgotten wallet cannot be brought back by setting a password on a leftover handle.
    assert!(wallet
        .set_password_with_iterations(&kv, "pw", FAST)
        .is_err());
    assert!(Wallet::open(&kv, "main", None).expect("open").is_none());
    Wallet::forget(&kv, "main").expect("forget twice");
    Wallet::create(&kv, "main").expect("create again");
}

#[test]
fn debug_shows_no_secret() {
    let kv = MemoryKv::new();
    let wallet = Wallet::import(&kv, "main", HARDHAT, None, false).expect("import");
    let shown = format!("{wallet:?} {wallet:#?}").to_lowercase();
    assert!(!shown.contains("test"), "{shown}");
    assert!(!shown.contains("junk"), "{shown}");
    assert!(!shown.contains(HARDHAT_SECRET), "{shown}");
    assert!(shown.contains(&HARDHAT_ADDRESS.to_lowercase()), "{shown}");
}
