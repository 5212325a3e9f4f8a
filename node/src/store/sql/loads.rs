//! The queries behind the cache (`cache.rs`): each reads what one cached value holds, straight from the database.

use super::*;

impl SqlStore {
    pub(super) async fn load_channel(&self, channel_id: B256) -> Result<Option<ChannelRecord>> {
        let row = sqlx::query(
            "SELECT channel_id, user_address, epoch FROM channels WHERE channel_id = $1",
        )
        .bind(key(&channel_id))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    pub(super) async fn load_channel_of_user(
        &self,
        user: Address,
    ) -> Result<Option<ChannelRecord>> {
        let row = sqlx::query(
            "SELECT channel_id, user_address, epoch FROM channels WHERE user_address = $1 ORDER BY epoch DESC LIMIT 1",
        )
        .bind(key(&user))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(channel_from_row).transpose()
    }

    pub(super) async fn delete_unsigned(&self, channel_id: B256, nonce: u64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let latest = latest_nonce(&mut tx, channel_id).await?;
        if latest != Some(nonce) || nonce == 0 {
            return Ok(false);
        }
        let done = sqlx::query(
            "DELETE FROM channel_updates WHERE channel_id = $1 AND nonce = $2 AND user_signature IS NULL",
        )
        .bind(key(&channel_id))
        .bind(db_int(nonce)?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    pub(super) async fn load_payment(&self, id: B256) -> Result<Option<Payment>> {
        let sql = concat!(
            "SELECT ",
            payment_columns!(),
            " FROM payments WHERE id = $1"
        );
        let row = sqlx::query(sql)
            .bind(key(&id))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(payment_from_row).transpose()
    }

    /// The (created at, id) of the payments `channel_id` may have to drive; the cache orders them into its list and
    /// reads the payments one by one.
    pub(super) async fn load_drive_list(&self, channel_id: B256) -> Result<Vec<(u64, B256)>> {
        let rows = sqlx::query(
            "SELECT id, created_at FROM payments WHERE (payer_channel = $1 AND status IN ('resolved', 'refunding')) \
             OR (payee_channel = $1 AND status = 'accepted')",
        )
        .bind(key(&channel_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    from_db_int(row.try_get("created_at")?, "a time")?,
                    parse::<B256>(&row.try_get::<String, _>("id")?, "a payment id")?,
                ))
            })
            .collect()
    }

    pub(super) async fn load_frozen(&self, channel_id: B256) -> Result<bool> {
        let row = sqlx::query("SELECT frozen FROM channels WHERE channel_id = $1")
            .bind(key(&channel_id))
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<i64, _>("frozen")? != 0,
            None => false,
        })
    }

    pub(super) async fn load_collateral(
        &self,
        channel_id: Option<B256>,
    ) -> Result<Vec<CollateralDeposit>> {
        let rows = sqlx::query(
            "SELECT channel_id, asset, amount, tx_hash, status, created_at FROM collateral \
             WHERE $1 IS NULL OR channel_id = $1 ORDER BY created_at",
        )
        .bind(channel_id.as_ref().map(key))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                let tx_hash: Option<String> = row.try_get("tx_hash")?;
                Ok(CollateralDeposit {
                    channel_id: parse(&row.try_get::<String, _>("channel_id")?, "a channel id")?,
                    asset: parse(&row.try_get::<String, _>("asset")?, "an asset")?,
                    amount: parse(&row.try_get::<String, _>("amount")?, "an amount")?,
                    tx_hash: tx_hash
                        .map(|t| parse(&t, "a transaction hash"))
                        .transpose()?,
                    status: CollateralStatus::parse(&status).ok_or_else(|| Error::Corrupt {
                        what: "a collateral status",
                        reason: format!("unknown status {status:?}"),
                    })?,
                    created_at: from_db_int(row.try_get("created_at")?, "a time")?,
                })
            })
            .collect()
    }

    pub(super) async fn load_user_key(&self, user: Address) -> Result<Option<PublicKey>> {
        let row = sqlx::query("SELECT public_key FROM user_keys WHERE user_address = $1")
            .bind(key(&user))
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let text: String = r.try_get("public_key")?;
            let bytes = spoke_protocol::hex::decode(&text).map_err(|e| Error::Corrupt {
                what: "a user key",
                reason: e.to_string(),
            })?;
            let key = PublicKey::from_sec1(&bytes).map_err(|e| Error::Corrupt {
                what: "a user key",
                reason: e.to_string(),
            })?;
            if key.address() != user {
                return Err(Error::Corrupt {
                    what: "a user key",
                    reason: format!("the key stored for {user} is {}'s", key.address()),
                });
            }
            Ok(key)
        })
        .transpose()
    }

    pub(super) async fn load_latest(&self, channel_id: B256) -> Result<Option<StoredUpdate>> {
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

    /// A session's user and expiry, whether it has expired or not (the caller compares the time).
    pub(super) async fn load_session(&self, token_hash: B256) -> Result<Option<(Address, u64)>> {
        let row =
            sqlx::query("SELECT user_address, expires_at FROM sessions WHERE token_hash = $1")
                .bind(key(&token_hash))
                .fetch_optional(&self.pool)
                .await?;
        row.map(|r| {
            Ok((
                parse::<Address>(
                    r.try_get::<String, _>("user_address")?.as_str(),
                    "an address",
                )?,
                from_db_int(r.try_get("expires_at")?, "a time")?,
            ))
        })
        .transpose()
    }
}
