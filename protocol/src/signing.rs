//! Low-s secp256k1 signatures over 32-byte digests, in the `r ‖ s ‖ v` form the contract takes.

use alloy_primitives::{Address, Signature, B256, U256};
use k256::{
    ecdsa::{RecoveryId, SigningKey, VerifyingKey},
    elliptic_curve::{
        group::Group,
        ops::{Invert, LinearCombination, Reduce},
        point::AffineCoordinates,
        sec1::ToEncodedPoint,
        PrimeField,
    },
    AffinePoint, FieldBytes, ProjectivePoint, Scalar,
};

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

    /// The public half of this key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            point: *self.key.verifying_key().as_affine(),
            address: self.address,
        }
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

/// A party's public key, decoded once and kept: checking a signature against it is one double-scalar
/// multiplication, where recovering the key is a square root and two of them (k256 checks the key it recovered).
/// The node keeps each user's key from their login; a client keeps its node's.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    point: AffinePoint,
    address: Address,
}

impl core::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("PublicKey").field(&self.address).finish()
    }
}

impl PublicKey {
    /// A key from its SEC1 encoding, compressed (33 bytes) or not (65).
    pub fn from_sec1(bytes: &[u8]) -> Result<PublicKey> {
        let key = VerifyingKey::from_sec1_bytes(bytes)
            .map_err(|_| Error::InvalidKey("not a point on secp256k1"))?;
        Ok(PublicKey {
            point: *key.as_affine(),
            address: Address::from_public_key(&key),
        })
    }

    /// The Ethereum address of this key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The key's compressed SEC1 encoding: the form the node stores and serves.
    pub fn to_compressed(&self) -> [u8; 33] {
        let mut out = [0u8; 33];
        out.copy_from_slice(self.point.to_encoded_point(true).as_bytes());
        out
    }

    /// Whether `signature` on `digest` recovers to this key the way the contract's `ecrecover` does: ECDSA with
    /// low s, and the nonce point R having x = r and the y parity that v names (so a signature with the wrong v,
    /// which would recover someone else on chain, is refused too).
    fn signed(&self, digest: &B256, signature: &Signature) -> bool {
        if signature.normalize_s().is_some() {
            return false;
        }
        let Ok(sig) = k256::ecdsa::Signature::from_scalars(
            signature.r().to_be_bytes::<32>(),
            signature.s().to_be_bytes::<32>(),
        ) else {
            return false;
        };
        let (r, s) = sig.split_scalars();
        let z = <Scalar as Reduce<k256::U256>>::reduce_bytes(&FieldBytes::from(digest.0));
        let s_inv = *Invert::invert_vartime(&s);
        let point = ProjectivePoint::lincomb(
            &ProjectivePoint::GENERATOR,
            &(z * s_inv),
            &ProjectivePoint::from(self.point),
            &(*r * s_inv),
        );
        if bool::from(point.is_identity()) {
            return false;
        }
        let point = point.to_affine();
        point.x() == r.to_repr() && bool::from(point.y_is_odd()) == signature.v()
    }
}

/// Checks that `key`'s owner, signing for `side`, signed `digest`, without recovering the key. It accepts exactly
/// what [`verify`] with the key's address accepts; on a refusal it recovers the signer once, to say who it was.
pub fn verify_with_key(
    digest: &B256,
    signature: &Signature,
    side: Side,
    key: &PublicKey,
) -> Result<()> {
    if key.signed(digest, signature) {
        return Ok(());
    }
    verify(digest, signature, side, key.address)
}

/// [`verify_with_key`] when `key` is the expected signer's, else [`verify`].
pub fn verify_signer(
    digest: &B256,
    signature: &Signature,
    side: Side,
    expected: Address,
    key: Option<&PublicKey>,
) -> Result<()> {
    match key {
        Some(key) if key.address == expected => verify_with_key(digest, signature, side, key),
        _ => verify(digest, signature, side, expected),
    }
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

    /// n, the order of secp256k1's group.
    fn curve_order() -> U256 {
        U256::from_str_radix(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
            16,
        )
        .expect("order")
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
        let n = curve_order();
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

    fn key_of(signer: &Signer) -> PublicKey {
        let key =
            PublicKey::from_sec1(signer.key.verifying_key().to_encoded_point(true).as_bytes())
                .expect("a valid key");
        assert_eq!(key, signer.public_key());
        key
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        #[test]
        fn a_known_key_accepts_exactly_what_recovery_accepts(
            secret in proptest::array::uniform32(1u8..),
            other in proptest::array::uniform32(1u8..),
            message in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
        ) {
            let (signer, other) = (
                Signer::from_bytes(&B256::from(secret)).expect("key"),
                Signer::from_bytes(&B256::from(other)).expect("key"),
            );
            proptest::prop_assume!(signer.address() != other.address());
            let (key, digest) = (key_of(&signer), keccak256(&message));
            let sig = signer.sign_digest(&digest).expect("sign");
            proptest::prop_assert_eq!(key.address(), signer.address());
            proptest::prop_assert!(key.signed(&digest, &sig));
            // The same r and s with the other v recover someone else on chain: refused without recovery too.
            let flipped = Signature::new(sig.r(), sig.s(), !sig.v());
            proptest::prop_assert!(!key.signed(&digest, &flipped));
            proptest::prop_assert!(verify_with_key(&digest, &flipped, Side::User, &key).is_err());
            let theirs = other.sign_digest(&digest).expect("sign");
            proptest::prop_assert!(!key.signed(&digest, &theirs));
            proptest::prop_assert_eq!(
                verify_with_key(&digest, &theirs, Side::Node, &key),
                Err(Error::WrongSigner { side: Side::Node, expected: signer.address(), recovered: other.address() })
            );
            let elsewhere = keccak256([&message[..], b"!"].concat());
            proptest::prop_assert!(!key.signed(&elsewhere, &sig));
        }
    }

    #[test]
    fn a_known_key_refuses_high_s_and_out_of_range_scalars() {
        let s = signer(3);
        let key = key_of(&s);
        let digest = keccak256(b"y");
        let sig = s.sign_digest(&digest).expect("sign");
        let n = curve_order();
        let high = Signature::new(sig.r(), n - sig.s(), !sig.v());
        assert!(!key.signed(&digest, &high));
        assert!(verify_with_key(&digest, &high, Side::User, &key).is_err());
        for bad in [
            Signature::new(U256::ZERO, sig.s(), sig.v()),
            Signature::new(sig.r(), U256::ZERO, sig.v()),
            Signature::new(n, sig.s(), sig.v()),
        ] {
            assert!(!key.signed(&digest, &bad));
            assert!(matches!(
                verify_with_key(&digest, &bad, Side::User, &key),
                Err(Error::MalformedSignature(_))
            ));
        }
    }

    #[test]
    fn a_key_is_read_compressed_or_not_and_garbage_is_refused() {
        let s = signer(4);
        let compressed = key_of(&s);
        let uncompressed =
            PublicKey::from_sec1(s.key.verifying_key().to_encoded_point(false).as_bytes())
                .expect("uncompressed");
        assert_eq!(compressed, uncompressed);
        assert_eq!(
            PublicKey::from_sec1(&compressed.to_compressed()),
            Ok(compressed)
        );
        assert_eq!(compressed.address(), s.address());
        for garbage in [[5u8; 33], [4u8; 33]] {
            assert_eq!(
                PublicKey::from_sec1(&garbage).err(),
                Some(Error::InvalidKey("not a point on secp256k1"))
            );
        }
        assert!(PublicKey::from_sec1(&[]).is_err());
    }

    #[test]
    fn verify_signer_uses_the_key_only_when_it_is_the_expected_signers() {
        let (a, b) = (signer(6), signer(7));
        let digest = keccak256(b"z");
        let sig = a.sign_digest(&digest).expect("sign");
        let key_b = key_of(&b);
        // A key that is not the expected signer's is ignored: recovery decides.
        assert_eq!(
            verify_signer(&digest, &sig, Side::User, a.address(), Some(&key_b)),
            Ok(())
        );
        assert!(verify_signer(&digest, &sig, Side::User, b.address(), Some(&key_b)).is_err());
        assert_eq!(
            verify_signer(&digest, &sig, Side::User, a.address(), Some(&key_of(&a))),
            Ok(())
        );
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
