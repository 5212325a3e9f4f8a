use spoke_protocol::{Side, B256};

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything the node can fail at. Messages name the values involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Made through `From`, which also notes a lost connection (`store::sql::connection_lost`).
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// From SQLite's own writer connection (`store/sql/sqlite_writer.rs`), which runs below sqlx.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: use sqlite://PATH or postgres://…")]
    UnsupportedDatabaseUrl(String),
    #[error("stored data does not decode ({what}): {reason}")]
    Corrupt { what: &'static str, reason: String },
    #[error("channel {0} is not open at this node")]
    UnknownChannel(B256),
    #[error("nonce {got} skips ahead: channel {channel_id} is stored up to nonce {latest}")]
    NonceGap {
        channel_id: B256,
        latest: u64,
        got: u64,
    },
    #[error("a different update is already stored at nonce {nonce} of channel {channel_id}")]
    Equivocation { channel_id: B256, nonce: u64 },
    #[error(
        "a different {side} signature is already stored at nonce {nonce} of channel {channel_id}"
    )]
    SignatureConflict {
        channel_id: B256,
        nonce: u64,
        side: Side,
    },
    #[error("no update is stored at nonce {nonce} of channel {channel_id}")]
    UnknownNonce { channel_id: B256, nonce: u64 },
    #[error("another write to channel {0} won the race; retry")]
    Conflict(B256),
    #[error("{0} does not fit the database's 63-bit integers")]
    TooLarge(u64),
    #[error("chain request failed: {0}")]
    Chain(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("quote {0} was already taken")]
    QuoteTaken(B256),
    #[error("the node refused its own update: {0}")]
    Protocol(#[from] spoke_protocol::Error),
    #[error("{what}: the chain refused the transaction: {reason}")]
    TxRefused { what: &'static str, reason: String },
    #[error("{what}: transaction {hash} reverted")]
    TxReverted { what: &'static str, hash: B256 },
    #[error("the state does not pass the protocol's checks: {0}")]
    InvalidState(spoke_protocol::Error),
    #[error("the state is for {what} {got}, but this watchtower watches {what} {expected}")]
    WrongDeployment {
        what: &'static str,
        expected: String,
        got: String,
    },
    #[error("the export of channel {0} holds no double-signed state yet: there is nothing to answer a dispute with")]
    NothingToWatch(B256),
    #[error(
        "channel {channel_id} is already watched at nonce {watched}; nonce {got} is not newer"
    )]
    StaleState {
        channel_id: B256,
        watched: u64,
        got: u64,
    },
    #[error("a different state is already watched at nonce {nonce} of channel {channel_id}")]
    ConflictingState { channel_id: B256, nonce: u64 },
    #[error("{source_name}: not a client export ({{\"params\", \"latest\", …}}): {reason}")]
    BadExport { source_name: String, reason: String },
    #[error("{what}: transaction {hash} not confirmed after {waited:?}{last_error}")]
    TxTimeout {
        what: &'static str,
        hash: B256,
        waited: std::time::Duration,
        /// The last failed chain read while waiting, as `" (last error: …)"`, or empty.
        last_error: String,
    },
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Error {
        if crate::store::sql::connection_lost(&e) {
            crate::store::sql::suspect_pooled_connections();
        }
        Error::Database(e)
    }
}
