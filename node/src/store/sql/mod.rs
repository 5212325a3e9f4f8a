//! [`Store`] on SQL through sqlx's `Any` driver: the same queries and the same schema run on SQLite and
//! PostgreSQL, so both are the same code under the same conformance suite.

use std::{
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use spoke_protocol::{
    signature_hex, Address, ChannelState, PublicKey, Side, Signature, Update, B256,
};
use sqlx::{
    any::{install_default_drivers, AnyPoolOptions, AnyRow},
    sqlite::SqliteConnectOptions,
    AnyPool, Connection as _, Executor, Row,
};

use super::{
    ChannelRecord, CollateralDeposit, CollateralStatus, CommitmentSignatures, Payment,
    PaymentStatus, Store, StoredUpdate, Write, WriteCounts, Written,
};
use crate::{Error, Result};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQL store. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    sqlite: bool,
    /// SQLite's writes go through one task that commits concurrent batches together (`group.rs`); PostgreSQL
    /// takes concurrent transactions and groups their WAL flushes itself.
    group: Option<group::GroupCommitter>,
    /// What the hot path reads, in memory (`cache.rs`); shared by the clones of this handle.
    cache: Arc<cache::Cache>,
    counts: Arc<Counts>,
}

/// [`WriteCounts`] as they are counted, by whichever thread commits.
#[derive(Debug, Default)]
pub(super) struct Counts {
    batches: AtomicU64,
    transactions: AtomicU64,
}

impl Counts {
    pub(super) fn committed(&self, batches: u64) {
        self.batches.fetch_add(batches, Ordering::Relaxed);
        self.transactions.fetch_add(1, Ordering::Relaxed);
    }
}

/// The database is down or out of reach (not a query it refused): PostgreSQL stopped or restarting, the network
/// to it cut, no connection free in time.
pub fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
        sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P01-57P03 (the server shutting down or starting).
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

/// Until this Unix millisecond, pooled connections are pinged before they are lent, and one that does not answer
/// is dropped. A lost connection starts the window (`Error`'s `From<sqlx::Error>`): after a PostgreSQL restart the
/// first query on a connection from before it fails, and without the window each of the others would fail one
/// request too. Outside it nothing is pinged, which under load costs a tenth of the node's CPU.
static SUSPECT_UNTIL_MS: AtomicU64 = AtomicU64::new(0);
/// How long the window lasts after the last lost connection.
const SUSPECT_WINDOW_MS: u64 = 30_000;

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Opens (or extends) the window in which pooled connections are pinged before use.
pub fn suspect_pooled_connections() {
    SUSPECT_UNTIL_MS.fetch_max(unix_ms() + SUSPECT_WINDOW_MS, Ordering::Relaxed);
}

impl SqlStore {
    /// Connects to `url` (`sqlite://PATH`, created if missing, or `postgres://…`) and brings the schema up to
    /// date. SQLite runs in WAL mode with `synchronous = FULL`: a commit has reached the disk when it returns.
    pub async fn connect(url: &str) -> Result<SqlStore> {
        install_default_drivers();
        let sqlite = url.starts_with("sqlite:");
        if !sqlite && !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(Error::UnsupportedDatabaseUrl(url.to_string()));
        }
        let url = if sqlite && !url.contains('?') {
            format!("{url}?mode=rwc")
        } else {
            url.to_string()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if sqlite { 4 } else { 16 })
            // With the database out of reach, a request fails with 503 after this long rather than sqlx's 30 s.
            .acquire_timeout(std::time::Duration::from_secs(5))
            // sqlx pings a connection before lending it by default: a round trip to SQLite's worker thread (or to
            // the PostgreSQL server) on every query, a tenth of the node's CPU under load. A broken connection
            // fails its query instead, which the caller sees as a database error like any other, and opens a
            // window in which connections are pinged (`suspect_pooled_connections`).
            .test_before_acquire(false)
            .before_acquire(|conn, _| {
                Box::pin(async move {
                    if unix_ms() >= SUSPECT_UNTIL_MS.load(Ordering::Relaxed) {
                        return Ok(true);
                    }
                    // `false` drops the connection; the pool opens a fresh one.
                    Ok(conn.ping().await.is_ok())
                })
            })
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        MIGRATIONS.run(&pool).await?;
        let cache = Arc::new(cache::Cache::default());
        let counts = Arc::new(Counts::default());
        let group = if sqlite {
            let options = SqliteConnectOptions::from_str(&url)?;
            if url.contains(":memory:") || url.contains("mode=memory") {
                // The group writer is a connection of its own, which would see a database of its own.
                return Err(Error::UnsupportedDatabaseUrl(url));
            }
            Some(group::GroupCommitter::start(
                options.get_filename(),
                cache.clone(),
                counts.clone(),
            )?)
        } else {
            None
        };
        Ok(SqlStore {
            pool,
            sqlite,
            group,
            cache,
            counts,
        })
    }
}

#[macro_use]
mod rows;
mod cache;
mod disputes;
mod group;
mod loads;
mod sqlite_writer;
mod watched;
mod writes;

use rows::*;
use writes::*;

impl SqlStore {
    /// A transaction that will write. SQLite takes its write lock at `BEGIN IMMEDIATE`, so two writers queue on
    /// the busy timeout instead of failing when a read lock cannot be upgraded; PostgreSQL's row-level
    /// concurrency needs no more than the primary key.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await?
        } else {
            self.pool.begin().await?
        })
    }

    async fn fetch_update(&self, channel_id: B256, nonce: u64) -> Result<Option<StoredUpdate>> {
        let mut conn = self.pool.acquire().await?;
        fetch_update(&mut conn, channel_id, nonce).await
    }
}

#[async_trait]
impl Store for SqlStore {
    fn write_counts(&self) -> WriteCounts {
        WriteCounts {
            batches: self.counts.batches.load(Ordering::Relaxed),
            transactions: self.counts.transactions.load(Ordering::Relaxed),
        }
    }

    async fn open_channel(
        &self,
        channel: &ChannelRecord,
        initial: &ChannelState,
    ) -> Result<Written> {
        if initial.nonce != 0 || initial.channel_id != channel.channel_id {
            return Err(Error::Corrupt {
                what: "an opening state",
                reason: "it must be the channel's own state at nonce 0".into(),
            });
        }
        if let Some(existing) = self.channel(channel.channel_id).await? {
            if existing == *channel {
                return Ok(Written::AlreadyStored);
            }
            return Err(Error::Equivocation {
                channel_id: channel.channel_id,
                nonce: 0,
            });
        }
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO channels (channel_id, user_address, epoch) VALUES ($1, $2, $3)",
        )
        .bind(key(&channel.channel_id))
        .bind(key(&channel.user))
        .bind(db_int(channel.epoch)?)
        .execute(&mut *tx)
        .await
        .map_err(Error::from);
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(Error::Conflict(channel.channel_id)),
            other => other?,
        };
        let sql = concat!(
            "INSERT INTO channel_updates (",
            update_columns!(),
            ") VALUES ($1, 0, NULL, $2, NULL, NULL, NULL, NULL)"
        );
        sqlx::query(sql)
            .bind(key(&channel.channel_id))
            .bind(to_json(initial, "a state")?)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // Lookups before the channel existed may have cached "none".
        self.cache.channels.forget(channel.channel_id).await;
        self.cache.channel_of_user.forget(channel.user).await;
        self.cache.latest.forget(channel.channel_id).await;
        Ok(Written::Stored)
    }

    async fn channel(&self, channel_id: B256) -> Result<Option<ChannelRecord>> {
        self.cache
            .channels
            .get(channel_id, || self.load_channel(channel_id))
            .await
    }

    async fn channel_of_user(&self, user: Address) -> Result<Option<ChannelRecord>> {
        self.cache
            .channel_of_user
            .get(user, || self.load_channel_of_user(user))
            .await
    }

    async fn write(&self, writes: &[Write<'_>]) -> Result<Vec<Written>> {
        if let Some(group) = &self.group {
            return group.write(writes).await;
        }
        let mut tx = self.begin_write().await?;
        let written = run_writes(&mut *tx, writes).await?;
        tx.commit().await?;
        self.counts.committed(1);
        // Concurrent transactions (PostgreSQL) may reach this line in another order than they committed.
        self.cache.committed(writes, false).await;
        Ok(written)
    }

    async fn discard_unsigned(&self, channel_id: B256, nonce: u64) -> Result<bool> {
        let discarded = self.delete_unsigned(channel_id, nonce).await?;
        if discarded {
            self.cache.latest.forget(channel_id).await;
        }
        Ok(discarded)
    }

    async fn payment(&self, id: B256) -> Result<Option<Payment>> {
        self.cache.payments.get(id, || self.load_payment(id)).await
    }

    async fn payments_to_drive(&self, channel_id: B256, limit: u32) -> Result<Vec<Payment>> {
        let list = self
            .cache
            .drive
            .get(channel_id, || async {
                Ok(self
                    .cache
                    .drive_list(self.load_drive_list(channel_id).await?))
            })
            .await?;
        let mut payments = Vec::new();
        for id in list.ids() {
            if payments.len() >= limit as usize {
                break;
            }
            // The list may name a payment that has moved on since: its own row decides.
            if let Some(p) = self.payment(id).await? {
                if cache::to_drive(&p, channel_id) {
                    payments.push(p);
                }
            }
        }
        Ok(payments)
    }

    async fn payments_with_status(
        &self,
        status: PaymentStatus,
        limit: u32,
    ) -> Result<Vec<Payment>> {
        let sql = concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE status = $1 ORDER BY updated_at, id LIMIT $2"
        );
        let rows = sqlx::query(sql)
            .bind(status.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(payment_from_row).collect()
    }

    async fn channel_count(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(DISTINCT user_address) AS n FROM channels")
            .fetch_one(&self.pool)
            .await?;
        from_db_int(row.try_get("n")?, "a channel count")
    }

    async fn payment_counts(&self) -> Result<Vec<(PaymentStatus, u64)>> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM payments GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    payment_status(&row.try_get::<String, _>("status")?)?,
                    from_db_int(row.try_get("n")?, "a payment count")?,
                ))
            })
            .collect()
    }

    async fn payments_of(&self, user: Address, limit: u32) -> Result<Vec<Payment>> {
        let sql = concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE payer = $1 OR payee = $1 ORDER BY created_at DESC, id LIMIT $2"
        );
        let rows = sqlx::query(sql)
            .bind(key(&user))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(payment_from_row).collect()
    }

    async fn recent_payments(&self, limit: u32) -> Result<Vec<Payment>> {
        let sql = concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments ORDER BY created_at DESC, id LIMIT $1"
        );
        let rows = sqlx::query(sql)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(payment_from_row).collect()
    }

    async fn channels(&self, offset: u32, limit: u32) -> Result<Vec<ChannelRecord>> {
        let rows = sqlx::query(
            "SELECT channel_id, user_address, epoch FROM channels c WHERE epoch = \
             (SELECT MAX(epoch) FROM channels d WHERE d.user_address = c.user_address) \
             ORDER BY user_address LIMIT $1 OFFSET $2",
        )
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    async fn insert_quote(&self, quote: &spoke_protocol::ExchangeQuote) -> Result<()> {
        sqlx::query(
            "INSERT INTO quotes (id, channel_id, quote_json, used, expiry) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(key(&quote.id))
        .bind(key(&quote.channel_id))
        .bind(to_json(quote, "a quote")?)
        .bind(db_int(quote.expiry)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn quote(&self, id: B256) -> Result<Option<(spoke_protocol::ExchangeQuote, bool)>> {
        let row = sqlx::query("SELECT quote_json, used FROM quotes WHERE id = $1")
            .bind(key(&id))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let quote = from_json(&r.try_get::<String, _>("quote_json")?, "a quote")?;
            Ok((quote, r.try_get::<i64, _>("used")? != 0))
        })
        .transpose()
    }

    async fn payments_by_hashlock(&self, hashlock: B256) -> Result<Vec<Payment>> {
        let sql = concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE hashlock = $1 ORDER BY created_at, id"
        );
        let rows = sqlx::query(sql)
            .bind(key(&hashlock))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(payment_from_row).collect()
    }

    async fn freeze(&self, channel_id: B256) -> Result<()> {
        sqlx::query("UPDATE channels SET frozen = 1 WHERE channel_id = $1")
            .bind(key(&channel_id))
            .execute(&self.pool)
            .await?;
        self.cache.frozen.forget(channel_id).await;
        Ok(())
    }

    async fn is_frozen(&self, channel_id: B256) -> Result<bool> {
        self.cache
            .frozen
            .get(channel_id, || self.load_frozen(channel_id))
            .await
    }

    async fn record_dispute_tx(&self, tx: &super::DisputeTx) -> Result<()> {
        self.put_dispute_tx(tx).await
    }

    async fn dispute_txs(&self, channel_id: B256) -> Result<Vec<super::DisputeTx>> {
        self.get_dispute_txs(channel_id).await
    }

    async fn channels_in_dispute(&self) -> Result<Vec<ChannelRecord>> {
        self.get_channels_in_dispute().await
    }

    async fn finish_dispute(&self, channel_id: B256) -> Result<()> {
        self.set_dispute_done(channel_id).await
    }

    async fn record_pending_dispute(&self, tx: &super::PendingDisputeTx) -> Result<()> {
        self.put_pending_dispute(tx).await
    }

    async fn pending_disputes(&self) -> Result<Vec<super::PendingDisputeTx>> {
        self.get_pending_disputes().await
    }

    async fn confirm_freeze(&self, channel_id: B256) -> Result<()> {
        self.delete_pending_disputes(channel_id).await
    }

    async fn release_freeze(&self, channel_id: B256, gone: &[B256]) -> Result<bool> {
        let released = self.unfreeze_if_gone(channel_id, gone).await;
        self.cache.frozen.forget(channel_id).await;
        released
    }

    async fn cursor(&self, name: &str) -> Result<Option<u64>> {
        let row = sqlx::query("SELECT block FROM chain_cursor WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| from_db_int(r.try_get("block")?, "a block number"))
            .transpose()
    }

    async fn set_cursor(&self, name: &str, block: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO chain_cursor (name, block) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET block = excluded.block",
        )
        .bind(name)
        .bind(db_int(block)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn begin_collateral(&self, d: &CollateralDeposit) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO collateral (channel_id, asset, amount, tx_hash, status, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (channel_id, asset) DO NOTHING",
        )
        .bind(key(&d.channel_id))
        .bind(key(&d.asset))
        .bind(key(&d.amount))
        .bind(d.tx_hash.as_ref().map(key))
        .bind(d.status.as_str())
        .bind(db_int(d.created_at)?)
        .execute(&self.pool)
        .await?;
        self.cache.collateral.forget(d.channel_id).await;
        Ok(done.rows_affected() == 1)
    }

    async fn update_collateral(
        &self,
        channel_id: B256,
        asset: Address,
        tx_hash: Option<B256>,
        status: CollateralStatus,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE collateral SET tx_hash = COALESCE($1, tx_hash), status = $2 \
             WHERE channel_id = $3 AND asset = $4",
        )
        .bind(tx_hash.as_ref().map(key))
        .bind(status.as_str())
        .bind(key(&channel_id))
        .bind(key(&asset))
        .execute(&self.pool)
        .await?;
        self.cache.collateral.forget(channel_id).await;
        Ok(())
    }

    async fn collateral(&self, channel_id: Option<B256>) -> Result<Vec<CollateralDeposit>> {
        match channel_id {
            Some(id) => {
                self.cache
                    .collateral
                    .get(id, || self.load_collateral(Some(id)))
                    .await
            }
            None => self.load_collateral(None).await,
        }
    }

    async fn set_user_key(&self, user: Address, public_key: &PublicKey) -> Result<()> {
        if public_key.address() != user {
            return Err(Error::Corrupt {
                what: "a user key",
                reason: format!("the key is {}'s, not {user}'s", public_key.address()),
            });
        }
        let text = spoke_protocol::hex::encode_prefixed(public_key.to_compressed());
        let done = sqlx::query(
            "INSERT INTO user_keys (user_address, public_key) VALUES ($1, $2) ON CONFLICT (user_address) DO NOTHING",
        )
        .bind(key(&user))
        .bind(&text)
        .execute(&self.pool)
        .await?;
        self.cache.user_keys.forget(user).await;
        if done.rows_affected() == 0 {
            // A key recovers to exactly one address, so a second, different key for the same address is corruption.
            match self.user_key(user).await? {
                Some(stored) if stored == *public_key => {}
                _ => {
                    return Err(Error::Corrupt {
                        what: "a user key",
                        reason: format!("a different key is stored for {user}"),
                    })
                }
            }
        }
        Ok(())
    }

    async fn user_key(&self, user: Address) -> Result<Option<PublicKey>> {
        self.cache
            .user_keys
            .get(user, || self.load_user_key(user))
            .await
    }

    async fn update_at(&self, channel_id: B256, nonce: u64) -> Result<Option<StoredUpdate>> {
        // Usually the latest: a countersignature or a retry of the last proposal.
        if let Some(latest) = self.latest(channel_id).await? {
            if latest.nonce == nonce {
                return Ok(Some(latest));
            }
        }
        self.fetch_update(channel_id, nonce).await
    }

    async fn latest(&self, channel_id: B256) -> Result<Option<StoredUpdate>> {
        self.cache
            .latest
            .get(channel_id, || self.load_latest(channel_id))
            .await
    }

    async fn latest_double_signed(&self, channel_id: B256) -> Result<Option<StoredUpdate>> {
        if let Some(latest) = self.latest(channel_id).await? {
            if latest.is_double_signed() {
                return Ok(Some(latest));
            }
        }
        let sql = concat!(
            "SELECT ",
            update_columns!(),
            " FROM channel_updates WHERE channel_id = $1 \
             AND user_signature IS NOT NULL AND node_signature IS NOT NULL ORDER BY nonce DESC LIMIT 1"
        );
        let row = sqlx::query(sql)
            .bind(key(&channel_id))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(update_from_row).transpose()
    }

    async fn issue_login_nonce(&self, nonce: &str, expires_at: u64) -> Result<()> {
        sqlx::query("INSERT INTO login_nonces (nonce, expires_at, used) VALUES ($1, $2, $3)")
            .bind(nonce)
            .bind(db_int(expires_at)?)
            .bind(false)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn use_login_nonce(&self, nonce: &str, now: u64) -> Result<bool> {
        // One statement, so two logins racing with the same nonce cannot both succeed.
        let done = sqlx::query(
            "UPDATE login_nonces SET used = $1 WHERE nonce = $2 AND used = $3 AND expires_at > $4",
        )
        .bind(true)
        .bind(nonce)
        .bind(false)
        .bind(db_int(now)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_session(&self, token_hash: B256, user: Address, expires_at: u64) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_address, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(key(&token_hash))
        .bind(key(&user))
        .bind(db_int(expires_at)?)
        .execute(&self.pool)
        .await?;
        self.cache.sessions.forget(token_hash).await;
        Ok(())
    }

    async fn session_user(&self, token_hash: B256, now: u64) -> Result<Option<Address>> {
        let session = self
            .cache
            .sessions
            .get(token_hash, || self.load_session(token_hash))
            .await?;
        Ok(session.and_then(|(user, expires_at)| (expires_at > now).then_some(user)))
    }

    async fn prune_logins(&self, now: u64) -> Result<u64> {
        // `<=`: what `use_login_nonce` and `session_user` no longer accept.
        let mut gone = 0;
        for sql in [
            "DELETE FROM login_nonces WHERE expires_at <= $1",
            "DELETE FROM sessions WHERE expires_at <= $1",
        ] {
            gone += sqlx::query(sql)
                .bind(db_int(now)?)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(gone)
    }
}

/// Performs `writes` in order on `tx`, inside the caller's transaction.
async fn run_writes(conn: &mut impl WriteConn, writes: &[Write<'_>]) -> Result<Vec<Written>> {
    let mut written = Vec::with_capacity(writes.len());
    for write in writes {
        written.push(match write {
            Write::Append(update) => append(conn, update).await?,
            Write::Signature {
                channel_id,
                nonce,
                side,
                signature,
            } => add_signature(conn, *channel_id, *nonce, *side, signature).await?,
            Write::Payment(payment) => {
                upsert_payment(conn, payment).await?;
                Written::Stored
            }
            Write::Commitment {
                channel_id,
                nonce,
                signatures,
            } => {
                let sql = "UPDATE channel_updates SET user_commitment_signature = $1, \
                           node_commitment_signature = $2 \
                           WHERE channel_id = $3 AND nonce = $4 AND user_commitment_signature IS NULL";
                let params = vec![
                    sig_text(&signatures.user).into(),
                    sig_text(&signatures.node).into(),
                    key(channel_id).into(),
                    db_int(*nonce)?.into(),
                ];
                conn.exec(sql, params).await?;
                Written::Stored
            }
            Write::QuoteUsed(id) => {
                let sql = "UPDATE quotes SET used = 1 WHERE id = $1 AND used = 0";
                if conn.exec(sql, vec![key(id).into()]).await? != 1 {
                    return Err(Error::QuoteTaken(*id));
                }
                Written::Stored
            }
            Write::CollateralDone { channel_id, asset } => {
                let sql = "DELETE FROM collateral WHERE channel_id = $1 AND asset = $2";
                conn.exec(sql, vec![key(channel_id).into(), key(asset).into()])
                    .await?;
                Written::Stored
            }
        });
    }
    Ok(written)
}
