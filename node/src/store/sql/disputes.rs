//! The dispute records of [`crate::store::Store`] on SQL.

use spoke_protocol::B256;
use sqlx::Row;

use super::{rows::*, SqlStore};
use crate::{
    store::{ChannelRecord, DisputeTx, DisputeTxStatus, PendingDisputeTx},
    Error, Result,
};

impl SqlStore {
    pub(super) async fn put_dispute_tx(&self, tx: &DisputeTx) -> Result<()> {
        sqlx::query(
            // `WHERE true` keeps SQLite from reading ON CONFLICT as part of the SELECT's join.
            "INSERT INTO dispute_txs (tx_hash, channel_id, action, status, sent_at, seq) \
             SELECT $1, $2, $3, $4, $5, COALESCE(MAX(seq), 0) + 1 FROM dispute_txs WHERE true \
             ON CONFLICT (tx_hash) DO UPDATE SET status = excluded.status",
        )
        .bind(key(&tx.tx_hash))
        .bind(key(&tx.channel_id))
        .bind(tx.action.to_string())
        .bind(tx.status.as_str())
        .bind(db_int(tx.sent_at)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn get_dispute_txs(&self, channel_id: B256) -> Result<Vec<DisputeTx>> {
        let rows = sqlx::query(
            "SELECT tx_hash, action, status, sent_at FROM dispute_txs WHERE channel_id = $1 \
             ORDER BY seq",
        )
        .bind(key(&channel_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let status: String = row.try_get("status")?;
                Ok(DisputeTx {
                    channel_id,
                    tx_hash: parse(&row.try_get::<String, _>("tx_hash")?, "a transaction hash")?,
                    action: parse(&row.try_get::<String, _>("action")?, "a dispute action")?,
                    status: DisputeTxStatus::parse(&status).ok_or(Error::Corrupt {
                        what: "a dispute transaction",
                        reason: format!("unknown status {status:?}"),
                    })?,
                    sent_at: from_db_int(row.try_get("sent_at")?, "a time")?,
                })
            })
            .collect()
    }

    pub(super) async fn get_channels_in_dispute(&self) -> Result<Vec<ChannelRecord>> {
        let rows = sqlx::query(
            "SELECT channel_id, user_address, epoch FROM channels WHERE frozen = 1 AND dispute_done = 0 \
             ORDER BY channel_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(channel_from_row).collect()
    }

    pub(super) async fn set_dispute_done(&self, channel_id: B256) -> Result<()> {
        sqlx::query("UPDATE channels SET dispute_done = 1 WHERE channel_id = $1")
            .bind(key(&channel_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn put_pending_dispute(&self, tx: &PendingDisputeTx) -> Result<()> {
        sqlx::query(
            "INSERT INTO pending_disputes (tx_hash, channel_id, nonce, seen_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tx_hash) DO NOTHING",
        )
        .bind(key(&tx.tx_hash))
        .bind(key(&tx.channel_id))
        .bind(db_int(tx.nonce)?)
        .bind(db_int(tx.seen_at)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn get_pending_disputes(&self) -> Result<Vec<PendingDisputeTx>> {
        let rows = sqlx::query(
            "SELECT tx_hash, channel_id, nonce, seen_at FROM pending_disputes \
             ORDER BY channel_id, seen_at, tx_hash",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(PendingDisputeTx {
                    channel_id: parse(&row.try_get::<String, _>("channel_id")?, "a channel id")?,
                    tx_hash: parse(&row.try_get::<String, _>("tx_hash")?, "a transaction hash")?,
                    nonce: from_db_int(row.try_get("nonce")?, "a nonce")?,
                    seen_at: from_db_int(row.try_get("seen_at")?, "a time")?,
                })
            })
            .collect()
    }

    pub(super) async fn delete_pending_disputes(&self, channel_id: B256) -> Result<()> {
        sqlx::query("DELETE FROM pending_disputes WHERE channel_id = $1")
            .bind(key(&channel_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One transaction, so a confirmation between the delete and the unfreeze cannot be undone by it.
    pub(super) async fn unfreeze_if_gone(&self, channel_id: B256, gone: &[B256]) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let mut deleted = 0;
        for hash in gone {
            deleted +=
                sqlx::query("DELETE FROM pending_disputes WHERE channel_id = $1 AND tx_hash = $2")
                    .bind(key(&channel_id))
                    .bind(key(hash))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
        }
        let left: i64 =
            sqlx::query("SELECT COUNT(*) AS n FROM pending_disputes WHERE channel_id = $1")
                .bind(key(&channel_id))
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
        let released = deleted > 0 && left == 0;
        if released {
            sqlx::query("UPDATE channels SET frozen = 0 WHERE channel_id = $1")
                .bind(key(&channel_id))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(released)
    }
}
