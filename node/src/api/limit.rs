//! Request rate limits (docs/PROTOCOL.md, "Rate limits"): every request counts against its client's address, a
//! login (`/auth/…`) also against a stricter per-address limit, and a request with a session token also against
//! that session. Over a limit the answer is 429 `TOO_MANY_REQUESTS` with `Retry-After`, before any handler runs.
//!
//! Each limit is a generic cell rate algorithm (GCRA): one timestamp per key, the time at which its bucket would
//! be empty again. A key whose timestamp has passed holds a full bucket, so it is dropped from the map: memory
//! stays with the clients that were active within the last burst's worth of time.

use std::{
    collections::HashMap,
    hash::BuildHasher,
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use super::ApiError;

/// Requests per second, and how many may come at once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub per_second: u32,
    pub burst: u32,
}

impl FromStr for Rate {
    type Err = String;

    /// `RATE/BURST` (`100/200`), or `RATE`, whose burst is twice the rate.
    fn from_str(text: &str) -> Result<Rate, String> {
        let number = |part: &str| -> Result<u32, String> {
            match part.trim().parse::<u32>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "{text:?}: a rate is RATE/BURST in requests (per second / at once), both positive integers, or off"
                )),
            }
        };
        let (per_second, burst) = match text.split_once('/') {
            Some((rate, burst)) => (number(rate)?, number(burst)?),
            None => {
                let rate = number(text)?;
                (rate, rate.saturating_mul(2))
            }
        };
        Ok(Rate { per_second, burst })
    }
}

/// A limit as the command line gives it: a rate, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub Option<Rate>);

impl FromStr for Limit {
    type Err = String;

    fn from_str(text: &str) -> Result<Limit, String> {
        if text.trim().eq_ignore_ascii_case("off") {
            return Ok(Limit(None));
        }
        text.parse().map(|rate| Limit(Some(rate)))
    }
}

/// What [`Limits`] enforces. The default enforces nothing (tests that call the router directly); the node's
/// command line has production defaults (`--rate-limit-*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LimitConfig {
    /// Every request, per client address (an IPv6 client by its /64: one host is given a whole /64).
    pub per_address: Option<Rate>,
    /// `/auth/challenge` and `/auth/login`, per client address: each challenge is a row in the database.
    pub login: Option<Rate>,
    /// Every request that carries a session token, per token.
    pub per_session: Option<Rate>,
    /// Peers whose `X-Forwarded-For` names the client (a reverse proxy in front of the node). From anyone else
    /// the header is ignored: a client cannot pick the address it is counted under.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Beyond this many keys in one limit, new keys share one bucket until old ones expire: a flood from more
/// addresses than this slows itself down instead of growing the node's memory.
const MAX_KEYS: usize = 1 << 20;
/// Expired keys are swept out once in this many checks.
const SWEEP_EVERY: u64 = 4096;

/// The limits in force, shared by every request.
#[derive(Debug, Default)]
pub struct Limits {
    per_address: Option<Buckets>,
    login: Option<Buckets>,
    per_session: Option<Buckets>,
    trusted_proxies: Vec<IpAddr>,
    /// Hashes session tokens into keys; seeded at random, so no one can aim two tokens at one key.
    hasher: std::collections::hash_map::RandomState,
}

impl Limits {
    pub fn new(config: &LimitConfig) -> Limits {
        let epoch = Instant::now();
        Limits {
            per_address: config.per_address.map(|rate| Buckets::new(rate, epoch)),
            login: config.login.map(|rate| Buckets::new(rate, epoch)),
            per_session: config.per_session.map(|rate| Buckets::new(rate, epoch)),
            trusted_proxies: config.trusted_proxies.clone(),
            hasher: Default::default(),
        }
    }

    /// The address a request is counted under: its peer's, unless the peer is a trusted proxy; then the right-most
    /// address in `X-Forwarded-For` that is not itself a trusted proxy (entries further left were written by the
    /// client and prove nothing).
    fn client_address(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let mut client = peer;
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect::<Vec<_>>();
        for hop in forwarded.iter().rev() {
            match hop.trim().parse::<IpAddr>() {
                Ok(address) if self.trusted_proxies.contains(&address) => client = address,
                Ok(address) => return address,
                // A proxy wrote what it saw; what it could not parse was sent by the client.
                Err(_) => return client,
            }
        }
        client
    }

    /// Ok, or how long the client must wait.
    fn check(&self, peer: Option<IpAddr>, path: &str, headers: &HeaderMap) -> Result<(), Duration> {
        let now = Instant::now();
        if let Some(peer) = peer {
            let key = address_key(self.client_address(peer, headers));
            if path.starts_with("/auth/") {
                if let Some(login) = &self.login {
                    login.take(key, now)?;
                }
            }
            if let Some(per_address) = &self.per_address {
                per_address.take(key, now)?;
            }
        }
        if let (Some(per_session), Some(token)) = (&self.per_session, session_token(headers)) {
            per_session.take(u128::from(self.hasher.hash_one(token)), now)?;
        }
        Ok(())
    }
}

/// An IPv4 address as itself; an IPv6 address by its first 64 bits, the part a host cannot choose.
fn address_key(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6) & !u128::from(u64::MAX),
        },
    }
}

/// The session a request claims, valid or not: a flood of requests with made-up tokens is still a flood, and it
/// is also counted by address.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

#[derive(Debug)]
struct Buckets {
    /// Nanoseconds between two requests at the steady rate.
    interval: u64,
    /// How far ahead of now a key's timestamp may run: the burst, less the request being let through.
    tolerance: u64,
    epoch: Instant,
    /// Per key, the nanosecond (since `epoch`) at which its bucket is full again.
    full_at: Mutex<HashMap<u128, u64>>,
    checks: AtomicU64,
}

impl Buckets {
    fn new(rate: Rate, epoch: Instant) -> Buckets {
        let interval = 1_000_000_000 / u64::from(rate.per_second.max(1));
        Buckets {
            interval,
            tolerance: interval * u64::from(rate.burst.max(1) - 1),
            epoch,
            full_at: Mutex::new(HashMap::new()),
            checks: AtomicU64::new(0),
        }
    }

    /// Lets one request of `key` through, or says how long until one would be.
    fn take(&self, key: u128, now: Instant) -> Result<(), Duration> {
        let now = u64::try_from(now.duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX);
        // A poisoned map is only a map a panicking thread held; its timestamps are still timestamps.
        let mut full_at = self
            .full_at
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            full_at.retain(|_, at| *at > now);
        }
        let key = if full_at.len() >= MAX_KEYS && !full_at.contains_key(&key) {
            0
        } else {
            key
        };
        let at = full_at.get(&key).copied().unwrap_or(now).max(now);
        if at - now > self.tolerance {
            return Err(Duration::from_nanos(at - now - self.tolerance));
        }
        full_at.insert(key, at + self.interval);
        Ok(())
    }
}

/// The middleware: counts the request, and answers 429 without calling the handler when a limit is spent. A
/// request with no peer address (only the in-process tests, which call the router without a server) is counted by
/// session alone.
pub async fn enforce(
    State(limits): State<std::sync::Arc<Limits>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip());
    match limits.check(peer, request.uri().path(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            // Whole seconds, rounded up: a client that waits what it is told is let through.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            (
                [(header::RETRY_AFTER, seconds.to_string())],
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TOO_MANY_REQUESTS",
                    format!("too many requests; try again in {seconds} s"),
                ),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().expect("header value"));
        }
        map
    }

    #[test]
    fn rates_parse_with_and_without_a_burst() {
        assert_eq!(
            "100/250".parse::<Rate>(),
            Ok(Rate {
                per_second: 100,
                burst: 250
            })
        );
        assert_eq!(
            "7".parse::<Rate>(),
            Ok(Rate {
                per_second: 7,
                burst: 14
            })
        );
        assert_eq!("off".parse::<Limit>(), Ok(Limit(None)));
        for bad in ["", "0", "10/0", "-1", "1.5", "fast", "10/", "/10"] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn a_burst_passes_then_the_steady_rate() {
        let epoch = Instant::now();
        let buckets = Buckets::new(
            Rate {
                per_second: 10,
                burst: 3,
            },
            epoch,
        );
        let t = |ms: u64| epoch + Duration::from_millis(ms);
        for _ in 0..3 {
            assert_eq!(buckets.take(1, t(1000)), Ok(()));
        }
        let wait = buckets
            .take(1, t(1000))
            .expect_err("the fourth of a burst of 3");
        assert_eq!(wait, Duration::from_millis(100));
        assert_eq!(
            buckets.take(2, t(1000)),
            Ok(()),
            "another key has its own bucket"
        );
        assert!(buckets.take(1, t(1099)).is_err());
        assert_eq!(buckets.take(1, t(1100)), Ok(()));
        assert!(
            buckets.take(1, t(1100)).is_err(),
            "one token a tenth of a second"
        );
        // After a second of quiet the whole burst is back, not more.
        for _ in 0..3 {
            assert_eq!(buckets.take(1, t(2200)), Ok(()));
        }
        assert!(buckets.take(1, t(2200)).is_err());
    }

    #[test]
    fn refused_requests_do_not_push_the_wait_further() {
        let epoch = Instant::now();
        let buckets = Buckets::new(
            Rate {
                per_second: 1,
                burst: 1,
            },
            epoch,
        );
        assert_eq!(buckets.take(1, epoch), Ok(()));
        for _ in 0..100 {
            assert!(buckets.take(1, epoch).is_err());
        }
        assert_eq!(buckets.take(1, epoch + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn expired_keys_are_swept() {
        let epoch = Instant::now();
        let buckets = Buckets::new(
            Rate {
                per_second: 1000,
                burst: 1,
            },
            epoch,
        );
        for key in 0..SWEEP_EVERY as u128 - 1 {
            assert_eq!(buckets.take(key, epoch), Ok(()));
        }
        assert_eq!(
            buckets.full_at.lock().expect("map").len(),
            SWEEP_EVERY as usize - 1
        );
        assert_eq!(
            buckets.take(u128::MAX, epoch + Duration::from_secs(1)),
            Ok(())
        );
        assert_eq!(buckets.full_at.lock().expect("map").len(), 1);
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxy: IpAddr = "10.0.0.2".parse().expect("ip");
        let limits = Limits::new(&LimitConfig {
            trusted_proxies: vec![proxy, "10.0.0.3".parse().expect("ip")],
            ..LimitConfig::default()
        });
        let stranger: IpAddr = "198.51.100.9".parse().expect("ip");
        let spoofed = headers(&[("x-forwarded-for", "203.0.113.1")]);
        assert_eq!(limits.client_address(stranger, &spoofed), stranger);
        assert_eq!(
            limits.client_address(proxy, &spoofed),
            "203.0.113.1".parse::<IpAddr>().expect("ip")
        );
        // The client may prepend whatever it likes; the proxies append what they saw.
        let chained = headers(&[
            ("x-forwarded-for", "1.1.1.1, 203.0.113.1"),
            ("x-forwarded-for", "10.0.0.3"),
        ]);
        assert_eq!(
            limits.client_address(proxy, &chained),
            "203.0.113.1".parse::<IpAddr>().expect("ip")
        );
        let garbage = headers(&[("x-forwarded-for", "not an address")]);
        assert_eq!(limits.client_address(proxy, &garbage), proxy);
        assert_eq!(limits.client_address(proxy, &HeaderMap::new()), proxy);
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_bit_prefix() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let v4: IpAddr = "192.0.2.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().expect("ip");
        assert_eq!(address_key(v4), address_key(mapped));
        assert_ne!(
            address_key(v4),
            address_key("192.0.2.2".parse().expect("ip"))
        );
    }
}
