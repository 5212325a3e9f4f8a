//! Preimage delivery and link secrets (docs/PROTOCOL.md, "Preimage encryption" and "Link payments").
//!
//! The payer encrypts a payment's preimage to the payee's channel key, so the node that forwards it cannot read
//! it and cannot substitute a key of its own: the payer derives the payee's address from the key it encrypts to
//! and compares it with the payee it means to pay. Randomness (the ephemeral key) is handed in by the caller.

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use alloy_primitives::{keccak256, Address, B256, U256};
use hkdf::Hkdf;
use k256::{ecdh::diffie_hellman, PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Error, Result};

const KDF_INFO: &[u8] = b"spoke/preimage/v1";

/// What the ciphertext is bound to: the lock it opens. Decrypting under any other lock fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PreimageContext {
    pub hashlock: B256,
    pub asset: Address,
    pub amount: U256,
    pub expiry: u64,
}

impl PreimageContext {
    /// `hashlock ‖ amount (32 bytes, big-endian) ‖ asset (20 bytes) ‖ expiry (8 bytes, big-endian)`.
    fn associated_data(&self) -> [u8; 92] {
        let mut ad = [0u8; 92];
        ad[..32].copy_from_slice(self.hashlock.as_slice());
        ad[32..64].copy_from_slice(&self.amount.to_be_bytes::<32>());
        ad[64..84].copy_from_slice(self.asset.as_slice());
        ad[84..].copy_from_slice(&self.expiry.to_be_bytes());
        ad
    }
}

/// An encrypted preimage as it travels: the ephemeral public key (33 bytes, compressed) and the AES-256-GCM
/// ciphertext of the 32-byte preimage with its 16-byte tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptedPreimage {
    pub ephemeral_key: alloy_primitives::Bytes,
    pub ciphertext: alloy_primitives::Bytes,
}

crate::json_struct!(
    EncryptedPreimage,
    strict {
        ephemeral_key: "ephemeralKey",
        ciphertext: "ciphertext",
    }
);

/// The public key (33 bytes, compressed SEC1) a party's channel key encrypts to.
pub fn encryption_key(secret: &B256) -> Result<[u8; 33]> {
    let key = SecretKey::from_slice(secret.as_slice())
        .map_err(|_| Error::InvalidKey("not a secp256k1 secret key"))?;
    compressed(&key.public_key())
}

fn compressed(key: &PublicKey) -> Result<[u8; 33]> {
    use k256::elliptic_curve::sec1::ToEncodedPoint;
    key.to_encoded_point(true)
        .as_bytes()
        .try_into()
        .map_err(|_| Error::InvalidKey("not a compressed point"))
}

fn public_key(bytes: &[u8]) -> Result<PublicKey> {
    PublicKey::from_sec1_bytes(bytes).map_err(|_| Error::InvalidKey("not a point on secp256k1"))
}

/// Whether `key` is the key of `address`: what a payer checks before it encrypts to a key the node handed it.
pub fn key_belongs_to(key: &[u8], address: Address) -> Result<bool> {
    let key = public_key(key)?;
    Ok(Address::from_public_key(&k256::ecdsa::VerifyingKey::from(&key)) == address)
}

/// Key and nonce for one ephemeral key: HKDF-SHA256 over the ECDH x-coordinate, salted with both public keys.
fn cipher(
    secret: &SecretKey,
    peer: &PublicKey,
    salt_keys: (&[u8; 33], &[u8; 33]),
) -> Result<(Aes256Gcm, [u8; 12])> {
    let shared = diffie_hellman(secret.to_nonzero_scalar(), peer.as_affine());
    let mut salt = [0u8; 66];
    salt[..33].copy_from_slice(salt_keys.0);
    salt[33..].copy_from_slice(salt_keys.1);
    let mut okm = [0u8; 44];
    Hkdf::<Sha256>::new(Some(&salt), &shared.raw_secret_bytes()[..])
        .expand(KDF_INFO, &mut okm)
        .map_err(|_| Error::InvalidKey("HKDF output length"))?;
    let aead =
        Aes256Gcm::new_from_slice(&okm[..32]).map_err(|_| Error::InvalidKey("AES key length"))?;
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&okm[32..]);
    Ok((aead, nonce))
}

/// Encrypts `preimage` to `recipient_key` (33 bytes, compressed) for the lock described by `context`.
/// `ephemeral_secret` must be fresh randomness for every encryption.
pub fn encrypt_preimage(
    recipient_key: &[u8],
    preimage: B256,
    context: &PreimageContext,
    ephemeral_secret: &B256,
) -> Result<EncryptedPreimage> {
    if sha256(preimage) != context.hashlock {
        return Err(Error::PreimageMismatch {
            hashlock: context.hashlock,
        });
    }
    let recipient = public_key(recipient_key)?;
    let recipient_bytes = compressed(&recipient)?;
    let ephemeral = SecretKey::from_slice(ephemeral_secret.as_slice())
        .map_err(|_| Error::InvalidKey("the ephemeral secret is not a secp256k1 secret key"))?;
    let ephemeral_bytes = compressed(&ephemeral.public_key())?;
    let (aead, nonce) = cipher(&ephemeral, &recipient, (&ephemeral_bytes, &recipient_bytes))?;
    let ad = context.associated_data();
    let ciphertext = aead
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: preimage.as_slice(),
                aad: &ad,
            },
        )
        .map_err(|_| Error::DecryptionFailed)?;
    Ok(EncryptedPreimage {
        ephemeral_key: ephemeral_bytes.to_vec().into(),
        ciphertext: ciphertext.into(),
    })
}

/// Decrypts a preimage with the recipient's channel key, and checks it opens `context.hashlock`.
pub fn decrypt_preimage(
    recipient_secret: &B256,
    encrypted: &EncryptedPreimage,
    context: &PreimageContext,
) -> Result<B256> {
    let recipient = SecretKey::from_slice(recipient_secret.as_slice())
        .map_err(|_| Error::InvalidKey("not a secp256k1 secret key"))?;
    let recipient_bytes = compressed(&recipient.public_key())?;
    let ephemeral = public_key(&encrypted.ephemeral_key)?;
    let ephemeral_bytes = compressed(&ephemeral)?;
    let (aead, nonce) = cipher(&recipient, &ephemeral, (&ephemeral_bytes, &recipient_bytes))?;
    let ad = context.associated_data();
    let plain = aead
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &encrypted.ciphertext,
                aad: &ad,
            },
        )
        .map_err(|_| Error::DecryptionFailed)?;
    let preimage = B256::try_from(plain.as_slice()).map_err(|_| Error::DecryptionFailed)?;
    if sha256(preimage) != context.hashlock {
        return Err(Error::PreimageMismatch {
            hashlock: context.hashlock,
        });
    }
    Ok(preimage)
}

/// `sha256(preimage)`: a lock's hashlock.
pub fn sha256(preimage: B256) -> B256 {
    B256::from_slice(&Sha256::digest(preimage.as_slice()))
}

/// What a link secret `k` yields: the payment's preimage and the secret of the link key that redeems it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkSecrets {
    pub preimage: B256,
    pub link_key: B256,
}

impl core::fmt::Debug for LinkSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LinkSecrets { .. }")
    }
}

/// Derives a link's preimage (`keccak256("spoke/link/preimage" ‖ k)`) and link key
/// (`keccak256("spoke/link/key" ‖ k)`, a secp256k1 secret) from its secret `k`.
pub fn link_secrets(k: &B256) -> Result<LinkSecrets> {
    let derive = |tag: &[u8]| {
        let mut buf = Vec::with_capacity(tag.len() + 32);
        buf.extend_from_slice(tag);
        buf.extend_from_slice(k.as_slice());
        keccak256(buf)
    };
    let link_key = derive(b"spoke/link/key");
    SecretKey::from_slice(link_key.as_slice())
        .map_err(|_| Error::InvalidKey("this link secret yields no key"))?;
    Ok(LinkSecrets {
        preimage: derive(b"spoke/link/preimage"),
        link_key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(preimage: B256) -> PreimageContext {
        PreimageContext {
            hashlock: sha256(preimage),
            asset: Address::ZERO,
            amount: U256::from(5u64),
            expiry: 99,
        }
    }

    #[test]
    fn the_recipient_decrypts_and_no_one_else_does() {
        let recipient = B256::repeat_byte(0x31);
        let preimage = B256::repeat_byte(0x77);
        let ctx = context(preimage);
        let key = encryption_key(&recipient).expect("key");
        let enc =
            encrypt_preimage(&key, preimage, &ctx, &B256::repeat_byte(0x41)).expect("encrypt");
        assert_eq!(enc.ciphertext.len(), 48);
        assert_eq!(
            decrypt_preimage(&recipient, &enc, &ctx).expect("decrypt"),
            preimage
        );
        assert_eq!(
            decrypt_preimage(&B256::repeat_byte(0x32), &enc, &ctx),
            Err(Error::DecryptionFailed)
        );
    }

    #[test]
    fn the_ciphertext_is_bound_to_its_lock() {
        let recipient = B256::repeat_byte(0x31);
        let preimage = B256::repeat_byte(0x77);
        let ctx = context(preimage);
        let enc = encrypt_preimage(
            &encryption_key(&recipient).expect("key"),
            preimage,
            &ctx,
            &B256::repeat_byte(5),
        )
        .expect("encrypt");
        for other in [
            PreimageContext {
                amount: U256::from(6u64),
                ..ctx
            },
            PreimageContext { expiry: 100, ..ctx },
            PreimageContext {
                asset: Address::repeat_byte(1),
                ..ctx
            },
        ] {
            assert_eq!(
                decrypt_preimage(&recipient, &enc, &other),
                Err(Error::DecryptionFailed)
            );
        }
        let mut flipped = enc.clone();
        let mut bytes = flipped.ciphertext.to_vec();
        bytes[0] ^= 1;
        flipped.ciphertext = bytes.into();
        assert_eq!(
            decrypt_preimage(&recipient, &flipped, &ctx),
            Err(Error::DecryptionFailed)
        );
    }

    #[test]
    fn a_wrong_preimage_is_not_encrypted() {
        let ctx = context(B256::repeat_byte(1));
        let key = encryption_key(&B256::repeat_byte(0x31)).expect("key");
        assert!(matches!(
            encrypt_preimage(&key, B256::repeat_byte(2), &ctx, &B256::repeat_byte(5)),
            Err(Error::PreimageMismatch { .. })
        ));
    }

    #[test]
    fn a_payer_detects_a_substituted_key() {
        let payee = crate::Signer::from_bytes(&B256::repeat_byte(0x31)).expect("key");
        let node_key = encryption_key(&B256::repeat_byte(0x99)).expect("key");
        assert!(key_belongs_to(
            &encryption_key(&B256::repeat_byte(0x31)).expect("key"),
            payee.address()
        )
        .expect("ok"));
        assert!(!key_belongs_to(&node_key, payee.address()).expect("ok"));
        assert_eq!(
            key_belongs_to(&[0u8; 33], payee.address()),
            Err(Error::InvalidKey("not a point on secp256k1"))
        );
    }

    #[test]
    fn link_secrets_are_deterministic_and_distinct() {
        let a = link_secrets(&B256::repeat_byte(1)).expect("derive");
        assert_eq!(a, link_secrets(&B256::repeat_byte(1)).expect("derive"));
        assert_ne!(a.preimage, a.link_key);
        assert_ne!(a, link_secrets(&B256::repeat_byte(2)).expect("derive"));
        assert_eq!(format!("{a:?}"), "LinkSecrets { .. }");
    }
}
