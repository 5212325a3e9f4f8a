//! Low-s secp256k1 signatures over 32-byte digests, in the `r ‖ s ‖ v` form the contract takes.

use alloy_primitives::{Address, Signature, B256, U256};
use k256::ecdsa::{RecoveryId, SigningKey, VerifyingKey};

use crate::{types::Side, Error, Result};

/// A secret key that signs digests. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    address: Address,
}

impl core::fmt::Debug for Signer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Signer")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer from a 32-byte secret key.
    pub fn from_bytes(secret: &B256) -> Result<Signer> {
        let key = SigningKey::from_slice(secret.as_slice()).map_err(|_| {
            Error::InvalidParams("the secret key is zero or not below the curve order")
        })?;
        let address = Address::from_public_key(key.verifying_key());
        Ok(Signer { key, address })
    }

    /// The Ethereum address of this key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs a digest. k256 signs deterministically (RFC 6979) and always returns a low-s signature.
    pub fn sign_digest(&self, digest: &B256) -> Result<Signature> {
        let (sig, recid) = self
            .key
            .sign_prehash_recoverable(digest.as_slice())
            .map_err(|_| Error::MalformedSignature("the key could not sign this digest"))?;
        let bytes = sig.to_bytes();
        let r = U256::from_be_slice(&bytes[..32]);
        let s = U256::from_be_slice(&bytes[32..]);
        Ok(Signature::new(r, s, recid.is_y_odd()))
    }
}

/// The address that signed `digest`. Refuses high-s signatures, as the contract does.
pub fn recover(digest: &B256, signature: &Signature) -> Result<Address> {
    Ok(Address::from_public_key(&recover_verifying_key(
        digest, signature,
    )?))
}

/// The public key (33 bytes, compressed SEC1) that signed `digest`: how a node learns the key a payer encrypts a
/// preimage to, from the payee's own login signature.
pub fn recover_public_key(digest: &B256, signature: &Signature) -> Result<[u8; 33]> {
    let key = recover_verifying_key(digest, signature)?;
    key.to_encoded_point(true)
        .as_bytes()
        .try_into()
        .map_err(|_| Error::InvalidKey("not a compressed point"))
}

fn recover_verifying_key(digest: &B256, signature: &Signature) -> Result<VerifyingKey> {
    if signature.normalize_s().is_some() {
        return Err(Error::MalformedSignature(
            "s is in the upper half of the curve order",
        ));
    }
    let sig = k256::ecdsa::Signature::from_scalars(
        signature.r().to_be_bytes::<32>(),
        signature.s().to_be_bytes::<32>(),
    )
    .map_err(|_| Error::MalformedSignature("r or s is zero or not below the curve order"))?;
    let recid = RecoveryId::new(signature.v(), false);
    VerifyingKey::recover_from_prehash(digest.as_slice(), &sig, recid)
        .map_err(|_| Error::MalformedSignature("no public key recovers from this signature"))
}

/// Checks that `expected`, signing for `side`, signed `digest`.
pub fn verify(digest: &B256, signature: &Signature, side: Side, expected: Address) -> Result<()> {
    let recovered = recover(digest, signature)?;
    if recovered != expected {
        return Err(Error::WrongSigner {
            side,
            expected,
            recovered,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::keccak256;

    fn signer(byte: u8) -> Signer {
        Signer::from_bytes(&B256::repeat_byte(byte)).expect("valid key")
    }

    #[test]
    fn signs_low_s_and_recovers_the_signer() {
        let s = signer(1);
        let digest = keccak256(b"digest");
        let sig = s.sign_digest(&digest).expect("sign");
        assert!(sig.normalize_s().is_none(), "k256 must produce low-s");
        assert_eq!(recover(&digest, &sig).expect("recover"), s.address());
        assert!(matches!(sig.as_bytes()[64], 27 | 28), "v is 27 or 28");
    }

    #[test]
    fn the_recovered_public_key_is_the_signers_encryption_key() {
        let secret = B256::repeat_byte(5);
        let digest = keccak256(b"login");
        let sig = Signer::from_bytes(&secret)
            .expect("key")
            .sign_digest(&digest)
            .expect("sign");
        let key = recover_public_key(&digest, &sig).expect("recover");
        assert_eq!(key, crate::encryption_key(&secret).expect("key"));
    }

    #[test]
    fn refuses_high_s_even_when_it_would_recover() {
        let s = signer(2);
        let digest = keccak256(b"x");
        let sig = s.sign_digest(&digest).expect("sign");
        let n = U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .expect("order");
        let high = Signature::new(sig.r(), n - sig.s(), !sig.v());
        assert_eq!(
            recover(&digest, &high),
            Err(Error::MalformedSignature(
                "s is in the upper half of the curve order"
            ))
        );
    }

    #[test]
    fn wrong_signer_names_both_addresses() {
        let (a, b) = (signer(3), signer(4));
        let digest = keccak256(b"y");
        let sig = a.sign_digest(&digest).expect("sign");
        assert_eq!(
            verify(&digest, &sig, Side::Node, b.address()),
            Err(Error::WrongSigner {
                side: Side::Node,
                expected: b.address(),
                recovered: a.address()
            })
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let text = format!("{:?}", signer(5));
        assert!(!text.contains("0505050505"), "{text}");
    }
}

/// Serde for signatures as they appear on the wire and in wallets: `"0x"` followed by 130 hex digits,
/// `r ‖ s ‖ v` with `v` 27 or 28 (what ethers.js and the contract use).
pub mod signature_hex {
    use alloy_primitives::{hex, Signature, U256};
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        signature: &Signature,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&hex::encode_prefixed(signature.as_bytes()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Signature, D::Error> {
        parse(&String::deserialize(deserializer)?).map_err(D::Error::custom)
    }

    /// Reads the wire form outside serde (a database column, a header); the error says what is wrong.
    pub fn parse(text: &str) -> Result<Signature, String> {
        let digits = text
            .strip_prefix("0x")
            .ok_or("a signature starts with 0x")?;
        let bytes = hex::decode(digits).map_err(|e| format!("a signature is hex: {e}"))?;
        if bytes.len() != 65 {
            return Err(format!("a signature has 65 bytes, not {}", bytes.len()));
        }
        let y_parity = match bytes[64] {
            27 => false,
            28 => true,
            v => return Err(format!("a signature's v is 27 or 28, not {v}")),
        };
        Ok(Signature::new(
            U256::from_be_slice(&bytes[..32]),
            U256::from_be_slice(&bytes[32..64]),
            y_parity,
        ))
    }
}

/// [`signature_hex`] for an optional signature: absent or `null` is `None`.
pub mod signature_hex_option {
    use alloy_primitives::Signature;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        signature: &Option<Signature>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match signature {
            Some(s) => super::signature_hex::serialize(s, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Signature>, D::Error> {
        #[derive(Deserialize)]
        struct Wrapped(#[serde(with = "super::signature_hex")] Signature);
        Ok(Option::<Wrapped>::deserialize(deserializer)?.map(|Wrapped(s)| s))
    }
}
