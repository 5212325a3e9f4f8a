//! [`WatchtowerStore`] on the same SQL store and schema conventions as the node's tables.

use async_trait::async_trait;
use spoke_protocol::{ChannelParams, SignedState, B256};
use sqlx::{any::AnyRow, Row};

use super::{rows::*, SqlStore};
use crate::{
    store::watched::{Registered, WatchedState, WatchtowerStore},
    Error, Result,
};

/// The columns of `watched_states` that [`watched_from_row`] reads.
macro_rules! watched_columns {
    () => {
        "params_json, signed_json, disputed_nonce, answer_tx, answered_nonce, concluded, needs_check"
    };
}

fn watched_from_row(row: &AnyRow) -> Result<WatchedState> {
    let optional_int = |column: &str, what: &'static str| -> Result<Option<u64>> {
        row.try_get::<Option<i64>, _>(column)?
            .map(|v| from_db_int(v, what))
            .transpose()
    };
    let answer_tx: Option<String> = row.try_get("answer_tx")?;
    let answer = match (answer_tx, optional_int("answered_nonce", "a nonce")?) {
        (Some(tx), Some(nonce)) => Some((parse(&tx, "a transaction hash")?, nonce)),
        (None, _) => None,
        (Some(_), None) => {
            return Err(Error::Corrupt {
                what: "a watchtower answer",
                reason: "a transaction without its nonce".into(),
            })
        }
    };
    Ok(WatchedState {
        params: from_json(
            &row.try_get::<String, _>("params_json")?,
            "channel parameters",
        )?,
        signed: from_json(&row.try_get::<String, _>("signed_json")?, "a signed state")?,
        disputed_nonce: optional_int("disputed_nonce", "a nonce")?,
        answer,
        concluded: row.try_get::<i64, _>("concluded")? != 0,
        needs_check: row.try_get::<i64, _>("needs_check")? != 0,
    })
}

#[async_trait]
impl WatchtowerStore for SqlStore {
    async fn watch(&self, params: &ChannelParams, signed: &SignedState) -> Result<Registered> {
        let channel_id = signed.state.channel_id;
        let nonce = db_int(signed.state.nonce)?;
        let params_json = to_json(params, "channel parameters")?;
        let signed_json = to_json(signed, "a signed state")?;
        // Each statement decides on its own, so two registrations racing cannot replace a newer state with an
        // older one on either database.
        let inserted = sqlx::query(
            "INSERT INTO watched_states (channel_id, user_address, node_address, epoch, nonce, params_json, \
             signed_json) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel_id) DO NOTHING",
        )
        .bind(key(&channel_id))
        .bind(key(&params.user))
        .bind(key(&params.node))
        .bind(db_int(params.epoch)?)
        .bind(nonce)
        .bind(&params_json)
        .bind(&signed_json)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(Registered::Added);
        }
        let replaced = sqlx::query(
            "UPDATE watched_states SET nonce = $2, params_json = $3, signed_json = $4, needs_check = 1 \
             WHERE channel_id = $1 AND nonce < $2",
        )
        .bind(key(&channel_id))
        .bind(nonce)
        .bind(&params_json)
        .bind(&signed_json)
        .execute(&self.pool)
        .await?;
        if replaced.rows_affected() == 1 {
            return Ok(Registered::Replaced);
        }
        let stored = self
            .watched_state(channel_id)
            .await?
            .ok_or(Error::Conflict(channel_id))?;
        if stored.nonce() > signed.state.nonce {
            return Err(Error::StaleState {
                channel_id,
                watched: stored.nonce(),
                got: signed.state.nonce,
            });
        }
        // Signatures need not be byte-equal for the same state (another signer implementation may pick another
        // valid one), so only the state is compared.
        if stored.signed.state != signed.state {
            return Err(Error::ConflictingState {
                channel_id,
                nonce: signed.state.nonce,
            });
        }
        Ok(Registered::Unchanged)
    }

    async fn watched_state(&self, channel_id: B256) -> Result<Option<WatchedState>> {
        let sql = concat!(
            "SELECT ",
            watched_columns!(),
            " FROM watched_states WHERE channel_id = $1"
        );
        let row = sqlx::query(sql)
            .bind(key(&channel_id))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(watched_from_row).transpose()
    }

    async fn watched_states(&self) -> Result<Vec<WatchedState>> {
        let sql = concat!(
            "SELECT ",
            watched_columns!(),
            " FROM watched_states ORDER BY channel_id"
        );
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(watched_from_row).collect()
    }

    async fn watched_needing_work(&self) -> Result<Vec<WatchedState>> {
        let sql = concat!(
            "SELECT ",
            watched_columns!(),
            " FROM watched_states WHERE concluded = 0 \
             AND (needs_check = 1 OR disputed_nonce < nonce) ORDER BY channel_id"
        );
        let rows = sqlx::query(sql).fetch_all(&self.pool).await?;
        rows.iter().map(watched_from_row).collect()
    }

    async fn record_dispute(&self, channel_id: B256, nonce: u64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE watched_states SET disputed_nonce = $2 \
             WHERE channel_id = $1 AND (disputed_nonce IS NULL OR disputed_nonce < $2)",
        )
        .bind(key(&channel_id))
        .bind(db_int(nonce)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_answer(&self, channel_id: B256, answer: Option<(B256, u64)>) -> Result<()> {
        let nonce = answer.map(|(_, n)| db_int(n)).transpose()?;
        sqlx::query(
            "UPDATE watched_states SET answer_tx = $2, answered_nonce = $3 WHERE channel_id = $1",
        )
        .bind(key(&channel_id))
        .bind(answer.map(|(tx, _)| key(&tx)))
        .bind(nonce)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn record_concluded(&self, channel_id: B256) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE watched_states SET concluded = 1 WHERE channel_id = $1 AND concluded = 0",
        )
        .bind(key(&channel_id))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_checked(&self, channel_id: B256) -> Result<()> {
        sqlx::query("UPDATE watched_states SET needs_check = 0 WHERE channel_id = $1")
            .bind(key(&channel_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
