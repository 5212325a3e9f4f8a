//! Logging in to a node with Sign-In with Ethereum (EIP-4361).
//!
//! The login is plain EIP-191 text (`"\x19Ethereum Signed Message:\n" ‖ length ‖ text`), while every channel
//! message is EIP-712 typed data (`"\x19\x01" ‖ domain ‖ struct`): the two digests start from different bytes, so
//! no login signature can ever pass for a state, a commitment or a quote, and the reverse. The node writes the
//! message; the client checks the domain, chain and address before it signs; the node then checks everything
//! but the nonce's single use, which is its store's job.

use alloy_primitives::{Address, Signature, B256};
use siwe::{Message, TimeStamp, Version};
use time::OffsetDateTime;

use crate::{signing::recover, Error, Result};

/// What a login message states, as both sides read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The node's origin authority, e.g. `spoke.example:443` or `127.0.0.1:8080`.
    pub domain: String,
    pub uri: String,
    pub address: Address,
    pub chain_id: u64,
    /// Single use, issued by the node.
    pub nonce: String,
    pub issued_at: u64,
    pub expires_at: u64,
}

const STATEMENT: &str = "Sign in to this Spoke node. This signature cannot move funds.";

fn timestamp(seconds: u64) -> Result<TimeStamp> {
    let seconds = i64::try_from(seconds)
        .map_err(|_| Error::LoginMalformed(format!("time {seconds} is too far")))?;
    OffsetDateTime::from_unix_timestamp(seconds)
        .map(TimeStamp::from)
        .map_err(|e| Error::LoginMalformed(format!("time {seconds}: {e}")))
}

fn seconds(stamp: &TimeStamp) -> Result<u64> {
    u64::try_from(stamp.as_ref().unix_timestamp())
        .map_err(|_| Error::LoginMalformed("a time before 1970".into()))
}

impl Login {
    /// The EIP-4361 text to sign.
    pub fn to_text(&self) -> Result<String> {
        let message = Message {
            domain: self
                .domain
                .parse()
                .map_err(|e| Error::LoginMalformed(format!("domain: {e}")))?,
            address: self.address.into_array(),
            statement: Some(STATEMENT.into()),
            uri: self
                .uri
                .parse()
                .map_err(|e| Error::LoginMalformed(format!("uri: {e}")))?,
            version: Version::V1,
            chain_id: self.chain_id,
            nonce: self.nonce.clone(),
            issued_at: timestamp(self.issued_at)?,
            expiration_time: Some(timestamp(self.expires_at)?),
            not_before: None,
            request_id: None,
            resources: Vec::new(),
        };
        Ok(message.to_string())
    }

    /// Reads an EIP-4361 text. Refuses a message without an expiration time: a login must not be valid forever.
    pub fn parse(text: &str) -> Result<Login> {
        let message: Message = text
            .parse()
            .map_err(|e| Error::LoginMalformed(format!("{e}")))?;
        let expires = message
            .expiration_time
            .as_ref()
            .ok_or_else(|| Error::LoginMalformed("the message has no expiration time".into()))?;
        if message.not_before.is_some()
            || message.request_id.is_some()
            || !message.resources.is_empty()
        {
            return Err(Error::LoginMalformed(
                "not-before, request id and resources are not used".into(),
            ));
        }
        Ok(Login {
            domain: message.domain.to_string(),
            uri: message.uri.to_string(),
            address: Address::from(message.address),
            chain_id: message.chain_id,
            nonce: message.nonce.clone(),
            issued_at: seconds(&message.issued_at)?,
            expires_at: seconds(expires)?,
        })
    }

    /// What the client checks before it signs: the node it means, the chain, its own address, a sane lifetime.
    pub fn check_before_signing(
        &self,
        domain: &str,
        chain_id: u64,
        address: Address,
        now: u64,
    ) -> Result<()> {
        self.check_binding(domain, chain_id, now)?;
        if self.address != address {
            return Err(Error::LoginWrongAddress {
                expected: address,
                got: self.address,
            });
        }
        Ok(())
    }

    fn check_binding(&self, domain: &str, chain_id: u64, now: u64) -> Result<()> {
        if self.domain != domain {
            return Err(Error::LoginWrongDomain {
                expected: domain.into(),
                got: self.domain.clone(),
            });
        }
        if self.chain_id != chain_id {
            return Err(Error::LoginWrongChain {
                expected: chain_id,
                got: self.chain_id,
            });
        }
        if now >= self.expires_at {
            return Err(Error::LoginExpired {
                expires_at: self.expires_at,
                now,
            });
        }
        Ok(())
    }
}

/// The EIP-191 digest of a login text.
pub fn login_digest(text: &str) -> B256 {
    alloy_primitives::eip191_hash_message(text.as_bytes())
}

/// What the node checks at login: the text parses, names this node and chain, has not expired at `now`, and was
/// signed by the address it names. Returns the login, whose nonce the caller must then use up.
pub fn verify_login(
    text: &str,
    signature: &Signature,
    domain: &str,
    chain_id: u64,
    now: u64,
) -> Result<Login> {
    let login = Login::parse(text)?;
    login.check_binding(domain, chain_id, now)?;
    let signer = recover(&login_digest(text), signature)?;
    if signer != login.address {
        return Err(Error::LoginWrongAddress {
            expected: login.address,
            got: signer,
        });
    }
    Ok(login)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{eip712, state::ChannelState, Signer};

    const NOW: u64 = 1_700_000_000;

    fn login(address: Address) -> Login {
        Login {
            domain: "127.0.0.1:8080".into(),
            uri: "http://127.0.0.1:8080/auth".into(),
            address,
            chain_id: 31337,
            nonce: "Q8fNn2s9kd03Lpa1".into(),
            issued_at: NOW,
            expires_at: NOW + 300,
        }
    }

    fn signed(signer: &Signer, text: &str) -> Signature {
        signer.sign_digest(&login_digest(text)).expect("sign")
    }

    #[test]
    fn a_signed_login_round_trips_and_verifies() {
        let user = Signer::from_bytes(&B256::repeat_byte(1)).expect("key");
        let l = login(user.address());
        let text = l.to_text().expect("text");
        assert!(
            text.starts_with("127.0.0.1:8080 wants you to sign in with your Ethereum account:\n"),
            "{text}"
        );
        assert_eq!(Login::parse(&text).expect("parse"), l);
        l.check_before_signing("127.0.0.1:8080", 31337, user.address(), NOW)
            .expect("client accepts");
        let sig = signed(&user, &text);
        assert_eq!(
            verify_login(&text, &sig, "127.0.0.1:8080", 31337, NOW + 1).expect("node accepts"),
            l
        );
    }

    #[test]
    fn logins_are_bound_to_domain_chain_time_and_signer() {
        let user = Signer::from_bytes(&B256::repeat_byte(1)).expect("key");
        let other = Signer::from_bytes(&B256::repeat_byte(2)).expect("key");
        let text = login(user.address()).to_text().expect("text");
        let sig = signed(&user, &text);
        assert!(matches!(
            verify_login(&text, &sig, "evil.example", 31337, NOW),
            Err(Error::LoginWrongDomain { .. })
        ));
        assert!(matches!(
            verify_login(&text, &sig, "127.0.0.1:8080", 1, NOW),
            Err(Error::LoginWrongChain { .. })
        ));
        assert!(matches!(
            verify_login(&text, &sig, "127.0.0.1:8080", 31337, NOW + 300),
            Err(Error::LoginExpired { .. })
        ));
        let forged = signed(&other, &text);
        assert!(matches!(
            verify_login(&text, &forged, "127.0.0.1:8080", 31337, NOW),
            Err(Error::LoginWrongAddress { .. })
        ));
        assert!(matches!(
            login(other.address()).check_before_signing(
                "127.0.0.1:8080",
                31337,
                user.address(),
                NOW
            ),
            Err(Error::LoginWrongAddress { .. })
        ));
    }

    #[test]
    fn a_message_without_expiry_or_in_bad_form_is_refused() {
        let text = "127.0.0.1:8080 wants you to sign in with your Ethereum account:\n\
                    0x6Da01670d8fc844e736095918bbE11fE8D564163\n\nURI: http://127.0.0.1:8080\nVersion: 1\n\
                    Chain ID: 1\nNonce: kEWepMt9knR6lWJ6A\nIssued At: 2021-12-07T18:28:18.807Z";
        assert!(matches!(Login::parse(text), Err(Error::LoginMalformed(_))));
        assert!(matches!(
            Login::parse("hello"),
            Err(Error::LoginMalformed(_))
        ));
    }

    #[test]
    fn a_login_signature_is_never_a_state_signature() {
        let user = Signer::from_bytes(&B256::repeat_byte(1)).expect("key");
        let text = login(user.address()).to_text().expect("text");
        let state = ChannelState::initial(B256::repeat_byte(3));
        let state_digest =
            eip712::state_digest(&eip712::domain(31337, Address::repeat_byte(9)), &state);
        assert_ne!(login_digest(&text), state_digest);
        // The EIP-191 prefix makes even a login whose text is a state digest hash to something else.
        assert_ne!(login_digest(&state_digest.to_string()), state_digest);
    }
}
