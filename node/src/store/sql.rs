//! [`Store`] on SQL through sqlx's `Any` driver: the same queries and the same schema run on SQLite and
//! PostgreSQL, so both are the same code under the same conformance suite.

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};
use spoke_protocol::{signature_hex, Address, ChannelState, Side, Signature, Update, B256};
use sqlx::{
    any::{install_default_drivers, AnyPoolOptions, AnyRow},
    AnyPool, Executor, Row,
};

use super::{ChannelRecord, CommitmentSignatures, Store, StoredUpdate, Written};
use crate::{Error, Result};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The SQL store. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    sqlite: bool,
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
        Ok(SqlStore { pool, sqlite })
    }
}

fn key<T: core::fmt::LowerHex>(value: &T) -> String {
    format!("{value:#x}")
}

fn db_int(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::TooLarge(value))
}

fn from_db_int(value: i64, what: &'static str) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt {
        what,
        reason: format!("negative value {value}"),
    })
}

fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

fn from_json<T: DeserializeOwned>(text: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

fn sig_text(signature: &Signature) -> String {
    spoke_protocol::hex::encode_prefixed(signature.as_bytes())
}

fn sig_from_text(text: &str) -> Result<Signature> {
    signature_hex::parse(text).map_err(|reason| Error::Corrupt {
        what: "a signature",
        reason,
    })
}

fn parse<T: core::str::FromStr>(text: &str, what: &'static str) -> Result<T>
where
    T::Err: core::fmt::Display,
{
    text.parse().map_err(|e: T::Err| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

fn channel_from_row(row: &AnyRow) -> Result<ChannelRecord> {
    Ok(ChannelRecord {
        channel_id: parse(
            row.try_get::<String, _>("channel_id")?.as_str(),
            "a channel id",
        )?,
        user: parse::<Address>(
            row.try_get::<String, _>("user_address")?.as_str(),
            "an address",
        )?,
        epoch: from_db_int(row.try_get("epoch")?, "an epoch")?,
    })
}

fn update_from_row(row: &AnyRow) -> Result<StoredUpdate> {
    let update: Option<String> = row.try_get("update_json")?;
    let user: Option<String> = row.try_get("user_signature")?;
    let node: Option<String> = row.try_get("node_signature")?;
    let user_commitment: Option<String> = row.try_get("user_commitment_signature")?;
    let node_commitment: Option<String> = row.try_get("node_commitment_signature")?;
    let commitment_signatures = match (user_commitment, node_commitment) {
        (Some(user), Some(node)) => Some(CommitmentSignatures {
            user: sig_from_text(&user)?,
            node: sig_from_text(&node)?,
        }),
        (None, None) => None,
        _ => {
            return Err(Error::Corrupt {
                what: "commitment signatures",
                reason: "only one of the two is stored".into(),
            })
        }
    };
    Ok(StoredUpdate {
        channel_id: parse(
            row.try_get::<String, _>("channel_id")?.as_str(),
            "a channel id",
        )?,
        nonce: from_db_int(row.try_get("nonce")?, "a nonce")?,
        update: update
            .map(|u| from_json::<Update>(&u, "an update"))
            .transpose()?,
        state: from_json::<ChannelState>(&row.try_get::<String, _>("state_json")?, "a state")?,
        user_signature: user.map(|s| sig_from_text(&s)).transpose()?,
        node_signature: node.map(|s| sig_from_text(&s)).transpose()?,
        commitment_signatures,
    })
}

/// The columns of `channel_updates`, in the order [`update_from_row`] reads them by name.
macro_rules! update_columns {
    () => {
        "channel_id, nonce, update_json, state_json, user_signature, node_signature, \
         user_commitment_signature, node_commitment_signature"
    };
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

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
        let sql = concat!(
            "SELECT ",
            update_columns!(),
            " FROM channel_updates WHERE channel_id = $1 AND nonce = $2"
        );
        let row = sqlx::query(sql)
            .bind(key(&channel_id))
            .bind(db_int(nonce)?)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(update_from_row).transpose()
    }

    /// Whether `stored` holds the same update and state as `update`.
    fn same_content(stored: &StoredUpdate, update: &StoredUpdate) -> bool {
        stored.update == update.update && stored.state == update.state
    }
}

#[async_trait]
impl Store for SqlStore {
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
        .await;
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
        Ok(Written::Stored)
    }

    async fn channel(&self, channel_id: B256) -> Result<Option<ChannelRecord>> {
        let row = sqlx::query(
            "SELECT channel_id, user_address, epoch FROM channels WHERE channel_id = $1",
        )
        .bind(key(&channel_id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    async fn channel_of_user(&self, user: Address) -> Result<Option<ChannelRecord>> {
        let row = sqlx::query(
            "SELECT channel_id, user_address, epoch FROM channels WHERE user_address = $1 ORDER BY epoch DESC LIMIT 1",
        )
        .bind(key(&user))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    async fn append(&self, update: &StoredUpdate) -> Result<Written> {
        let channel_id = update.channel_id;
        if update.state.channel_id != channel_id
            || update.state.nonce != update.nonce
            || update.update.is_none()
        {
            return Err(Error::Corrupt {
                what: "an update to store",
                reason: "its state must be of its channel, at its nonce, and carry the update"
                    .into(),
            });
        }
        let mut tx = self.begin_write().await?;
        let latest: Option<i64> =
            sqlx::query("SELECT MAX(nonce) AS latest FROM channel_updates WHERE channel_id = $1")
                .bind(key(&channel_id))
                .fetch_one(&mut *tx)
                .await?
                .try_get("latest")?;
        let latest = match latest {
            Some(n) => from_db_int(n, "a nonce")?,
            None => return Err(Error::UnknownChannel(channel_id)),
        };
        if update.nonce <= latest {
            drop(tx);
            let stored =
                self.fetch_update(channel_id, update.nonce)
                    .await?
                    .ok_or(Error::UnknownNonce {
                        channel_id,
                        nonce: update.nonce,
                    })?;
            return if Self::same_content(&stored, update) {
                Ok(Written::AlreadyStored)
            } else {
                Err(Error::Equivocation {
                    channel_id,
                    nonce: update.nonce,
                })
            };
        }
        if update.nonce != latest + 1 {
            return Err(Error::NonceGap {
                channel_id,
                latest,
                got: update.nonce,
            });
        }
        let sql = concat!(
            "INSERT INTO channel_updates (",
            update_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        let inserted = sqlx::query(sql)
            .bind(key(&channel_id))
            .bind(db_int(update.nonce)?)
            .bind(
                update
                    .update
                    .as_ref()
                    .map(|u| to_json(u, "an update"))
                    .transpose()?,
            )
            .bind(to_json(&update.state, "a state")?)
            .bind(update.user_signature.as_ref().map(sig_text))
            .bind(update.node_signature.as_ref().map(sig_text))
            .bind(
                update
                    .commitment_signatures
                    .as_ref()
                    .map(|c| sig_text(&c.user)),
            )
            .bind(
                update
                    .commitment_signatures
                    .as_ref()
                    .map(|c| sig_text(&c.node)),
            )
            .execute(&mut *tx)
            .await;
        match inserted {
            Err(e) if is_unique_violation(&e) => return Err(Error::Conflict(channel_id)),
            other => other?,
        };
        tx.commit().await?;
        Ok(Written::Stored)
    }

    async fn add_signature(
        &self,
        channel_id: B256,
        nonce: u64,
        side: Side,
        signature: &Signature,
    ) -> Result<Written> {
        // Only fills an empty slot, so a concurrent writer of a different signature cannot be overwritten.
        let sql = match side {
            Side::User => {
                "UPDATE channel_updates SET user_signature = $1 \
                 WHERE channel_id = $2 AND nonce = $3 AND user_signature IS NULL"
            }
            Side::Node => {
                "UPDATE channel_updates SET node_signature = $1 \
                 WHERE channel_id = $2 AND nonce = $3 AND node_signature IS NULL"
            }
        };
        let done = sqlx::query(sql)
            .bind(sig_text(signature))
            .bind(key(&channel_id))
            .bind(db_int(nonce)?)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 1 {
            return Ok(Written::Stored);
        }
        let stored = self
            .fetch_update(channel_id, nonce)
            .await?
            .ok_or(Error::UnknownNonce { channel_id, nonce })?;
        match stored.signature(side) {
            Some(existing) if existing == signature => Ok(Written::AlreadyStored),
            _ => Err(Error::SignatureConflict {
                channel_id,
                nonce,
                side,
            }),
        }
    }

    async fn update_at(&self, channel_id: B256, nonce: u64) -> Result<Option<StoredUpdate>> {
        self.fetch_update(channel_id, nonce).await
    }

    async fn latest(&self, channel_id: B256) -> Result<Option<StoredUpdate>> {
        let sql = concat!(
            "SELECT ",
            update_columns!(),
            " FROM channel_updates WHERE channel_id = $1 ORDER BY nonce DESC LIMIT 1"
        );
        let row = sqlx::query(sql)
            .bind(key(&channel_id))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(update_from_row).transpose()
    }

    async fn latest_double_signed(&self, channel_id: B256) -> Result<Option<StoredUpdate>> {
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
        Ok(())
    }

    async fn session_user(&self, token_hash: B256, now: u64) -> Result<Option<Address>> {
        let row = sqlx::query(
            "SELECT user_address FROM sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(key(&token_hash))
        .bind(db_int(now)?)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            parse::<Address>(
                r.try_get::<String, _>("user_address")?.as_str(),
                "an address",
            )
        })
        .transpose()
    }
}
