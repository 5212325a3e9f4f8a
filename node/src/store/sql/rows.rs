//! Encoding to and decoding from the schema's columns: hashes and addresses as lowercase 0x-hex text, states and
//! updates as spoke-protocol's JSON, nonces and times as 63-bit integers.

use super::*;

pub(super) fn key<T: core::fmt::LowerHex>(value: &T) -> String {
    format!("{value:#x}")
}

pub(super) fn db_int(value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| Error::TooLarge(value))
}

pub(super) fn from_db_int(value: i64, what: &'static str) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::Corrupt {
        what,
        reason: format!("negative value {value}"),
    })
}

pub(super) fn to_json<T: Serialize>(value: &T, what: &'static str) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

pub(super) fn from_json<T: DeserializeOwned>(text: &str, what: &'static str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

pub(super) fn sig_text(signature: &Signature) -> String {
    spoke_protocol::hex::encode_prefixed(signature.as_bytes())
}

pub(super) fn sig_from_text(text: &str) -> Result<Signature> {
    signature_hex::parse(text).map_err(|reason| Error::Corrupt {
        what: "a signature",
        reason,
    })
}

pub(super) fn parse<T: core::str::FromStr>(text: &str, what: &'static str) -> Result<T>
where
    T::Err: core::fmt::Display,
{
    text.parse().map_err(|e: T::Err| Error::Corrupt {
        what,
        reason: e.to_string(),
    })
}

pub(super) fn channel_from_row(row: &AnyRow) -> Result<ChannelRecord> {
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

/// A `channel_updates` row as the database holds it, before decoding; each driver fills it its own way.
#[derive(Debug)]
pub(super) struct UpdateRow {
    pub channel_id: String,
    pub nonce: i64,
    pub update_json: Option<String>,
    pub state_json: String,
    pub user_signature: Option<String>,
    pub node_signature: Option<String>,
    pub user_commitment_signature: Option<String>,
    pub node_commitment_signature: Option<String>,
}

impl UpdateRow {
    pub(super) fn decode(self) -> Result<StoredUpdate> {
        let commitment_signatures = match (
            self.user_commitment_signature,
            self.node_commitment_signature,
        ) {
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
            channel_id: parse(&self.channel_id, "a channel id")?,
            nonce: from_db_int(self.nonce, "a nonce")?,
            update: self
                .update_json
                .map(|u| from_json::<Update>(&u, "an update"))
                .transpose()?,
            state: from_json::<ChannelState>(&self.state_json, "a state")?,
            user_signature: self.user_signature.map(|s| sig_from_text(&s)).transpose()?,
            node_signature: self.node_signature.map(|s| sig_from_text(&s)).transpose()?,
            commitment_signatures,
        })
    }
}

/// An [`UpdateRow`] read column by column through a driver's by-name getter: `update_row!(row.try_get)` for sqlx,
/// `update_row!(row.get)` for rusqlite.
macro_rules! update_row {
    ($row:ident . $get:ident) => {
        UpdateRow {
            channel_id: $row.$get("channel_id")?,
            nonce: $row.$get("nonce")?,
            update_json: $row.$get("update_json")?,
            state_json: $row.$get("state_json")?,
            user_signature: $row.$get("user_signature")?,
            node_signature: $row.$get("node_signature")?,
            user_commitment_signature: $row.$get("user_commitment_signature")?,
            node_commitment_signature: $row.$get("node_commitment_signature")?,
        }
    };
}

pub(super) fn update_from_row(row: &AnyRow) -> Result<StoredUpdate> {
    update_row!(row.try_get).decode()
}

/// The columns of `channel_updates`, in [`UpdateRow`]'s order.
macro_rules! update_columns {
    () => {
        "channel_id, nonce, update_json, state_json, user_signature, node_signature, \
         user_commitment_signature, node_commitment_signature"
    };
}

/// Whether `e` is a duplicate primary or unique key, from either driver.
pub(super) fn is_unique_violation(e: &Error) -> bool {
    match e {
        Error::Database(sqlx::Error::Database(db)) => db.is_unique_violation(),
        Error::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => matches!(
            failure.extended_code,
            rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY | rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
        ),
        _ => false,
    }
}

/// The columns of `payments`, in the order [`payment_from_row`] reads them by name.
macro_rules! payment_columns {
    () => {
        "id, payer, payee, link_address, asset, amount, hashlock, payer_channel, payer_lock_id, payer_expiry, \
         payee_channel, payee_expiry, encrypted_preimage, preimage, revealed, status, created_at, updated_at"
    };
}

/// A payment's `status` column.
pub(super) fn payment_status(text: &str) -> Result<PaymentStatus> {
    PaymentStatus::parse(text).ok_or_else(|| Error::Corrupt {
        what: "a payment status",
        reason: format!("unknown status {text:?}"),
    })
}

pub(super) fn payment_from_row(row: &AnyRow) -> Result<Payment> {
    let text = |column: &str| -> Result<String> { Ok(row.try_get::<String, _>(column)?) };
    let optional = |column: &str| -> Result<Option<String>> { Ok(row.try_get(column)?) };
    let status = text("status")?;
    Ok(Payment {
        id: parse(&text("id")?, "a payment id")?,
        payer: parse(&text("payer")?, "an address")?,
        payee: optional("payee")?
            .map(|t| parse(&t, "an address"))
            .transpose()?,
        link_address: optional("link_address")?
            .map(|t| parse(&t, "an address"))
            .transpose()?,
        asset: parse(&text("asset")?, "an asset")?,
        amount: parse(&text("amount")?, "an amount")?,
        hashlock: parse(&text("hashlock")?, "a hashlock")?,
        payer_channel: parse(&text("payer_channel")?, "a channel id")?,
        payer_lock_id: parse(&text("payer_lock_id")?, "a lock id")?,
        payer_expiry: from_db_int(row.try_get("payer_expiry")?, "an expiry")?,
        payee_channel: optional("payee_channel")?
            .map(|t| parse(&t, "a channel id"))
            .transpose()?,
        payee_expiry: from_db_int(row.try_get("payee_expiry")?, "an expiry")?,
        encrypted_preimage: optional("encrypted_preimage")?
            .map(|t| from_json(&t, "an encrypted preimage"))
            .transpose()?,
        preimage: optional("preimage")?
            .map(|t| parse(&t, "a preimage"))
            .transpose()?,
        revealed: row.try_get::<i64, _>("revealed")? != 0,
        status: payment_status(&status)?,
        created_at: from_db_int(row.try_get("created_at")?, "a time")?,
        updated_at: from_db_int(row.try_get("updated_at")?, "a time")?,
    })
}
