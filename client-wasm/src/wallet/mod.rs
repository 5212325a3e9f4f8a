//! The in-page wallet: a BIP-39 recovery phrase kept under a name in a [`KeyValue`], and the channel key derived
//! from it at m/44'/60'/0'/0/0 with an empty BIP-39 passphrase, as MetaMask does.
//!
//! The record under `spoke:wallet:{name}` is JSON. Until a password is set it holds the phrase in clear:
//!
//! ```json
//! {"version":1,"address":"0xf39F…2266","phrase":"test test … junk"}
//! ```
//!
//! Once a password is set it holds only ciphertext: PBKDF2-HMAC-SHA256 turns the password and a random 16-byte salt
//! into a 32-byte key, and AES-256-GCM with a random 12-byte nonce seals the phrase, the 20 address bytes as
//! associated data. The address stays in clear so that a page can show it while the wallet is locked.
//!
//! ```json
//! {"version":1,"address":"0xf39F…2266","crypto":{"kdf":"pbkdf2-hmac-sha256","iterations":600000,"salt":"…",
//!  "cipher":"aes-256-gcm","nonce":"…","ciphertext":"…"}}
//! ```
//!
//! Everything here is plain Rust and behaves the same natively and in the browser; randomness comes from
//! `getrandom` (the OS, or `crypto.getRandomValues` in the browser).

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use serde::Serialize;
use sha2::{Sha256, Sha512};
use spoke_protocol::{hex, json::from_slice, Address, Signer, B256};
use zeroize::{Zeroize, Zeroizing};

use crate::{Error, KeyValue, Result};

/// The record format written by this code.
const VERSION: u32 = 1;
/// PBKDF2 rounds for a new password (OWASP's 2023 figure for PBKDF2-HMAC-SHA256).
pub(crate) const DEFAULT_ITERATIONS: u32 = 600_000;
/// A stored record asking for more rounds than this is refused rather than left to hang the page.
const MAX_ITERATIONS: u32 = 10_000_000;
/// Ethereum's BIP-44 path, first account, first address: MetaMask's first account.
const DERIVATION_PATH: &str = "m/44'/60'/0'/0/0";
/// BIP-39: the seed is PBKDF2-HMAC-SHA512 of the phrase, salted with "mnemonic" + passphrase (empty here).
const SEED_SALT: &[u8] = b"mnemonic";
const SEED_ROUNDS: u32 = 2048;
/// 128 bits of entropy: a 12-word phrase.
const ENTROPY_LEN: usize = 16;
const KDF: &str = "pbkdf2-hmac-sha256";
const CIPHER: &str = "aes-256-gcm";
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// A wallet opened from (or just written to) a [`KeyValue`]: its name, recovery phrase, channel key and address.
///
/// `Debug` shows the name and address only; the phrase and key are wiped from memory when the wallet is dropped.
#[derive(Clone)]
pub struct Wallet {
    name: String,
    phrase: Zeroizing<String>,
    secret: Zeroizing<[u8; 32]>,
    address: Address,
}

impl std::fmt::Debug for Wallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wallet")
            .field("name", &self.name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Wallet {
    /// Makes a new 12-word wallet from fresh randomness and stores it, in clear, under `name`. Refuses if a wallet
    /// (even an unreadable one) is already stored under that name.
    pub fn create(kv: &dyn KeyValue, name: &str) -> Result<Wallet> {
        Wallet::create_with_password(kv, name, None)
    }

    /// [`Wallet::create`], encrypted in the same write when `password` is given: the new phrase never reaches
    /// storage in the clear.
    pub fn create_with_password(
        kv: &dyn KeyValue,
        name: &str,
        password: Option<&str>,
    ) -> Result<Wallet> {
        refuse_existing(kv, name)?;
        let mut entropy = Zeroizing::new([0u8; ENTROPY_LEN]);
        random(entropy.as_mut())?;
        let wallet = Wallet::derive(name, bip::phrase_of(entropy.as_ref()))?;
        match password {
            Some(password) => wallet.save_sealed(kv, password, DEFAULT_ITERATIONS)?,
            None => wallet.save_clear(kv)?,
        }
        Ok(wallet)
    }

    /// Stores an existing recovery phrase under `name`: sealed under `password` when one is given (the phrase is
    /// then never written in clear), in clear otherwise.
    ///
    /// The phrase is checked against the BIP-39 English word list and its checksum; case and spacing do not
    /// matter. Any standard length (12, 15, 18, 21 or 24 words) is accepted. Refuses to overwrite a wallet stored
    /// under the same name unless `replace`. Nothing is stored if anything is refused.
    pub fn import(
        kv: &dyn KeyValue,
        name: &str,
        phrase: &str,
        password: Option<&str>,
        replace: bool,
    ) -> Result<Wallet> {
        Wallet::import_with_iterations(kv, name, phrase, password, replace, DEFAULT_ITERATIONS)
    }

    /// [`Wallet::import`] with a chosen PBKDF2 round count (tests use few).
    pub(crate) fn import_with_iterations(
        kv: &dyn KeyValue,
        name: &str,
        phrase: &str,
        password: Option<&str>,
        replace: bool,
        iterations: u32,
    ) -> Result<Wallet> {
        if let Some(password) = password {
            check_new_password(password)?;
        }
        if !replace {
            refuse_existing(kv, name)?;
        }
        let wallet = Wallet::from_phrase(name, phrase)?;
        match password {
            Some(password) => wallet.save_sealed(kv, password, iterations)?,
            None => wallet.save_clear(kv)?,
        }
        Ok(wallet)
    }

    /// Opens the wallet stored under `name`: `None` if there is none, [`Error::Locked`] if it is sealed and no
    /// password is given, [`Error::WrongPassword`] if the password does not open it. A password given for a wallet
    /// that has none is ignored.
    pub fn open(kv: &dyn KeyValue, name: &str, password: Option<&str>) -> Result<Option<Wallet>> {
        let Some(stored) = load(kv, name)? else {
            return Ok(None);
        };
        let phrase = match &stored.secret {
            Secret::Clear(phrase) => phrase.clone(),
            Secret::Sealed(crypto) => {
                unseal(crypto, &stored.address, password.ok_or(Error::Locked)?)?
            }
        };
        let wallet = Wallet::from_phrase(name, &phrase)
            .map_err(|_| corrupt("the stored phrase is not a valid recovery phrase"))?;
        if wallet.address != stored.address {
            return Err(corrupt("the stored address is not the phrase's address"));
        }
        Ok(Some(wallet))
    }

    /// The address of the wallet stored under `name`, readable without its password.
    pub fn stored_address(kv: &dyn KeyValue, name: &str) -> Result<Option<Address>> {
        Ok(load(kv, name)?.map(|stored| stored.address))
    }

    /// Whether the wallet stored under `name` is sealed under a password; `None` if there is none.
    pub fn is_encrypted(kv: &dyn KeyValue, name: &str) -> Result<Option<bool>> {
        Ok(load(kv, name)?.map(|stored| matches!(stored.secret, Secret::Sealed(_))))
    }

    /// Removes the wallet stored under `name` ("burn card"). Removing one that is not there is not an error.
    pub fn forget(kv: &dyn KeyValue, name: &str) -> Result<()> {
        kv.remove(&record_key(name))
    }

    /// Seals the stored phrase under `password`, replacing the clear record or the one sealed under an older
    /// password; afterwards the store holds no phrase or key in clear. Refuses an empty password, and refuses if
    /// the wallet stored under this name is gone or is another one.
    pub fn set_password(&self, kv: &dyn KeyValue, password: &str) -> Result<()> {
        self.set_password_with_iterations(kv, password, DEFAULT_ITERATIONS)
    }

    /// [`Wallet::set_password`] with a chosen PBKDF2 round count (tests use few).
    pub(crate) fn set_password_with_iterations(
        &self,
        kv: &dyn KeyValue,
        password: &str,
        iterations: u32,
    ) -> Result<()> {
        check_new_password(password)?;
        self.stored_self(kv)?;
        self.save_sealed(kv, password, iterations)
    }

    /// Checks `password` against the stored wallet, e.g. before showing the phrase again: `Ok` if it opens the
    /// wallet or if no password is set, [`Error::WrongPassword`] otherwise.
    pub fn check_password(&self, kv: &dyn KeyValue, password: &str) -> Result<()> {
        let stored = self.stored_self(kv)?;
        match &stored.secret {
            Secret::Clear(_) => Ok(()),
            Secret::Sealed(crypto) => {
                let phrase = unseal(crypto, &stored.address, password)?;
                if *phrase == *self.phrase {
                    Ok(())
                } else {
                    Err(corrupt("the sealed phrase is not this wallet's"))
                }
            }
        }
    }

    /// The name it is stored under.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The recovery phrase: lowercase words separated by single spaces.
    pub fn phrase(&self) -> &str {
        &self.phrase
    }

    /// The channel key's Ethereum address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The channel key (the secp256k1 secret at m/44'/60'/0'/0/0). The copy returned is not wiped on drop.
    pub fn secret(&self) -> B256 {
        B256::from(*self.secret)
    }

    /// A signer with the channel key.
    pub fn signer(&self) -> Result<Signer> {
        Ok(Signer::from_bytes(&self.secret())?)
    }

    /// Checks and normalises a phrase, then derives the wallet from it.
    fn from_phrase(name: &str, phrase: &str) -> Result<Wallet> {
        let phrase = normalise(phrase);
        bip::check_phrase(&phrase).map_err(bad_phrase)?;
        Wallet::derive(name, phrase)
    }

    /// BIP-39 seed, then BIP-32 down the derivation path. `phrase` must already be a checked, normalised phrase.
    fn derive(name: &str, phrase: Zeroizing<String>) -> Result<Wallet> {
        let mut seed = Zeroizing::new([0u8; 64]);
        pbkdf2::pbkdf2_hmac::<Sha512>(phrase.as_bytes(), SEED_SALT, SEED_ROUNDS, seed.as_mut());
        let secret = bip::derive(seed.as_ref(), &bip::ETHEREUM_FIRST_ACCOUNT).ok_or_else(|| {
            Error::Wallet(format!(
                "the phrase gives no valid key at {DERIVATION_PATH}"
            ))
        })?;
        let address = Signer::from_bytes(&B256::from(*secret))?.address();
        Ok(Wallet {
            name: name.to_string(),
            phrase,
            secret,
            address,
        })
    }

    fn save_clear(&self, kv: &dyn KeyValue) -> Result<()> {
        save(
            kv,
            &self.name,
            &Record {
                version: VERSION,
                address: self.address.to_checksum(None),
                phrase: Some(self.phrase.to_string()),
                crypto: None,
            },
        )
    }

    fn save_sealed(&self, kv: &dyn KeyValue, password: &str, iterations: u32) -> Result<()> {
        let crypto = seal(&self.phrase, &self.address, password, iterations)?;
        save(
            kv,
            &self.name,
            &Record {
                version: VERSION,
                address: self.address.to_checksum(None),
                phrase: None,
                crypto: Some(crypto),
            },
        )
    }

    /// The stored record under this wallet's name, which must be this wallet's.
    fn stored_self(&self, kv: &dyn KeyValue) -> Result<Stored> {
        let stored = load(kv, &self.name)?.ok_or_else(|| {
            Error::Wallet(format!(
                "no wallet is stored under {:?} any more",
                self.name
            ))
        })?;
        if stored.address != self.address {
            return Err(Error::Wallet(format!(
                "the wallet stored under {:?} is another one",
                self.name
            )));
        }
        Ok(stored)
    }
}

/// The JSON record, as stored.
#[derive(Serialize)]
struct Record {
    version: u32,
    address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    phrase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crypto: Option<Crypto>,
}

impl Drop for Record {
    fn drop(&mut self) {
        if let Some(phrase) = &mut self.phrase {
            phrase.zeroize();
        }
    }
}

spoke_protocol::json_struct!(
    Record,
    lenient {
        version: "version",
        address: "address",
        phrase: "phrase",
        crypto: "crypto",
    }
);

/// The sealed phrase and how to open it; byte strings are hex.
#[derive(Clone, Serialize)]
struct Crypto {
    kdf: String,
    iterations: u32,
    salt: String,
    cipher: String,
    nonce: String,
    ciphertext: String,
}

spoke_protocol::json_struct!(
    Crypto,
    lenient {
        kdf: "kdf",
        iterations: "iterations",
        salt: "salt",
        cipher: "cipher",
        nonce: "nonce",
        ciphertext: "ciphertext",
    }
);

/// A record that parsed and holds exactly one of a clear phrase and a sealed one.
struct Stored {
    address: Address,
    secret: Secret,
}

enum Secret {
    Clear(Zeroizing<String>),
    Sealed(Crypto),
}

fn record_key(name: &str) -> String {
    format!("spoke:wallet:{name}")
}

fn load(kv: &dyn KeyValue, name: &str) -> Result<Option<Stored>> {
    let Some(text) = kv.get(&record_key(name))? else {
        return Ok(None);
    };
    let text = Zeroizing::new(text);
    // A message about the text could quote what it chokes on, a phrase; only the field is named.
    let mut record: Record = from_slice(text.as_bytes()).map_err(|e| {
        corrupt(&match e.path() {
            "" => "the record is not the expected JSON".to_string(),
            path => format!("the record's {path} is not as expected"),
        })
    })?;
    if record.version != VERSION {
        return Err(Error::Wallet(format!(
            "wallet record version {} is not supported",
            record.version
        )));
    }
    let address: Address = record
        .address
        .parse()
        .map_err(|_| corrupt("the stored address does not parse"))?;
    let secret = match (record.phrase.take(), record.crypto.take()) {
        (Some(phrase), None) => Secret::Clear(Zeroizing::new(phrase)),
        (None, Some(crypto)) => Secret::Sealed(crypto),
        (Some(mut phrase), Some(_)) => {
            phrase.zeroize();
            return Err(corrupt("the record holds both a clear and a sealed phrase"));
        }
        (None, None) => return Err(corrupt("the record holds no phrase")),
    };
    Ok(Some(Stored { address, secret }))
}

fn save(kv: &dyn KeyValue, name: &str, record: &Record) -> Result<()> {
    let json = Zeroizing::new(
        serde_json::to_string(record)
            .map_err(|_| Error::Wallet("the record does not serialise".into()))?,
    );
    kv.set(&record_key(name), &json)
}

fn refuse_existing(kv: &dyn KeyValue, name: &str) -> Result<()> {
    if kv.get(&record_key(name))?.is_some() {
        return Err(Error::WalletExists(name.to_string()));
    }
    Ok(())
}

fn check_new_password(password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(Error::Wallet("the password is empty".into()));
    }
    Ok(())
}

fn seal(phrase: &str, address: &Address, password: &str, iterations: u32) -> Result<Crypto> {
    if !(1..=MAX_ITERATIONS).contains(&iterations) {
        return Err(Error::Wallet(format!(
            "{iterations} PBKDF2 rounds is out of range"
        )));
    }
    let mut salt = [0u8; SALT_LEN];
    random(&mut salt)?;
    let mut nonce = [0u8; NONCE_LEN];
    random(&mut nonce)?;
    let key = password_key(password, &salt, iterations);
    let ciphertext = cipher(&key)?
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: phrase.as_bytes(),
                aad: address.as_slice(),
            },
        )
        .map_err(|_| Error::Wallet("encryption failed".into()))?;
    Ok(Crypto {
        kdf: KDF.into(),
        iterations,
        salt: hex::encode(salt),
        cipher: CIPHER.into(),
        nonce: hex::encode(nonce),
        ciphertext: hex::encode(ciphertext),
    })
}

fn unseal(crypto: &Crypto, address: &Address, password: &str) -> Result<Zeroizing<String>> {
    if crypto.kdf != KDF || crypto.cipher != CIPHER {
        return Err(Error::Wallet(format!(
            "unsupported encryption {} with {}",
            crypto.kdf, crypto.cipher
        )));
    }
    if !(1..=MAX_ITERATIONS).contains(&crypto.iterations) {
        return Err(corrupt("the PBKDF2 round count is out of range"));
    }
    let salt = hex::decode(&crypto.salt)
        .ok()
        .filter(|salt| salt.len() == SALT_LEN)
        .ok_or_else(|| corrupt("the salt is not 16 hex bytes"))?;
    let nonce: [u8; NONCE_LEN] = hex::decode(&crypto.nonce)
        .ok()
        .and_then(|nonce| nonce.try_into().ok())
        .ok_or_else(|| corrupt("the nonce is not 12 hex bytes"))?;
    let ciphertext = hex::decode(&crypto.ciphertext)
        .ok()
        .filter(|ciphertext| ciphertext.len() > TAG_LEN)
        .ok_or_else(|| corrupt("the ciphertext is not hex or too short"))?;
    let key = password_key(password, &salt, crypto.iterations);
    // The tag covers the ciphertext and the address: a wrong password and a tampered record look the same.
    let plain = Zeroizing::new(
        cipher(&key)?
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &ciphertext,
                    aad: address.as_slice(),
                },
            )
            .map_err(|_| Error::WrongPassword)?,
    );
    let phrase =
        std::str::from_utf8(&plain).map_err(|_| corrupt("the sealed phrase is not text"))?;
    Ok(Zeroizing::new(phrase.to_string()))
}

fn cipher(key: &[u8; 32]) -> Result<Aes256Gcm> {
    Aes256Gcm::new_from_slice(key).map_err(|_| Error::Wallet("bad AES key length".into()))
}

fn password_key(password: &str, salt: &[u8], iterations: u32) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, key.as_mut());
    key
}

fn random(bytes: &mut [u8]) -> Result<()> {
    getrandom::getrandom(bytes)
        .map_err(|e| Error::Wallet(format!("no randomness from the system: {e}")))
}

/// Lowercase words separated by single spaces.
fn normalise(phrase: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(phrase.len()));
    for word in phrase.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        // The English word list is ASCII: ASCII case is all there is to fold (a full Unicode lowercasing would
        // bring its tables into the .wasm; a word with other letters is not in the list either way).
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    out
}

fn bad_phrase(error: bip::PhraseError) -> Error {
    Error::BadPhrase(match error {
        bip::PhraseError::WordCount(n) => {
            format!("it has {n} words; a phrase has 12 (or 15, 18, 21 or 24)")
        }
        bip::PhraseError::UnknownWord(i) => {
            format!("word {} is not in the BIP-39 English word list", i + 1)
        }
        bip::PhraseError::Checksum => {
            "the words do not fit together (checksum): one is wrong or out of place".into()
        }
    })
}

fn corrupt(what: &str) -> Error {
    Error::Wallet(format!("the stored wallet is damaged: {what}"))
}

#[cfg(test)]
mod tests;

mod bip;
