//! BIP-39 phrases (English) and BIP-32 derivation of the wallet's key, written out here on crates the wallet
//! already has (sha2, hmac, k256): the bip39 crate's own phrase code hashes with bitcoin_hashes, and the bip32 crate
//! computes RIPEMD-160 fingerprints at every level, together about 25 KB of the browser's .wasm for nothing the
//! wallet needs (its budget is 150 KiB gzipped). The English word list is BIP-39's `english.txt` as it is (its
//! SHA-256 is 2f5eed53…24dbda), kept as text: as an array of `&str` it takes twice the room. The tests check known
//! phrases, addresses and keys (BIP-39's and BIP-32's own vectors among them) and the list against the bip39 crate's.

use hmac::{Hmac, Mac};
use k256::{elliptic_curve::sec1::ToEncodedPoint, NonZeroScalar, Scalar};
use sha2::{Digest, Sha256, Sha512};
use zeroize::Zeroizing;

/// Why a phrase is not a BIP-39 English phrase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PhraseError {
    /// Not 12, 15, 18, 21 or 24 words.
    WordCount(usize),
    /// The word at this index (from 0) is not in the list.
    UnknownWord(usize),
    /// The checksum bits do not match the entropy.
    Checksum,
}

/// BIP-39's English word list: 2048 words, sorted, one a line.
const ENGLISH: &str = include_str!("english.txt");

fn word(index: usize) -> &'static str {
    ENGLISH.lines().nth(index).unwrap_or_default()
}

fn index_of(word: &str) -> Option<usize> {
    ENGLISH.lines().position(|w| w == word)
}

/// The phrase of 16 to 32 bytes of entropy (a multiple of 4): its words, with the SHA-256 checksum bits appended,
/// written into a buffer that is never reallocated (no stray copy is left behind).
pub(crate) fn phrase_of(entropy: &[u8]) -> Zeroizing<String> {
    let checksum = Sha256::digest(entropy)[0];
    let count = entropy.len() * 8 / 32 * 3;
    let bit = |i: usize| {
        let byte = entropy.get(i / 8).copied().unwrap_or(checksum);
        (byte >> (7 - i % 8)) & 1
    };
    // English words are at most 8 letters; 24 words and their spaces fit.
    let mut out = Zeroizing::new(String::with_capacity(24 * 9));
    for w in 0..count {
        let index = (0..11).fold(0usize, |acc, j| (acc << 1) | bit(w * 11 + j) as usize);
        if w > 0 {
            out.push(' ');
        }
        out.push_str(word(index));
    }
    out
}

/// Checks a normalised phrase (lowercase words, single spaces): the word count, each word, the checksum.
pub(crate) fn check_phrase(phrase: &str) -> Result<(), PhraseError> {
    let count = phrase.split_whitespace().count();
    if !(12..=24).contains(&count) || !count.is_multiple_of(3) {
        return Err(PhraseError::WordCount(count));
    }
    let mut bits = Zeroizing::new([0u8; 33]);
    for (i, word) in phrase.split_whitespace().enumerate() {
        let index = index_of(word).ok_or(PhraseError::UnknownWord(i))?;
        for j in 0..11 {
            if index >> (10 - j) & 1 == 1 {
                let at = i * 11 + j;
                bits[at / 8] |= 0x80 >> (at % 8);
            }
        }
    }
    let entropy_len = count / 3 * 4;
    let checksum_bits = count / 3;
    let expected = Sha256::digest(&bits[..entropy_len])[0] >> (8 - checksum_bits);
    let got = bits[entropy_len] >> (8 - checksum_bits);
    if expected != got {
        return Err(PhraseError::Checksum);
    }
    Ok(())
}

/// A hardened index.
const H: u32 = 1 << 31;
/// m/44'/60'/0'/0/0.
pub(crate) const ETHEREUM_FIRST_ACCOUNT: [u32; 5] = [44 | H, 60 | H, H, 0, 0];

fn hmac512(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 64]> {
    let mut mac =
        <Hmac<Sha512> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    let mut out = Zeroizing::new([0u8; 64]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

fn scalar(bytes: &[u8]) -> Option<Scalar> {
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    Option::from(<Scalar as k256::elliptic_curve::PrimeField>::from_repr(
        bytes.into(),
    ))
}

/// The secret key at `path` below the BIP-32 master key of `seed`; `None` in the (about 2^-127) case where a
/// level gives no valid key.
pub(crate) fn derive(seed: &[u8], path: &[u32]) -> Option<Zeroizing<[u8; 32]>> {
    let master = hmac512(b"Bitcoin seed", &[seed]);
    let mut key = Option::<NonZeroScalar>::from(NonZeroScalar::new(scalar(&master[..32])?))?;
    let mut chain = Zeroizing::new([0u8; 32]);
    chain.copy_from_slice(&master[32..]);
    for &index in path {
        let child = if index & H != 0 {
            let secret = Zeroizing::new(key.to_bytes());
            hmac512(&*chain, &[&[0], &secret[..], &index.to_be_bytes()])
        } else {
            let public = k256::PublicKey::from_secret_scalar(&key).to_encoded_point(true);
            hmac512(&*chain, &[public.as_bytes(), &index.to_be_bytes()])
        };
        let tweak = scalar(&child[..32])?;
        key = Option::from(NonZeroScalar::new(*key + tweak))?;
        chain.copy_from_slice(&child[32..]);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&key.to_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spoke_protocol::hex;

    #[test]
    fn the_word_list_is_bip39s() {
        let list: Vec<&str> = ENGLISH.lines().collect();
        assert_eq!(list, bip39::Language::English.word_list().to_vec());
        assert_eq!(
            hex::encode(Sha256::digest(ENGLISH)),
            "2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda"
        );
        assert_eq!(
            (index_of("abandon"), index_of("zoo"), index_of("zoom")),
            (Some(0), Some(2047), None)
        );
    }

    #[test]
    fn bip32_test_vector_1() {
        // BIP-32, test vector 1: seed 000102…0f, chain m/0'/1/2'/2/1000000000.
        let seed = hex::decode("000102030405060708090a0b0c0d0e0f").expect("hex");
        let cases: [(&[u32], &str); 3] = [
            (
                &[],
                "e8f32e723decf4051aefac8e2c93c9c5b214313817cdb01a1494b917c8436b35",
            ),
            (
                &[H, 1, 2 | H],
                "cbce0d719ecf7431d88e6a89fa1483e02e35092af60c042b1df2ff59fa424dca",
            ),
            (
                &[H, 1, 2 | H, 2, 1_000_000_000],
                "471b76e389e528d6de6d816857e012c5455051cad6660850e58372a6c3e6e7c8",
            ),
        ];
        for (path, expected) in cases {
            let key = derive(&seed, path).expect("a key");
            assert_eq!(hex::encode(key.as_slice()), expected, "{path:?}");
        }
    }

    #[test]
    fn phrases_round_trip_and_checksums_are_checked() {
        // BIP-39's own vectors (English): entropy and phrase.
        let vectors = [
            ("00000000000000000000000000000000", "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"),
            ("7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f7f", "legal winner thank year wave sausage worth useful legal winner thank yellow"),
            ("ffffffffffffffffffffffffffffffffffffffffffffffff", "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo when"),
            ("8080808080808080808080808080808080808080808080808080808080808080", "letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic avoid letter advice cage absurd amount doctor acoustic bless"),
        ];
        for (entropy, phrase) in vectors {
            let entropy = hex::decode(entropy).expect("hex");
            assert_eq!(&*phrase_of(&entropy), phrase);
            assert_eq!(check_phrase(phrase), Ok(()));
        }
        assert_eq!(
            check_phrase("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon"),
            Err(PhraseError::Checksum)
        );
        assert_eq!(
            check_phrase("abandon about"),
            Err(PhraseError::WordCount(2))
        );
        assert_eq!(
            check_phrase("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandonn"),
            Err(PhraseError::UnknownWord(11))
        );
    }
}
