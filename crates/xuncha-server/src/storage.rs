//! The server's storage behind one narrow trait: every operation runs inside a
//! transaction the backend provides, so the sync logic above it is written once and a
//! second backend (PostgreSQL for a province) only implements [`Tx`].

use serde::Serialize;
use xuncha_domain::{DivisionEntry, ReadScope, Roster, Round, Team};
use xuncha_protocol::{DocKey, Role};

/// What storage can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("storage: {0}")]
    Backend(String),
    #[error("{0}")]
    Conflict(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// The master key is missing, damaged or does not open `server.db`.
    #[error("{0}")]
    Key(String),
    /// An enrollment code that is unknown, used, cancelled or expired, or whose user is
    /// disabled.
    #[error("{0}")]
    BadCode(String),
    /// An attachment piece that does not start where the bytes held end.
    #[error("resume from {0}")]
    Resume(u64),
    /// The transaction collided with another (a serialization failure or a deadlock, on a
    /// backend with concurrent writers) and was retried as often as it may be.
    #[error("{0}")]
    Busy(String),
}

/// Shorthand.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// `district` (everything on this server), or a division code of any level.
    pub jurisdiction: String,
    pub created_at_ms: i64,
    /// When the administrator disabled the user: their devices are refused.
    pub disabled_at_ms: Option<i64>,
}

/// A device enrolled for a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    pub id: String,
    pub user_id: String,
    pub name: String,
    /// The Automerge actor registered to the device (hex).
    pub actor: String,
    pub created_at_ms: i64,
    /// When its current token was issued (it enrolled, or enrolled again).
    pub token_issued_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub last_sync_ms: Option<i64>,
    /// The Ed25519 public key (hex) its change signatures verify with; `None` for a
    /// device enrolled before keys until its first sync registers them.
    pub signing_key: Option<String>,
    /// The X25519 recipient (`age1…`) protected values are sealed to for it.
    pub sealing_key: Option<String>,
}

/// A document as the server keeps it: merged, as one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    pub key: DocKey,
    pub snapshot: Vec<u8>,
    /// What decides who reads it (a protected companion has its record's).
    pub scope: DocScope,
    /// The device that first uploaded the document.
    pub owner_device: String,
}

/// What decides who reads a document: the record's kind, its place (the village, or the
/// township while it has no village) and the team that found it (empty: none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DocScope {
    pub kind: String,
    pub place: String,
    pub team: String,
}

impl DocScope {
    /// Whether `scope` admits a document of this kind, place and team.
    pub fn admitted_by(&self, scope: &ReadScope) -> bool {
        scope.admits(xuncha_domain::RecordKind::parse(&self.kind), &self.place, &self.team)
    }
}

/// One accepted change for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    pub hash: String,
    pub bytes: Vec<u8>,
    /// The Ed25519 signature of the change hash by the device that made it.
    pub signature: Option<Vec<u8>>,
    /// The device that made it (its actor is registered to it), whoever carried it here.
    pub device_id: String,
}

/// One row of the change log, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub seq: u64,
    pub key: DocKey,
    pub bytes: Vec<u8>,
}

/// Who a read is for: which records and which protected documents a device may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visibility {
    pub device_id: String,
    pub scope: ReadScope,
}

impl Visibility {
    /// Whether the device may read a document.
    pub fn admits(&self, key: &DocKey, scope: &DocScope, owner_device: &str) -> bool {
        scope.admitted_by(&self.scope)
            && (key.part == xuncha_protocol::Part::Record || self.scope.all_protected || owner_device == self.device_id)
    }
}

/// A document's key with what decides who reads it, without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMeta {
    pub key: DocKey,
    pub scope: DocScope,
    pub owner_device: String,
}

/// What the server holds of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachmentState {
    pub size: u64,
    pub received: u64,
    pub complete: bool,
}

/// The epoch cursors are made in: this server's id and the data it serves, which a restore
/// from a backup replaces. A cursor of another epoch may point past changes this server
/// never had or has again under other numbers: its device walks everything again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epoch {
    /// What a cursor carries: 8 bytes of SHA-256 over the server's id and its epoch.
    pub tag: [u8; 8],
    /// Whether the server was ever restored (cursors made before epochs are then stale).
    pub restored: bool,
}

/// What one device has sent of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadState {
    pub size: u64,
    pub received: u64,
    /// The device sent every byte and they matched the hash: it holds the attachment.
    pub held: bool,
}

/// An audit-log entry: every administrative action and every sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub user_id: Option<String>,
    pub device_id: Option<String>,
    pub action: String,
    pub detail: serde_json::Value,
}

/// Another server this one exchanges sync bundles with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// What the administrator calls it (`内网`, `office`).
    pub name: String,
    /// Its key, `xuncha1:<signing>:<sealing>`.
    pub key: String,
    pub added_at_ms: i64,
    /// How far of this server's change log it has acknowledged by a receipt.
    pub acked_seq: u64,
    /// Documents it asked for whole (it lacked the history of changes it was sent).
    #[serde(skip)]
    pub wants: Vec<DocKey>,
}

/// The operations of one transaction.
pub trait Tx {
    fn add_user(&mut self, user: &User) -> Result<()>;
    fn user(&mut self, id: &str) -> Result<Option<User>>;
    fn users(&mut self) -> Result<Vec<User>>;
    /// Records a one-time enrollment code (stored hashed) for `user_id`.
    fn add_enrollment(&mut self, code_hash: &str, user_id: &str, expires_at_ms: i64, now_ms: i64) -> Result<()>;
    /// Uses an enrollment code (as typed): it must exist, be unused, not cancelled and
    /// unexpired, and its user enabled. Returns the user.
    fn redeem_enrollment(&mut self, code: &str, device_id: &str, now_ms: i64) -> Result<User>;
    /// Cancels outstanding codes: of `user_id` if given, only `code` if given; how many.
    fn cancel_enrollments(&mut self, user_id: Option<&str>, code: Option<&str>, now_ms: i64) -> Result<usize>;
    /// Disables a user (`Some(time)`) or enables them again (`None`); `false` if no such user.
    fn set_user_disabled(&mut self, user_id: &str, disabled_at_ms: Option<i64>) -> Result<bool>;
    fn add_device(&mut self, device: &Device, token_hash: &str) -> Result<()>;
    fn device_by_token(&mut self, token_hash: &str) -> Result<Option<Device>>;
    /// The device registered with an Automerge actor.
    fn device_by_actor(&mut self, actor: &str) -> Result<Option<Device>>;
    /// Gives a device enrolling again a new token (the old one stops working) and name.
    fn rotate_token(&mut self, device_id: &str, token_hash: &str, name: &str, now_ms: i64) -> Result<()>;
    fn devices(&mut self) -> Result<Vec<Device>>;
    /// Revokes a device; `false` if there is no such device.
    fn revoke_device(&mut self, device_id: &str, now_ms: i64) -> Result<bool>;
    fn touch_device(&mut self, device_id: &str, now_ms: i64) -> Result<()>;
    /// Registers a device's public keys, unless it has some already.
    fn set_device_keys(&mut self, device_id: &str, signing_key: &str, sealing_key: &str) -> Result<()>;
    /// Holds `records` (both parts of each) until the transaction ends: another
    /// transaction locking one of them waits. Called before a record is read to be merged
    /// and written back, so that two writers on different connections (replicas of one
    /// PostgreSQL database) never merge into the same old snapshot and drop each other's
    /// changes. Takes them in sorted order, so two writers cannot deadlock. A backend whose
    /// write transactions are serialised anyway (SQLite) has nothing more to do.
    fn lock_records(&mut self, records: &[Vec<u8>]) -> Result<()>;
    fn doc(&mut self, key: &DocKey) -> Result<Option<StoredDoc>>;
    /// Writes a document's merged snapshot and appends its new changes to the log; a
    /// change whose hash is already logged is skipped. Returns how many were new.
    fn put_doc(&mut self, doc: &StoredDoc, changes: &[LoggedChange], now_ms: i64) -> Result<u32>;
    /// Log entries after `after` that `who` may see, not made by `who`'s device, at most
    /// `limit`; and the sequence number reading may resume after.
    fn log_after(&mut self, after: u64, who: &Visibility, limit: u32) -> Result<(Vec<LogEntry>, u64, bool)>;
    /// Whole documents `who` may see, in key order after `after`, at most `limit`, leaving
    /// out those whose every change came from `who`'s own device.
    fn docs_after(&mut self, after: Option<&DocKey>, who: &Visibility, limit: u32) -> Result<(Vec<StoredDoc>, bool)>;
    /// The highest sequence number in the log.
    fn max_seq(&mut self) -> Result<u64>;
    /// Gives the record the next number of its round and team unless it has one.
    fn number_record(&mut self, record: &[u8], round: &str, team: &str, now_ms: i64) -> Result<()>;
    /// The numbers of those of `records` that have one and that `who` may read, in order.
    fn record_numbers(
        &mut self,
        records: &[Vec<u8>],
        who: &Visibility,
    ) -> Result<Vec<(Vec<u8>, xuncha_domain::numbering::Number)>>;
    fn audit(&mut self, entry: &AuditEntry) -> Result<()>;
    fn audit_log(&mut self, limit: u32) -> Result<Vec<AuditEntry>>;
    /// Records which attachments a record references now (replacing what it referenced).
    fn set_attachment_refs(&mut self, record: &[u8], sha256s: &[String]) -> Result<()>;
    /// The records that reference an attachment and that `who` may see.
    fn attachment_records(&mut self, sha256: &str, who: &Visibility) -> Result<Vec<Vec<u8>>>;
    /// The devices that uploaded all of an attachment's bytes (proving they hold it).
    fn attachment_holders(&mut self, sha256: &str) -> Result<Vec<String>>;
    /// The attachment's size and the bytes received, once some device completed it.
    fn attachment_state(&mut self, sha256: &str) -> Result<Option<AttachmentState>>;
    /// What `device_id` has sent of an attachment.
    fn upload_state(&mut self, sha256: &str, device_id: &str) -> Result<Option<UploadState>>;
    /// The attachment bytes `device_id` holds or is sending, declared sizes summed.
    fn attachment_usage(&mut self, device_id: &str) -> Result<u64>;
    /// Appends bytes at `offset` (which must equal what the device sent so far) to the
    /// device's own upload, which declares `size`. Returns the bytes received.
    fn append_upload(
        &mut self,
        sha256: &str,
        device_id: &str,
        size: u64,
        offset: u64,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<u64>;
    /// The SHA-256 (hex) of what `device_id` sent, read a piece at a time.
    fn upload_digest(&mut self, sha256: &str, device_id: &str) -> Result<String>;
    /// Ends a device's upload: a valid one makes the attachment whole (if no other device
    /// did first) and the device one of its holders; an invalid one is discarded.
    fn finish_upload(&mut self, sha256: &str, device_id: &str, valid: bool, now_ms: i64) -> Result<()>;
    /// The piece of a complete attachment that holds byte `offset`: where it starts, and
    /// its bytes. `None` past the end.
    fn attachment_piece(&mut self, sha256: &str, offset: u64) -> Result<Option<(u64, Vec<u8>)>>;
    /// The bytes of an attachment from `offset`.
    fn attachment_bytes(&mut self, sha256: &str, offset: u64) -> Result<Vec<u8>>;
    /// Complete attachments that a stored record references and `device_id` does not hold,
    /// with their sizes, oldest first, at most `limit` (a team relay's storage: what its
    /// host device still lacks; bytes no record names are not taken on).
    fn attachments_not_held_by(&mut self, device_id: &str, limit: u32) -> Result<Vec<(String, u64)>>;
    /// Makes `device_id` a holder of a complete attachment without its sending the bytes:
    /// only for a device that got them another way (a relay's host, from the relay itself).
    fn hold_attachment(&mut self, sha256: &str, device_id: &str, now_ms: i64) -> Result<()>;
    /// A device by its id.
    fn device(&mut self, device_id: &str) -> Result<Option<Device>>;
    /// The epoch cursors are made in: it changes when the server is restored from a backup.
    fn epoch(&mut self) -> Result<Epoch>;

    /// Every document's key and read scope (no bytes), for working out what a device whose
    /// scope changed may no longer hold.
    fn doc_metas(&mut self) -> Result<Vec<DocMeta>>;
    /// Remembers a read scope by its fingerprint (cursors carry the fingerprint).
    fn remember_scope(&mut self, fingerprint: &[u8], scope: &ReadScope) -> Result<()>;
    fn scope(&mut self, fingerprint: &[u8]) -> Result<Option<ReadScope>>;

    /// Adds or renames divisions; a division already present keeps its code and takes the
    /// new name and parent.
    fn put_divisions(&mut self, divisions: &[DivisionEntry]) -> Result<()>;
    fn divisions(&mut self) -> Result<Vec<DivisionEntry>>;
    fn division(&mut self, code: &str) -> Result<Option<DivisionEntry>>;
    fn add_round(&mut self, round: &Round) -> Result<()>;
    fn rounds(&mut self) -> Result<Vec<Round>>;
    /// Adds a team, or replaces the team with the same id.
    fn put_team(&mut self, team: &Team) -> Result<()>;
    fn teams(&mut self) -> Result<Vec<Team>>;
    /// The teams a user belongs to (as 组长, 副组长 or member).
    fn teams_of(&mut self, user_id: &str) -> Result<Vec<Team>>;
    /// Counts to `team` the documents no team found yet (written before teams existed)
    /// that a device of one of its people first uploaded, in the team's places.
    fn claim_for_team(&mut self, team: &Team) -> Result<usize>;
    /// Stores a roster, replacing the one of the same village and fund.
    fn put_roster(&mut self, roster: &Roster) -> Result<()>;
    /// Rosters of villages whose codes start with one of `prefixes`.
    fn rosters(&mut self, prefixes: &[String]) -> Result<Vec<Roster>>;
    /// The version of the reference data: it changes with every change of it.
    fn reference_version(&mut self) -> Result<u64>;
    fn bump_reference_version(&mut self) -> Result<u64>;
    /// The server's identity, made once when its storage is created.
    /// Trusts another server for bundles; a name or key already trusted is a conflict.
    fn add_peer(&mut self, peer: &Peer) -> Result<()>;
    fn peers(&mut self) -> Result<Vec<Peer>>;
    /// What a peer acknowledged and asked for whole, from its latest receipt.
    fn set_peer_state(&mut self, name: &str, acked_seq: u64, wants: &[DocKey]) -> Result<()>;
    /// The server's bundle identity (an age X25519 secret key), `made` stored the first time.
    fn bundle_identity(&mut self, made: &str) -> Result<String>;
    fn server_id(&mut self) -> Result<String>;

    /// The last entry of the change log and its link in the hash chain.
    fn chain_head(&mut self) -> Result<(u64, [u8; 32])>;
    /// Log entries after `after`, in order, with their stored links, at most `limit`.
    fn log_rows(&mut self, after: u64, limit: u32) -> Result<Vec<(crate::chain::LogRow, Vec<u8>)>>;
    /// Whether a device uploaded any change of a document.
    fn device_wrote(&mut self, key: &DocKey, device_id: &str) -> Result<bool>;
    /// The district's protected-data recipient (`age1…`), once made.
    fn protected_key(&mut self) -> Result<Option<String>>;
    /// Sets the district's protected-data recipient.
    fn set_protected_key(&mut self, recipient: &str, now_ms: i64) -> Result<()>;
    /// The protected-data identity wrapped to a device's own key, if granted to it.
    fn protected_grant(&mut self, device_id: &str) -> Result<Option<Vec<u8>>>;
    /// Stores the protected-data identity wrapped to a device's own key.
    fn grant_protected(&mut self, device_id: &str, wrapped: &[u8], now_ms: i64) -> Result<()>;
    /// The signatures of a document's logged changes, by change hash (hex), in log order.
    fn doc_signatures(&mut self, key: &DocKey) -> Result<Vec<(String, Vec<u8>)>>;
    /// The device signature logged beside entry `seq`, if it has one.
    fn change_signature(&mut self, seq: u64) -> Result<Option<Vec<u8>>>;
    fn add_checkpoint(&mut self, checkpoint: &crate::chain::Checkpoint) -> Result<()>;
    fn checkpoints(&mut self) -> Result<Vec<crate::chain::Checkpoint>>;
}

/// What a backend counted since it opened (for `/metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StorageStats {
    pub read_commits: u64,
    pub write_commits: u64,
    /// Transactions run again after colliding with another.
    pub retries: u64,
    /// Transactions given up after colliding as often as they may.
    pub gave_up: u64,
    /// Microseconds writers waited for their turn to append to the change log.
    pub log_wait_micros: u64,
}

/// A storage backend.
pub trait Storage: Send + Sync + 'static {
    /// Runs `work` in one transaction: committed if it returns `Ok`, rolled back otherwise.
    /// `write` transactions are serialised; read transactions see a consistent snapshot.
    fn transaction(&self, write: bool, work: &mut dyn FnMut(&mut dyn Tx) -> Result<()>) -> Result<()>;
    /// What it counted since it opened.
    fn stats(&self) -> StorageStats;
    /// The attachment store complete attachments go to, if not the database.
    fn blobs(&self) -> Option<&crate::blobs::Blobs>;
}

/// Runs `work` in a transaction and returns its value.
pub fn with_tx<T>(storage: &dyn Storage, write: bool, mut work: impl FnMut(&mut dyn Tx) -> Result<T>) -> Result<T> {
    let mut out = None;
    storage.transaction(write, &mut |tx| {
        out = Some(work(tx)?);
        Ok(())
    })?;
    out.ok_or_else(|| StorageError::Backend("transaction produced nothing".into()))
}

/// What the backends share: how they name things in storage, and what they refuse with.
pub(crate) mod shared {
    use super::{Epoch, StorageError};
    use sha2::{Digest, Sha256};
    use xuncha_protocol::{DocKey, Part};

    /// A document part's name in storage.
    pub(crate) fn part_code(part: Part) -> &'static str {
        match part {
            Part::Record => "record",
            Part::Protected => "protected",
        }
    }

    pub(crate) fn part_from(code: &str) -> Part {
        if code == "protected" { Part::Protected } else { Part::Record }
    }

    /// The township of a place (a village's first nine digits and `000`), or the place itself.
    pub(crate) fn township_of(place: &str) -> String {
        match xuncha_domain::reference::level_of(place) {
            Some(xuncha_domain::Level::Village) => format!("{}000", &place[..9]),
            _ => place.to_owned(),
        }
    }

    /// The digits of a place (a 12-digit division code) that name its district (区县): the
    /// first six, or the place itself when it is shorter (none).
    #[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
    pub(crate) fn district_of(place: &str) -> &str {
        place.get(..6).unwrap_or(place)
    }

    /// The districts a read scope's places all lie in, each once (empty when it reads
    /// nothing); `None` when a place is wider than one district (a city's or province's
    /// role, or the whole server), whose reads go over every district.
    #[cfg_attr(not(feature = "province"), allow(dead_code))] // used by PostgreSQL (pg.rs)
    pub(crate) fn districts_of(places: &[String]) -> Option<Vec<String>> {
        let mut out = Vec::with_capacity(places.len());
        for place in places {
            if place.len() < 6 {
                return None;
            }
            out.push(district_of(place).to_owned());
        }
        out.sort();
        out.dedup();
        Some(out)
    }

    impl Epoch {
        /// The epoch of server `server_id` whose stored epoch value is `epoch` (empty
        /// before its first restore).
        pub(crate) fn derive(server_id: &str, epoch: &str, restored: bool) -> Epoch {
            let digest = Sha256::digest(format!("{server_id}/{epoch}").as_bytes());
            let mut tag = [0u8; 8];
            tag.copy_from_slice(&digest[..8]);
            Epoch { tag, restored }
        }
    }

    pub(crate) fn code_refused() -> StorageError {
        StorageError::BadCode(
            "注册码无效、已使用、已作废或已过期，请向管理员索取新的注册码 / the enrollment code is unknown, used, cancelled or expired; ask the administrator for a new one".into(),
        )
    }

    pub(crate) fn user_disabled(user: &str) -> StorageError {
        StorageError::BadCode(format!(
            "用户 {user} 已停用，请联系管理员 / user {user} is disabled; ask the administrator"
        ))
    }

    pub(crate) fn user_exists(user: &str) -> StorageError {
        StorageError::Conflict(format!("用户 {user} 已存在 / user {user} already exists"))
    }

    pub(crate) fn actor_taken() -> StorageError {
        StorageError::Conflict(
            "该设备的写入标识已登记 / this device's actor id is already registered; reinstall the app".into(),
        )
    }

    pub(crate) fn round_exists(name: &str) -> StorageError {
        StorageError::Conflict(format!("巡察轮次 “{name}” 已存在 / the round {name:?} already exists"))
    }

    pub(crate) fn peer_exists(name: &str) -> StorageError {
        StorageError::Conflict(format!(
            "已有同名或同密钥的对端 {name} / a peer of this name or key is already trusted ({name})"
        ))
    }

    /// The checks of an appended attachment piece: the size first declared, the offset
    /// reached, the size not exceeded. Returns where the bytes will end.
    pub(crate) fn check_piece(
        declared: u64,
        received: u64,
        size: u64,
        offset: u64,
        len: usize,
    ) -> Result<u64, StorageError> {
        if declared != size {
            return Err(StorageError::Conflict(format!(
                "附件大小不符（本设备先前声明 {declared}，本次 {size}）/ size {size} differs from the {declared} bytes this device declared first"
            )));
        }
        if offset != received {
            return Err(StorageError::Resume(received));
        }
        let after = received + len as u64;
        if after > size {
            return Err(StorageError::Conflict(format!(
                "超出声明的 {size} 字节 / more than the {size} bytes declared"
            )));
        }
        Ok(after)
    }

    /// A peer's wanted documents as stored (empty: none).
    pub(crate) fn encode_wants(wants: &[DocKey]) -> Result<Vec<u8>, StorageError> {
        if wants.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::to_vec(wants).map_err(|e| StorageError::Backend(e.to_string()))
    }

    pub(crate) fn decode_wants(stored: &[u8]) -> Result<Vec<DocKey>, StorageError> {
        if stored.is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_slice(stored).map_err(|e| StorageError::Backend(e.to_string()))
    }

    /// The attachment store that holds attachment `sha256`'s object: refused when the
    /// server was started without one.
    pub(crate) fn blobs_for<'b>(
        blobs: Option<&'b crate::blobs::Blobs>,
        sha256: &str,
    ) -> Result<&'b crate::blobs::Blobs, StorageError> {
        blobs.ok_or_else(|| {
            StorageError::Backend(format!(
                "附件 {sha256} 存放在附件存储中，但服务器启动时未指定 --attachments / attachment {sha256} is stored in an attachment store, but the server was started without --attachments (or XUNCHA_ATTACHMENTS): start it with the store it was given before"
            ))
        })
    }

    /// The bytes of an attachment from `offset`, from its pieces in order (where each
    /// starts, as stored), opened by `open`; `overhead` is what storing adds to a piece.
    pub(crate) fn assemble(
        sha256: &str,
        offset: u64,
        overhead: usize,
        pieces: impl IntoIterator<Item = Result<(u64, Vec<u8>), StorageError>>,
        mut open: impl FnMut(u64, Vec<u8>) -> Result<Vec<u8>, StorageError>,
    ) -> Result<Vec<u8>, StorageError> {
        let mut out = Vec::new();
        let mut next = 0u64;
        for piece in pieces {
            let (start, stored) = piece?;
            if start != next {
                return Err(StorageError::Backend(format!(
                    "attachment {sha256} lacks bytes {next} to {start}; the data directory is damaged"
                )));
            }
            next = start + stored.len().saturating_sub(overhead) as u64;
            if next <= offset {
                continue;
            }
            let data = open(start, stored)?;
            let skip = usize::try_from(offset.saturating_sub(start)).unwrap_or(0);
            out.extend_from_slice(&data[skip..]);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::shared::{district_of, districts_of};

    #[test]
    fn reads_lead_by_district_only_when_every_place_lies_in_one() {
        assert_eq!(district_of("330102001001"), "330102");
        assert_eq!(district_of(""), "");
        let places = |p: &[&str]| p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            districts_of(&places(&["330102001", "330102", "330199101001"])),
            Some(vec!["330102".to_owned(), "330199".to_owned()])
        );
        assert_eq!(districts_of(&[]), Some(Vec::new()), "a scope that reads nothing");
        assert_eq!(districts_of(&places(&["330102", "3301"])), None, "a city's role reads every district");
        assert_eq!(districts_of(&places(&[""])), None, "the whole server");
    }
}
