//! Individual changes of a document, for sync: which changes are new since some heads,
//! who (which actor) made each, and which dependencies a replica is missing.

use automerge::{ActorId, AutoCommit, ChangeHash};

use crate::doc::{ChangeAuthor, RecordDoc};
use crate::protected::ProtectedDoc;

/// One Automerge change as raw bytes, with its hash, actor and the author its commit
/// message names (`None` for a change not written by Xuncha).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawChange {
    pub hash: ChangeHash,
    pub actor: ActorId,
    pub author: Option<ChangeAuthor>,
    pub bytes: Vec<u8>,
}

fn changes_since(doc: &mut AutoCommit, heads: &[ChangeHash]) -> Vec<RawChange> {
    doc.get_changes(heads)
        .into_iter()
        .map(|mut change| RawChange {
            hash: change.hash(),
            actor: change.actor_id().clone(),
            author: ChangeAuthor::from_message(change.message()),
            bytes: change.bytes().into_owned(),
        })
        .collect()
}

/// Sync access shared by record documents and protected companions.
pub trait SyncDoc {
    /// The changes not reachable from `heads` (every change for no heads).
    fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<RawChange>;
    /// Changes this replica holds back because their dependencies are missing.
    fn missing_deps(&mut self) -> Vec<ChangeHash>;
    /// Whether the replica holds the change.
    fn has_change(&mut self, hash: &ChangeHash) -> bool;
}

impl SyncDoc for RecordDoc {
    fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<RawChange> {
        changes_since(self.automerge(), heads)
    }

    fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.automerge().get_missing_deps(&[])
    }

    fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.automerge().get_change_by_hash(hash).is_some()
    }
}

impl SyncDoc for ProtectedDoc {
    fn changes_since(&mut self, heads: &[ChangeHash]) -> Vec<RawChange> {
        changes_since(self.automerge(), heads)
    }

    fn missing_deps(&mut self) -> Vec<ChangeHash> {
        self.automerge().get_missing_deps(&[])
    }

    fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.automerge().get_change_by_hash(hash).is_some()
    }
}
