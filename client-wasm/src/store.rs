//! The client's own copy of its channel. A [`StateStore`] keeps one [`Snapshot`]; the client saves it before any
//! signature of its leaves, so what it signed survives a crash. [`FileStore`] keeps it in a file natively;
//! [`KvStore`] under one key of a [`KeyValue`] store (the browser's `localStorage`).

use std::{path::PathBuf, sync::Arc};

use serde::{Deserialize, Serialize};
use spoke_protocol::{
    json::{FromJson, JsonError, Object, Value},
    ChannelParams, ChannelState, SignedCommitment, SignedState, B256,
};

use crate::{caps::Spent, platform::MaybeSendSync, Error, KeyValue, Result};

/// Everything the client must not lose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub params: ChannelParams,
    /// The newest double-signed state; `None` while only the opening state exists.
    pub latest: Option<SignedState>,
    /// A state the client signed and sent, not yet countersigned: resent as is, never replaced by another
    /// state at the same nonce until the node has answered.
    #[serde(default)]
    pub unanswered: Option<ChannelState>,
    /// Withdrawal commitments with both signatures, for the chain.
    #[serde(default)]
    pub commitments: Vec<SignedCommitment>,
    /// Preimages of locks paid to this client, by lock id: what it reveals on chain if the node stops answering.
    #[serde(default)]
    pub preimages: Vec<(B256, B256)>,
    /// Preimages of links this client is redeeming, by hashlock: the node's lock to it carries none.
    #[serde(default)]
    pub link_preimages: Vec<(B256, B256)>,
    /// What the app spent in the last hour under hourly [`SpendingCaps`](crate::SpendingCaps); empty without them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spent: Vec<Spent>,
}

impl FromJson for Snapshot {
    fn from_json(value: &Value) -> std::result::Result<Self, JsonError> {
        let o = Object::new(value)?;
        Ok(Snapshot {
            params: o.field("params")?,
            latest: o.field("latest")?,
            unanswered: o.field("unanswered")?,
            commitments: o.field_or_default("commitments")?,
            preimages: o.field_or_default("preimages")?,
            link_preimages: o.field_or_default("linkPreimages")?,
            spent: o.field_or_default("spent")?,
        })
    }
}

/// Where a [`Snapshot`] lives. `save` returns once the snapshot is durable.
pub trait StateStore: MaybeSendSync + std::fmt::Debug {
    fn load(&self) -> Result<Option<Snapshot>>;
    fn save(&self, snapshot: &Snapshot) -> Result<()>;
    /// Keeps the snapshot of a channel this store no longer holds (an earlier epoch) where [`StateStore::save`]
    /// will not overwrite it; [`StateStore::archived`] reads it back.
    fn archive(&self, snapshot: &Snapshot) -> Result<()>;
    /// An archived snapshot of the channel of `epoch`.
    fn archived(&self, epoch: u64) -> Result<Option<Snapshot>>;
}

fn decode(bytes: &[u8], what: &str) -> Result<Snapshot> {
    spoke_protocol::json::from_slice(bytes)
        .map_err(|e| Error::Store(format!("{what} does not decode: {e}")))
}

/// A snapshot in one JSON file, replaced atomically: written beside it, flushed to disk, then renamed over it.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore { path: path.into() }
    }
}

fn io(what: &str, e: std::io::Error) -> Error {
    Error::Store(format!("{what}: {e}"))
}

impl FileStore {
    fn archive_path(&self, epoch: u64) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".epoch-{epoch}"));
        self.path.with_file_name(name)
    }

    fn write_atomically(&self, path: &std::path::Path, snapshot: &Snapshot) -> Result<()> {
        use std::io::Write;
        let bytes = serde_json::to_vec(snapshot).map_err(|e| Error::Store(e.to_string()))?;
        let tmp = path.with_extension("tmp");
        let mut file =
            std::fs::File::create(&tmp).map_err(|e| io("cannot write the channel file", e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| io("cannot write the channel file", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("cannot replace the channel file", e))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // The rename is durable only once the directory entry is.
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("cannot sync the channel directory", e))?;
        }
        Ok(())
    }
}

impl StateStore for FileStore {
    fn load(&self) -> Result<Option<Snapshot>> {
        read(&self.path)
    }

    fn save(&self, snapshot: &Snapshot) -> Result<()> {
        self.write_atomically(&self.path, snapshot)
    }

    fn archive(&self, snapshot: &Snapshot) -> Result<()> {
        self.write_atomically(&self.archive_path(snapshot.params.epoch), snapshot)
    }

    fn archived(&self, epoch: u64) -> Result<Option<Snapshot>> {
        read(&self.archive_path(epoch))
    }
}

fn read(path: &std::path::Path) -> Result<Option<Snapshot>> {
    match std::fs::read(path) {
        Ok(bytes) => decode(&bytes, &path.display().to_string()).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("cannot read the channel file", e)),
    }
}

/// A snapshot as JSON under one key of a [`KeyValue`] store.
#[derive(Debug, Clone)]
pub struct KvStore {
    kv: Arc<dyn KeyValue>,
    key: String,
}

impl KvStore {
    pub fn new(kv: Arc<dyn KeyValue>, key: impl Into<String>) -> KvStore {
        KvStore {
            kv,
            key: key.into(),
        }
    }

    /// The key a user's channel with the node at `node_url` is kept under: one per user and node, so a second
    /// node never overwrites the first one's channel.
    pub fn key_for(user: spoke_protocol::Address, node_url: &str) -> String {
        format!("spoke:channel:{user:#x}@{}", node_url.trim_end_matches('/'))
    }
}

impl StateStore for KvStore {
    fn load(&self) -> Result<Option<Snapshot>> {
        self.read(&self.key)
    }

    fn save(&self, snapshot: &Snapshot) -> Result<()> {
        self.write(&self.key, snapshot)
    }

    fn archive(&self, snapshot: &Snapshot) -> Result<()> {
        self.write(&self.archive_key(snapshot.params.epoch), snapshot)
    }

    fn archived(&self, epoch: u64) -> Result<Option<Snapshot>> {
        self.read(&self.archive_key(epoch))
    }
}

impl KvStore {
    fn archive_key(&self, epoch: u64) -> String {
        format!("{}#epoch-{epoch}", self.key)
    }

    fn read(&self, key: &str) -> Result<Option<Snapshot>> {
        self.kv
            .get(key)?
            .map(|text| decode(text.as_bytes(), "the stored channel"))
            .transpose()
    }

    fn write(&self, key: &str, snapshot: &Snapshot) -> Result<()> {
        let text = serde_json::to_string(snapshot).map_err(|e| Error::Store(e.to_string()))?;
        self.kv.set(key, &text)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use spoke_protocol::{Address, Timing};

    /// A channel's parameters for unit tests.
    pub(crate) fn params(allowed_assets: Vec<Address>) -> ChannelParams {
        ChannelParams {
            chain_id: 1,
            contract: Address::repeat_byte(1),
            user: Address::repeat_byte(2),
            node: Address::repeat_byte(3),
            epoch: 0,
            allowed_assets,
            timing: Timing::default(),
            max_locks: 8,
        }
    }

    #[test]
    fn a_saved_snapshot_loads_back_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().expect("dir");
        let store = FileStore::new(dir.path().join("channel.json"));
        assert_eq!(store.load().expect("load"), None);
        let snapshot = Snapshot {
            params: params(vec![]),
            latest: None,
            unanswered: None,
            commitments: vec![],
            preimages: vec![(B256::repeat_byte(4), B256::repeat_byte(5))],
            link_preimages: vec![],
            spent: vec![],
        };
        store.save(&snapshot).expect("save");
        assert_eq!(store.load().expect("load"), Some(snapshot));
    }

    /// A snapshot is read without serde (FromJson, for the .wasm's size), but what serde wrote before must still
    /// load: both readers agree on it and on every variation of it.
    #[test]
    fn snapshots_read_as_serde_reads_them() {
        use spoke_protocol::{json::conformance::agrees, ChannelState, Signer};
        let signature = |n: u8| {
            Signer::from_bytes(&B256::repeat_byte(0x11))
                .expect("key")
                .sign_digest(&B256::repeat_byte(n))
                .expect("signs")
        };
        let state = ChannelState::initial(B256::repeat_byte(6));
        let full = Snapshot {
            params: params(vec![Address::repeat_byte(7)]),
            latest: Some(SignedState {
                state: state.clone(),
                user_signature: signature(1),
                node_signature: signature(2),
            }),
            unanswered: Some(state),
            commitments: vec![],
            preimages: vec![(B256::repeat_byte(4), B256::repeat_byte(5))],
            link_preimages: vec![(B256::repeat_byte(8), B256::repeat_byte(9))],
            spent: vec![Spent {
                at_ms: 5,
                asset: Address::repeat_byte(7),
                amount: spoke_protocol::U256::from(3u8),
            }],
        };
        assert!(agrees(&full) > 500);
        agrees(&Snapshot {
            latest: None,
            unanswered: None,
            spent: vec![],
            ..full
        });
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_an_empty_channel() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("channel.json");
        std::fs::write(&path, b"{not json").expect("write");
        assert!(matches!(FileStore::new(path).load(), Err(Error::Store(_))));
    }
}
