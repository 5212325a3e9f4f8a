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

#[cfg(not(target_arch = "wasm32"))]
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
    ///
    /// Natively (the node, which verifies logins) the text is read by the `siwe` crate. The browser build reads it
    /// with [`lean::parse`], a few hundred bytes instead of siwe's parser and its URI and RFC 3339 crates (about
    /// 30 KB of the client's .wasm, whose budget is 150 KiB gzip): it reads every message siwe reads as siwe does
    /// (a test checks them against each other), and checks the domain and URI only loosely, which costs the client
    /// nothing, as it compares the domain with the node's before it signs and the node verifies with siwe.
    pub fn parse(text: &str) -> Result<Login> {
        #[cfg(target_arch = "wasm32")]
        return lean::parse(text);
        #[cfg(not(target_arch = "wasm32"))]
        Login::parse_with_siwe(text)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn parse_with_siwe(text: &str) -> Result<Login> {
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

/// EIP-4361 read line by line, for the browser build (see [`Login::parse`]).
#[cfg(any(test, target_arch = "wasm32"))]
mod lean {
    use alloy_primitives::Address;

    use super::Login;
    use crate::{Error, Result};

    fn malformed(what: &str) -> Error {
        Error::LoginMalformed(what.into())
    }

    pub(super) fn parse(text: &str) -> Result<Login> {
        let mut lines = text.split('\n');
        let mut tagged = |tag: &'static str| {
            lines
                .next()
                .and_then(|line| line.strip_prefix(tag))
                .ok_or_else(|| malformed(tag))
        };
        let domain = tagged("")?
            .strip_suffix(" wants you to sign in with your Ethereum account:")
            .filter(|d| {
                !d.is_empty() && !d.contains(|c: char| c.is_whitespace() || "/?#".contains(c))
            })
            .ok_or_else(|| malformed("Missing Preamble Line"))?;
        let address = tagged("0x")?;
        let parsed: Address = address
            .parse()
            .map_err(|_| malformed("the address is not hex"))?;
        if parsed.to_checksum(None)[2..] != *address {
            return Err(malformed("Address is not in EIP-55 format"));
        }
        // The blank line after the address; then a statement and a blank line, or a blank line.
        tagged("")?;
        if !tagged("")?.is_empty() {
            tagged("")?;
        }
        let uri = tagged("URI: ")?;
        if uri.is_empty() || uri.contains(char::is_whitespace) {
            return Err(malformed("the URI is not valid"));
        }
        if tagged("Version: ")? != "1" {
            return Err(malformed("Bad Version"));
        }
        let chain_id = tagged("Chain ID: ")?
            .parse()
            .map_err(|_| malformed("the chain id is not a number"))?;
        let nonce = tagged("Nonce: ")?;
        if nonce.len() < 8 {
            return Err(malformed("Nonce must be longer than 8 characters"));
        }
        let issued_at = unix_seconds(tagged("Issued At: ")?)?;
        let expires_at = match lines.next() {
            Some(line) => line
                .strip_prefix("Expiration Time: ")
                .ok_or_else(|| malformed("not-before, request id and resources are not used"))
                .and_then(unix_seconds)?,
            None => return Err(malformed("the message has no expiration time")),
        };
        if lines.next().is_some() {
            return Err(malformed(
                "not-before, request id and resources are not used",
            ));
        }
        Ok(Login {
            domain: domain.to_string(),
            uri: uri.to_string(),
            address: parsed,
            chain_id,
            nonce: nonce.to_string(),
            issued_at,
            expires_at,
        })
    }

    /// An RFC 3339 date-time (`2024-05-01T12:00:00.5+02:00`) as Unix seconds, rounded down; before 1970 is refused.
    pub(super) fn unix_seconds(text: &str) -> Result<u64> {
        let bad = || malformed("a time is not an RFC 3339 date-time");
        let b = text.as_bytes();
        let number = |from: usize, len: usize| -> Result<i64> {
            let digits = b.get(from..from + len).ok_or_else(bad)?;
            if !digits.iter().all(u8::is_ascii_digit) {
                return Err(bad());
            }
            Ok(digits.iter().fold(0, |n, d| n * 10 + i64::from(d - b'0')))
        };
        let at = |i: usize, expected: &[u8]| b.get(i).is_some_and(|c| expected.contains(c));
        if !(at(4, b"-") && at(7, b"-") && at(10, b"Tt ") && at(13, b":") && at(16, b":")) {
            return Err(bad());
        }
        let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
        let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        let days_in_month = usize::try_from(month - 1)
            .ok()
            .and_then(|m| month_days.get(m))
            .ok_or_else(bad)?;
        if day < 1 || day > *days_in_month || hour > 23 || minute > 59 || second > 60 {
            return Err(bad());
        }
        let mut i = 19;
        if at(i, b".") {
            i += 1;
            let start = i;
            while at(i, b"0123456789") {
                i += 1;
            }
            if i == start {
                return Err(bad());
            }
        }
        let offset = match b.get(i) {
            Some(b'Z' | b'z') if b.len() == i + 1 => 0,
            Some(sign @ (b'+' | b'-')) if b.len() == i + 6 && at(i + 3, b":") => {
                let (h, m) = (number(i + 1, 2)?, number(i + 4, 2)?);
                if h > 23 || m > 59 {
                    return Err(bad());
                }
                let minutes = h * 60 + m;
                if *sign == b'-' {
                    -minutes
                } else {
                    minutes
                }
            }
            _ => return Err(bad()),
        };
        // Days since 1970-01-01 of the civil date (H. Hinnant's algorithm).
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        // A leap second (:60) is the last instant of its minute.
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset * 60;
        u64::try_from(seconds).map_err(|_| malformed("a time before 1970"))
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

    /// Both parsers, on what siwe reads: the same login. On what it refuses: both refuse (the domain and the URI,
    /// which the lean one checks only loosely, aside).
    #[test]
    fn the_lean_parser_reads_what_siwe_reads() {
        let user = Signer::from_bytes(&B256::repeat_byte(1)).expect("key");
        let mut texts = Vec::new();
        for (domain, uri, chain_id, nonce, issued_at, expires_at) in [
            (
                "127.0.0.1:8080",
                "http://127.0.0.1:8080/auth",
                31337,
                "Q8fNn2s9kd03Lpa1",
                NOW,
                NOW + 300,
            ),
            (
                "spoke.example",
                "https://spoke.example/auth",
                1,
                "abcdefgh",
                0,
                1,
            ),
            (
                "[::1]:443",
                "https://[::1]/",
                u64::MAX,
                "0123456789abcdef0123",
                951_782_400,
                4_102_444_799,
            ),
            (
                "a.b.c:1",
                "urn:spoke:login",
                10,
                "nonce-with-dashes",
                1_709_164_800,
                253_402_300_799,
            ),
        ] {
            let l = Login {
                domain: domain.into(),
                uri: uri.into(),
                address: user.address(),
                chain_id,
                nonce: nonce.into(),
                issued_at,
                expires_at,
            };
            texts.push(l.to_text().expect("text"));
        }
        let base = texts[0].clone();
        let iat = "Issued At: 2023-11-14T22:13:20Z";
        assert!(base.contains(iat), "{base}");
        let with = |from: &str, to: &str| base.replacen(from, to, 1);
        let variants = [
            with(iat, "Issued At: 2023-11-14T22:13:20.123456789Z"),
            with(iat, "Issued At: 2023-11-14t22:13:20z"),
            with(iat, "Issued At: 2023-11-15T00:13:20+02:00"),
            with(iat, "Issued At: 2023-11-14T20:13:20-02:00"),
            with(iat, "Issued At: 2023-11-14T21:43:20.5-00:30"),
            with(iat, "Issued At: 2024-02-29T00:00:00Z"),
            with(iat, "Issued At: 2023-11-14 22:13:20Z"),
            with(iat, "Issued At: 2016-12-31T23:59:60Z"),
            with(iat, "Issued At: 1970-01-01T00:00:00Z"),
            with(&format!("\n{STATEMENT}\n"), "\n"),
            with(&format!("\n{STATEMENT}\n"), "\nAnother statement.\n"),
        ];
        let refused = [
            with(iat, "Issued At: 2023-02-29T00:00:00Z"),
            with(iat, "Issued At: 2023-11-14T24:00:00Z"),
            with(iat, "Issued At: 2023-11-14T22:13:20"),
            with(iat, "Issued At: 2023-11-14T22:13:20.Z"),
            with(iat, "Issued At: 2023-11-14T22:13:20+0200"),
            with(iat, "Issued At: 2023-13-14T22:13:20Z"),
            with(iat, "Issued At: 1969-12-31T23:59:59Z"),
            with("Version: 1", "Version: 2"),
            with("Chain ID: 31337", "Chain ID: x"),
            with("Nonce: Q8fNn2s9kd03Lpa1", "Nonce: short"),
            with(
                &format!("0x{}", &user.address().to_checksum(None)[2..]),
                &format!("{:#x}", user.address()),
            ),
            format!("{base}\n"),
            format!("{base}\nNot Before: 2023-11-14T22:13:20Z"),
            format!("{base}\nRequest ID: 1"),
            format!("{base}\nResources:\n- https://spoke.example/"),
            base.replace('\n', "\r\n"),
            base[..base.find("\nExpiration Time").expect("expiry")].to_string(),
            base[..base.find("\nURI").expect("uri")].to_string(),
            "hello".to_string(),
            String::new(),
        ];
        for text in texts.iter().chain(&variants) {
            let siwe = Login::parse_with_siwe(text).expect(text);
            assert_eq!(lean::parse(text).expect(text), siwe, "{text}");
        }
        for text in &refused {
            assert!(Login::parse_with_siwe(text).is_err(), "siwe reads {text}");
            assert!(lean::parse(text).is_err(), "the lean parser reads {text}");
        }
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
