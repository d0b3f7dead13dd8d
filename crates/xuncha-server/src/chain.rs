//! The change log as a hash chain: every entry commits to everything about it (position,
//! document, change hash, uploading device, time, bytes) and to the entry before it, so an
//! altered, removed or reordered entry breaks every link after it. Checkpoints sign a
//! position of the chain with the server's Ed25519 key, kept in a file beside the database:
//! someone who can rewrite the database but not read that file cannot hide a change made
//! before a checkpoint.

use std::path::Path;

use ed25519_dalek::{Signer, Verifier as _};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::storage::{Result, StorageError};

/// The link before the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// One entry of the log, everything the chain covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRow {
    pub seq: u64,
    #[serde(with = "serde_bytes")]
    pub record: Vec<u8>,
    pub part: String,
    pub hash: String,
    pub device_id: String,
    pub received_at_ms: i64,
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl LogRow {
    /// The digest of the entry.
    pub fn digest(&self) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"xuncha-log-entry-v1");
        hasher.update(self.seq.to_be_bytes());
        for field in [self.record.as_slice(), self.part.as_bytes(), self.hash.as_bytes(), self.device_id.as_bytes()] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field);
        }
        hasher.update(self.received_at_ms.to_be_bytes());
        hasher.update(Sha256::digest(&self.bytes));
        hasher.finalize().into()
    }
}

/// The link after `previous`, for an entry whose digest is `digest`.
pub fn link(previous: &[u8; 32], digest: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(digest);
    hasher.finalize().into()
}

/// A signed position of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last entry covered (0: the empty log).
    pub seq: u64,
    /// The chain's link at that entry.
    #[serde(with = "serde_bytes")]
    pub link: Vec<u8>,
    pub at_ms: i64,
    pub server_id: String,
    /// The server's public key (32 bytes) and its signature (64 bytes) over [`Checkpoint::message`].
    #[serde(with = "serde_bytes")]
    pub public_key: Vec<u8>,
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

impl Checkpoint {
    /// What is signed.
    pub fn message(&self) -> Vec<u8> {
        let mut out = b"xuncha-checkpoint-v1".to_vec();
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.link);
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        out.extend_from_slice(self.server_id.as_bytes());
        out
    }

    /// Whether the signature is the public key's over this checkpoint.
    pub fn verify(&self) -> bool {
        let Ok(key) = <[u8; 32]>::try_from(self.public_key.as_slice()) else { return false };
        let Ok(signature) = <[u8; 64]>::try_from(self.signature.as_slice()) else { return false };
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&key) else { return false };
        key.verify(&self.message(), &ed25519_dalek::Signature::from_bytes(&signature)).is_ok()
    }
}

/// The server's signing key: 32 secret bytes, hex, in `checkpoint.key` in the data directory
/// (made on first use, readable only by its owner). Back it up apart from the database.
#[derive(Debug)]
pub struct ServerKey {
    key: ed25519_dalek::SigningKey,
}

impl ServerKey {
    /// The file's name in the data directory.
    pub const FILE: &'static str = "checkpoint.key";

    /// Loads the key of the data directory `dir`, making it if there is none.
    pub fn open(dir: &Path) -> Result<ServerKey> {
        let path = dir.join(ServerKey::FILE);
        let fail =
            |what: &str, e: &dyn std::fmt::Display| StorageError::Backend(format!("{what} {}: {e}", path.display()));
        if !path.exists() {
            let mut secret = [0u8; 32];
            getrandom::fill(&mut secret).map_err(|e| fail("no randomness for", &e))?;
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(|e| fail("cannot create", &e))?;
            std::io::Write::write_all(&mut file, hex::encode(secret).as_bytes())
                .map_err(|e| fail("cannot write", &e))?;
            file.sync_all().map_err(|e| fail("cannot write", &e))?;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| fail("cannot read", &e))?;
        let secret: [u8; 32] = hex::decode(text.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| fail("damaged key file", &"not 32 bytes of hex"))?;
        Ok(ServerKey { key: ed25519_dalek::SigningKey::from_bytes(&secret) })
    }

    /// The key itself, for signing what the server sends (sync bundles).
    pub fn signing_key(&self) -> &ed25519_dalek::SigningKey {
        &self.key
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// A checkpoint of the chain at `seq`, `link`.
    pub fn checkpoint(&self, seq: u64, link: [u8; 32], at_ms: i64, server_id: &str) -> Checkpoint {
        let mut checkpoint = Checkpoint {
            seq,
            link: link.to_vec(),
            at_ms,
            server_id: server_id.to_owned(),
            public_key: self.public_key().to_vec(),
            signature: Vec::new(),
        };
        checkpoint.signature = self.key.sign(&checkpoint.message()).to_bytes().to_vec();
        checkpoint
    }
}

/// Something wrong in the log, found by [`verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The entry where the chain stops holding.
    pub seq: u64,
    pub zh: String,
    pub en: String,
}

/// Walks the log in order (entry by entry, so a large log needs little memory) and reports
/// every place the chain does not hold: an entry whose stored link differs from the
/// recomputed one (altered, or something before it removed or reordered), a gap in the
/// positions, and a checkpoint the chain does not reach or whose signature fails.
#[derive(Debug)]
pub struct Verifier {
    previous: [u8; 32],
    expected_seq: u64,
    /// The recomputed link at every checkpointed position.
    wanted: std::collections::BTreeMap<u64, Option<[u8; 32]>>,
    pub entries: u64,
    pub breaks: Vec<Break>,
}

impl Verifier {
    /// A walk that will check `checkpoints` as it passes them.
    pub fn new(checkpoints: &[Checkpoint]) -> Verifier {
        Verifier {
            previous: GENESIS,
            expected_seq: 1,
            wanted: checkpoints.iter().map(|c| (c.seq, (c.seq == 0).then_some(GENESIS))).collect(),
            entries: 0,
            breaks: Vec::new(),
        }
    }

    /// The next entry of the log and the link stored with it.
    pub fn feed(&mut self, row: &LogRow, stored: &[u8]) {
        self.entries += 1;
        if row.seq != self.expected_seq {
            self.breaks.push(Break {
                seq: row.seq,
                zh: format!("第 {} 至 {} 条日志缺失", self.expected_seq, row.seq.saturating_sub(1)),
                en: format!("log entries {} to {} are missing", self.expected_seq, row.seq.saturating_sub(1)),
            });
        }
        let computed = link(&self.previous, &row.digest());
        if stored != computed {
            self.breaks.push(Break {
                seq: row.seq,
                zh: format!("第 {} 条日志被改动，或其前的日志被删除或调换", row.seq),
                en: format!("log entry {} was altered, or an entry before it removed or reordered", row.seq),
            });
        }
        if let Some(wanted) = self.wanted.get_mut(&row.seq) {
            *wanted = Some(computed);
        }
        // Go on from what is stored, so that one altered entry is reported once.
        self.previous = stored.try_into().unwrap_or(computed);
        self.expected_seq = row.seq + 1;
    }

    /// The report: checkpoints checked against the walk and `public_key`.
    pub fn finish(mut self, checkpoints: &[Checkpoint], public_key: &[u8; 32]) -> (u64, Vec<Break>) {
        for checkpoint in checkpoints {
            if checkpoint.public_key != public_key || !checkpoint.verify() {
                self.breaks.push(Break {
                    seq: checkpoint.seq,
                    zh: format!("第 {} 条处的检查点签名无效", checkpoint.seq),
                    en: format!("the checkpoint at entry {} has a bad signature", checkpoint.seq),
                });
                continue;
            }
            let reached = self.wanted.get(&checkpoint.seq).copied().flatten();
            if reached.map(|l| l.to_vec()) != Some(checkpoint.link.clone()) {
                self.breaks.push(Break {
                    seq: checkpoint.seq,
                    zh: format!("日志与第 {} 条处签名的检查点不符：签名后有日志被改动", checkpoint.seq),
                    en: format!(
                        "the log does not match the checkpoint signed at entry {}: entries were changed after it was signed",
                        checkpoint.seq
                    ),
                });
            }
        }
        self.breaks.sort_by_key(|b| b.seq);
        (self.entries, self.breaks)
    }
}

/// [`Verifier`] over a whole log in memory.
pub fn verify(
    rows: impl IntoIterator<Item = (LogRow, Vec<u8>)>,
    checkpoints: &[Checkpoint],
    public_key: &[u8; 32],
) -> (u64, Vec<Break>) {
    let mut verifier = Verifier::new(checkpoints);
    for (row, stored) in rows {
        verifier.feed(&row, &stored);
    }
    verifier.finish(checkpoints, public_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: u64, byte: u8) -> LogRow {
        LogRow {
            seq,
            record: vec![byte; 16],
            part: "record".into(),
            hash: format!("{byte:064x}"),
            device_id: "dev-1".into(),
            received_at_ms: 1_700_000_000_000 + seq as i64,
            bytes: vec![byte; 40],
        }
    }

    fn chained(rows: &[LogRow]) -> Vec<(LogRow, Vec<u8>)> {
        let mut previous = GENESIS;
        rows.iter()
            .map(|r| {
                previous = link(&previous, &r.digest());
                (r.clone(), previous.to_vec())
            })
            .collect()
    }

    #[test]
    fn altered_removed_and_reordered_entries_are_found_where_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let key = ServerKey::open(dir.path()).unwrap();
        assert_eq!(ServerKey::open(dir.path()).unwrap().public_key(), key.public_key());
        let rows: Vec<LogRow> = (1..=6).map(|n| row(n, n as u8)).collect();
        let good = chained(&rows);
        let checkpoint = key.checkpoint(4, good[3].1.clone().try_into().unwrap(), 0, "srv");
        let (count, breaks) = verify(good.clone(), std::slice::from_ref(&checkpoint), &key.public_key());
        assert_eq!((count, breaks), (6, vec![]));

        let mut altered = good.clone();
        altered[2].0.bytes[0] ^= 1;
        let (_, breaks) = verify(altered, std::slice::from_ref(&checkpoint), &key.public_key());
        assert_eq!(breaks.iter().map(|b| b.seq).collect::<Vec<_>>(), [3]);

        let mut removed = good.clone();
        removed.remove(1);
        let (_, breaks) = verify(removed, &[], &key.public_key());
        assert_eq!(breaks.iter().map(|b| b.seq).collect::<Vec<_>>(), [3, 3]);

        // Someone rewrites the whole chain after an alteration: the checkpoint catches it.
        let mut forged_rows = rows.clone();
        forged_rows[1].bytes[0] ^= 1;
        let forged = chained(&forged_rows);
        let (_, breaks) = verify(forged, std::slice::from_ref(&checkpoint), &key.public_key());
        assert_eq!(breaks.iter().map(|b| b.seq).collect::<Vec<_>>(), [4]);

        let mut swapped = good;
        let (a, b) = (swapped[3].0.clone(), swapped[4].0.clone());
        swapped[3].0 = LogRow { seq: 4, ..b };
        swapped[4].0 = LogRow { seq: 5, ..a };
        let (_, breaks) = verify(swapped, &[], &key.public_key());
        assert_eq!(breaks.iter().map(|b| b.seq).collect::<Vec<_>>(), [4, 5]);

        let mut bad = checkpoint;
        bad.signature[0] ^= 1;
        assert!(!bad.verify());
    }
}
