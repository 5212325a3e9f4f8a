//! The writes of a batch, each inside the caller's transaction: appends at consecutive nonces, signatures into
//! empty slots only, payment rows moved through their steps in place (replaced whole if their unchanging columns
//! differ).

use super::*;

pub(super) type Conn = sqlx::AnyConnection;

pub(super) async fn fetch_update(
    conn: &mut Conn,
    channel_id: B256,
    nonce: u64,
) -> Result<Option<StoredUpdate>> {
    let sql = concat!(
        "SELECT ",
        update_columns!(),
        " FROM channel_updates WHERE channel_id = $1 AND nonce = $2"
    );
    let row = sqlx::query(sql)
        .bind(key(&channel_id))
        .bind(db_int(nonce)?)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(update_from_row).transpose()
}

pub(super) async fn latest_nonce(conn: &mut Conn, channel_id: B256) -> Result<Option<u64>> {
    let latest: Option<i64> =
        sqlx::query("SELECT MAX(nonce) AS latest FROM channel_updates WHERE channel_id = $1")
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

pub(super) async fn append(conn: &mut Conn, update: &StoredUpdate) -> Result<Written> {
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
        let inserted = bind_update(sqlx::query(sql), update)?
            .bind(db_int(update.nonce - 1)?)
            .execute(&mut *conn)
            .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Written::Stored);
        }
    }
    let latest = latest_nonce(conn, channel_id)
        .await?
        .ok_or(Error::UnknownChannel(channel_id))?;
    if update.nonce <= latest {
        let stored =
            fetch_update(conn, channel_id, update.nonce)
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
    let inserted = bind_update(sqlx::query(sql), update)?
        .execute(&mut *conn)
        .await;
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(Error::Conflict(channel_id)),
        Err(e) => Err(e.into()),
        Ok(_) => Ok(Written::Stored),
    }
}

type Query<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds `update`'s eight columns, in [`update_columns!`]'s order.
fn bind_update<'q>(query: Query<'q>, update: &StoredUpdate) -> Result<Query<'q>> {
    Ok(query
        .bind(key(&update.channel_id))
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
        ))
}

pub(super) async fn add_signature(
    conn: &mut Conn,
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
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 1 {
        return Ok(Written::Stored);
    }
    let stored = fetch_update(conn, channel_id, nonce)
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

pub(super) async fn upsert_payment(conn: &mut Conn, p: &Payment) -> Result<()> {
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
    let updated = bind_payment(sqlx::query(upsert), p)?
        .execute(&mut *conn)
        .await?;
    if updated.rows_affected() == 1 {
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
    bind_payment(sqlx::query(sql), p)?
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Binds `p`'s eighteen columns, in [`payment_columns!`]'s order.
fn bind_payment<'q>(query: Query<'q>, p: &Payment) -> Result<Query<'q>> {
    Ok(query
        .bind(key(&p.id))
        .bind(key(&p.payer))
        .bind(p.payee.as_ref().map(key))
        .bind(p.link_address.as_ref().map(key))
        .bind(key(&p.asset))
        .bind(key(&p.amount))
        .bind(key(&p.hashlock))
        .bind(key(&p.payer_channel))
        .bind(key(&p.payer_lock_id))
        .bind(db_int(p.payer_expiry)?)
        .bind(p.payee_channel.as_ref().map(key))
        .bind(db_int(p.payee_expiry)?)
        .bind(
            p.encrypted_preimage
                .as_ref()
                .map(|e| to_json(e, "an encrypted preimage"))
                .transpose()?,
        )
        .bind(p.preimage.as_ref().map(key))
        .bind(i64::from(p.revealed))
        .bind(p.status.as_str())
        .bind(db_int(p.created_at)?)
        .bind(db_int(p.updated_at)?))
}
