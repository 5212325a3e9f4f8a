//! The writes of a batch, each inside the caller's transaction: appends at consecutive nonces, signatures into
//! empty slots only, payment rows moved through their steps in place (replaced whole if their unchanging columns
//! differ).
//!
//! They run on a [`WriteConn`]: a sqlx connection (PostgreSQL, and SQLite outside the group writer), or SQLite's
//! own writer connection (`sqlite_writer.rs`). Both take the same SQL with `$N` parameters, so these writes are one
//! code under one conformance suite whichever connection runs them.

use std::future::Future;

use super::*;

pub(super) type Conn = sqlx::AnyConnection;

/// A value for a statement's `$N` parameter. Every nullable column of the schema is text, so one `Null` does.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Param {
    Null,
    Int(i64),
    Text(String),
}

impl From<String> for Param {
    fn from(text: String) -> Param {
        Param::Text(text)
    }
}

impl From<i64> for Param {
    fn from(n: i64) -> Param {
        Param::Int(n)
    }
}

impl From<Option<String>> for Param {
    fn from(text: Option<String>) -> Param {
        text.map_or(Param::Null, Param::Text)
    }
}

/// A connection inside a write transaction, as the writes below use it.
pub(super) trait WriteConn: Send {
    /// Runs one statement; returns how many rows it changed.
    fn exec(
        &mut self,
        sql: &'static str,
        params: Vec<Param>,
    ) -> impl Future<Output = Result<u64>> + Send;

    fn fetch_update(
        &mut self,
        channel_id: B256,
        nonce: u64,
    ) -> impl Future<Output = Result<Option<StoredUpdate>>> + Send;

    fn latest_nonce(
        &mut self,
        channel_id: B256,
    ) -> impl Future<Output = Result<Option<u64>>> + Send;
}

impl WriteConn for Conn {
    async fn exec(&mut self, sql: &'static str, params: Vec<Param>) -> Result<u64> {
        let mut query = sqlx::query(sql);
        for param in params {
            query = match param {
                Param::Null => query.bind(None::<String>),
                Param::Int(n) => query.bind(n),
                Param::Text(text) => query.bind(text),
            };
        }
        Ok(query.execute(self).await?.rows_affected())
    }

    async fn fetch_update(&mut self, channel_id: B256, nonce: u64) -> Result<Option<StoredUpdate>> {
        fetch_update(self, channel_id, nonce).await
    }

    async fn latest_nonce(&mut self, channel_id: B256) -> Result<Option<u64>> {
        latest_nonce(self, channel_id).await
    }
}

/// Reads one update; its statement is also SQLite's writer's.
pub(super) const FETCH_UPDATE: &str = concat!(
    "SELECT ",
    update_columns!(),
    " FROM channel_updates WHERE channel_id = $1 AND nonce = $2"
);

pub(super) const LATEST_NONCE: &str =
    "SELECT MAX(nonce) AS latest FROM channel_updates WHERE channel_id = $1";

pub(super) async fn fetch_update(
    conn: &mut Conn,
    channel_id: B256,
    nonce: u64,
) -> Result<Option<StoredUpdate>> {
    let row = sqlx::query(FETCH_UPDATE)
        .bind(key(&channel_id))
        .bind(db_int(nonce)?)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(update_from_row).transpose()
}

pub(super) async fn latest_nonce(conn: &mut Conn, channel_id: B256) -> Result<Option<u64>> {
    let latest: Option<i64> = sqlx::query(LATEST_NONCE)
        .bind(key(&channel_id))
        .fetch_one(&mut *conn)
        .await?
        .try_get("latest")?;
    latest.map(|n| from_db_int(n, "a nonce")).transpose()
}

/// Whether `stored` holds the same update and state as `update`.
pub(super) fn same_content(stored: &StoredUpdate, update: &StoredUpdate) -> bool {
    stored.update == update.update && stored.state == update.state
}

pub(super) async fn append(conn: &mut impl WriteConn, update: &StoredUpdate) -> Result<Written> {
    let channel_id = update.channel_id;
    if update.state.channel_id != channel_id
        || update.state.nonce != update.nonce
        || update.update.is_none()
    {
        return Err(Error::Corrupt {
            what: "an update to store",
            reason: "its state must be of its channel, at its nonce, and carry the update".into(),
        });
    }
    // The usual case in one statement: the previous nonce is stored and this one is not. Anything else (a retry,
    // an equivocation, a gap, an unknown channel) inserts nothing, and is told apart below.
    if update.nonce > 0 {
        let sql = concat!(
            "INSERT INTO channel_updates (",
            update_columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS \
             (SELECT 1 FROM channel_updates WHERE channel_id = $1 AND nonce = $9) ON CONFLICT DO NOTHING"
        );
        let mut params = update_params(update)?;
        params.push(Param::Int(db_int(update.nonce - 1)?));
        if conn.exec(sql, params).await? == 1 {
            return Ok(Written::Stored);
        }
    }
    let latest = conn
        .latest_nonce(channel_id)
        .await?
        .ok_or(Error::UnknownChannel(channel_id))?;
    if update.nonce <= latest {
        let stored =
            conn.fetch_update(channel_id, update.nonce)
                .await?
                .ok_or(Error::UnknownNonce {
                    channel_id,
                    nonce: update.nonce,
                })?;
        return if same_content(&stored, update) {
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
    match conn.exec(sql, update_params(update)?).await {
        Err(e) if is_unique_violation(&e) => Err(Error::Conflict(channel_id)),
        Err(e) => Err(e),
        Ok(_) => Ok(Written::Stored),
    }
}

/// `update`'s eight columns, in [`update_columns!`]'s order.
fn update_params(update: &StoredUpdate) -> Result<Vec<Param>> {
    let signature = |s: Option<&Signature>| Param::from(s.map(sig_text));
    let commitment = update.commitment_signatures.as_ref();
    Ok(vec![
        key(&update.channel_id).into(),
        db_int(update.nonce)?.into(),
        update
            .update
            .as_ref()
            .map(|u| to_json(u, "an update"))
            .transpose()?
            .into(),
        to_json(&update.state, "a state")?.into(),
        signature(update.user_signature.as_ref()),
        signature(update.node_signature.as_ref()),
        signature(commitment.map(|c| &c.user)),
        signature(commitment.map(|c| &c.node)),
    ])
}

pub(super) async fn add_signature(
    conn: &mut impl WriteConn,
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
    let params = vec![
        sig_text(signature).into(),
        key(&channel_id).into(),
        db_int(nonce)?.into(),
    ];
    if conn.exec(sql, params).await? == 1 {
        return Ok(Written::Stored);
    }
    let stored = conn
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

pub(super) async fn upsert_payment(conn: &mut impl WriteConn, p: &Payment) -> Result<()> {
    // A payment moves through its statuses in place: only what routing changes is set (the status, the payee's
    // channel and expiry once a link is redeemed, the preimage), so SQLite leaves the indexes on what never changes
    // (the payer, the hashlock, the creation time) alone, where setting every column rewrites all seven. One
    // statement for a new payment and for a step; only a row whose unchanging columns differ is replaced whole
    // below, as before.
    let upsert = concat!(
        "INSERT INTO payments (",
        payment_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (id) DO UPDATE SET payee = excluded.payee, link_address = excluded.link_address, \
         payee_channel = excluded.payee_channel, payee_expiry = excluded.payee_expiry, \
         encrypted_preimage = excluded.encrypted_preimage, preimage = excluded.preimage, \
         revealed = excluded.revealed, status = excluded.status, updated_at = excluded.updated_at \
         WHERE payments.payer = excluded.payer AND payments.asset = excluded.asset \
         AND payments.amount = excluded.amount AND payments.hashlock = excluded.hashlock \
         AND payments.payer_channel = excluded.payer_channel AND payments.payer_lock_id = excluded.payer_lock_id \
         AND payments.payer_expiry = excluded.payer_expiry AND payments.created_at = excluded.created_at"
    );
    if conn.exec(upsert, payment_params(p)?).await? == 1 {
        return Ok(());
    }
    let sql = concat!(
        "INSERT INTO payments (",
        payment_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
         ON CONFLICT (id) DO UPDATE SET payer = excluded.payer, payee = excluded.payee, \
         link_address = excluded.link_address, asset = excluded.asset, amount = excluded.amount, \
         hashlock = excluded.hashlock, payer_channel = excluded.payer_channel, \
         payer_lock_id = excluded.payer_lock_id, payer_expiry = excluded.payer_expiry, \
         payee_channel = excluded.payee_channel, payee_expiry = excluded.payee_expiry, \
         encrypted_preimage = excluded.encrypted_preimage, preimage = excluded.preimage, \
         revealed = excluded.revealed, status = excluded.status, created_at = excluded.created_at, \
         updated_at = excluded.updated_at"
    );
    conn.exec(sql, payment_params(p)?).await?;
    Ok(())
}

/// `p`'s eighteen columns, in [`payment_columns!`]'s order.
fn payment_params(p: &Payment) -> Result<Vec<Param>> {
    Ok(vec![
        key(&p.id).into(),
        key(&p.payer).into(),
        p.payee.as_ref().map(key).into(),
        p.link_address.as_ref().map(key).into(),
        key(&p.asset).into(),
        key(&p.amount).into(),
        key(&p.hashlock).into(),
        key(&p.payer_channel).into(),
        key(&p.payer_lock_id).into(),
        db_int(p.payer_expiry)?.into(),
        p.payee_channel.as_ref().map(key).into(),
        db_int(p.payee_expiry)?.into(),
        p.encrypted_preimage
            .as_ref()
            .map(|e| to_json(e, "an encrypted preimage"))
            .transpose()?
            .into(),
        p.preimage.as_ref().map(key).into(),
        i64::from(p.revealed).into(),
        p.status.as_str().to_string().into(),
        db_int(p.created_at)?.into(),
        db_int(p.updated_at)?.into(),
    ])
}
