//! The device side of sync bundles, as storage: which changes a bundle peer lacks (by the
//! heads its receipts acknowledged), merging the documents of a bundle in one transaction,
//! keeping the signatures of other devices' changes that came with them (passed on, so
//! their author stays provable wherever they go next), and marking what a receipt says.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use xuncha_domain::{ChangeHash, RawChange, RecordId, signing};

use crate::Store;
use crate::docs::{Part, heads_text, mark_outbox};
use crate::error::Result;
use crate::keys::DeviceSecrets;
use crate::sync::{Incoming, Outgoing, merge};

/// The signatures of `changes`: this device's own, made now; another device's, as kept
/// when it arrived (a change with none is sent without: the receiver refuses it unless it
/// has it already).
pub(crate) fn signatures(
    conn: &Connection,
    secrets: &DeviceSecrets,
    actor: &xuncha_domain::ActorId,
    changes: &[RawChange],
) -> Result<Vec<(ChangeHash, Vec<u8>)>> {
    let mut kept = conn.prepare_cached("SELECT signature FROM change_signatures WHERE hash = ?1")?;
    let mut out = Vec::with_capacity(changes.len());
    for change in changes {
        if &change.actor == actor {
            out.push((change.hash, signing::sign(&secrets.signing, &change.hash.0)));
        } else if let Some(signature) =
            kept.query_row([change.hash.to_string()], |row| row.get::<_, Vec<u8>>(0)).optional()?
        {
            out.push((change.hash, signature));
        }
    }
    Ok(out)
}

/// One document of a bundle: its changes and the signatures that came with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub incoming: Incoming,
    pub signatures: Vec<(ChangeHash, Vec<u8>)>,
}

/// What became of one document of a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarriedOutcome {
    /// Merged; whether anything was new, and the document's heads afterwards.
    Merged { changed: bool, heads: Vec<ChangeHash> },
    /// The device lacks history the changes build on: the sender sends the document whole.
    NeedFull,
}

impl Store {
    /// Every document whose changes `peer` (a bundle peer's key) has not acknowledged: the
    /// changes since the heads it acknowledged, or the whole document. Records come before
    /// their protected companions.
    pub fn bundle_outgoing(&self, peer: &str) -> Result<Vec<Outgoing>> {
        let mut stmt = self.conn.prepare(
            "SELECT d.doc_id, p.heads FROM documents d
             LEFT JOIN bundle_peers p ON p.peer = ?1 AND p.doc_id = d.doc_id
             WHERE p.heads IS NULL OR p.heads <> d.heads
             ORDER BY d.doc_id LIKE '%:protected', d.doc_id",
        )?;
        let rows = stmt
            .query_map([peer], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for (doc_id, heads) in rows {
            let since: Vec<ChangeHash> =
                heads.unwrap_or_default().split(',').filter(|h| !h.is_empty()).filter_map(|h| h.parse().ok()).collect();
            if let Some(upload) = self.outgoing_doc(&doc_id, &since)? {
                out.push(upload);
            }
        }
        Ok(out)
    }

    /// Merges the documents of a bundle in one transaction, keeping the signatures that came
    /// with their changes. With `forward` (the bundle came from another device, not from a
    /// server) a document that received changes waits in the outbox, so that the next sync
    /// takes them to the server, as a relay would.
    pub fn apply_bundle(&mut self, docs: &[Carried], forward: bool, now_ms: i64) -> Result<Vec<CarriedOutcome>> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let outcomes = merge_carried(&tx, docs, forward, now_ms)?;
        tx.commit()?;
        self.cache = crate::docs::DocCache::default();
        Ok(outcomes)
    }

    /// Merges what a peer that tracks its own copy (a team relay, or the relay's storage
    /// on the lead's device) sent, in one transaction with what it settles: the documents,
    /// their signatures, the heads the peer now holds (those it held all of before hold all
    /// of the merge), the documents to ask it for whole next time (under `wants_key`), and
    /// the caller's sync-state `values` (the cursor it reached). A crash leaves either all
    /// of it or none.
    pub fn merge_from_peer(
        &mut self,
        peer: &str,
        docs: &[Carried],
        forward: bool,
        now_ms: i64,
        wants_key: Option<&str>,
        values: &[(&str, &str)],
    ) -> Result<PeerMerge> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let keys: Vec<(RecordId, Part)> = docs.iter().map(|c| (c.incoming.record, c.incoming.part)).collect();
        let held = held_by(&tx, peer, &keys)?;
        let outcomes = merge_carried(&tx, docs, forward, now_ms)?;
        let mut merged = PeerMerge::default();
        let mut now_held = Vec::new();
        for ((outcome, (record, part)), was_held) in outcomes.into_iter().zip(keys).zip(held) {
            match outcome {
                CarriedOutcome::Merged { changed, heads } => {
                    merged.changed += usize::from(changed);
                    if was_held {
                        now_held.push((record, part, heads));
                    }
                }
                CarriedOutcome::NeedFull => merged.need_full.push((record, part)),
            }
        }
        acknowledge(&tx, peer, &now_held)?;
        if let Some(key) = wants_key {
            crate::set_value(&tx, key, &wants_text(&merged.need_full))?;
        }
        for (key, value) in values {
            crate::set_value(&tx, key, value)?;
        }
        tx.commit()?;
        self.cache = crate::docs::DocCache::default();
        Ok(merged)
    }

    /// The documents kept under `wants_key` by [`Store::merge_from_peer`].
    pub fn peer_wants(&self, wants_key: &str) -> Result<Vec<(RecordId, Part)>> {
        Ok(self
            .sync_value(wants_key)?
            .unwrap_or_default()
            .split(',')
            .filter_map(|w| {
                let (record, part) = w.split_once('/')?;
                let part = match part {
                    "p" => Part::Protected,
                    "r" => Part::Record,
                    _ => return None,
                };
                Some((record.parse().ok()?, part))
            })
            .collect())
    }

    /// Marks the heads `peer` acknowledged in a receipt, document by document: the next
    /// bundle to it carries only what came after. Returns how many documents were marked.
    pub fn acknowledge_bundle(&mut self, peer: &str, acked: &[(RecordId, Part, Vec<ChangeHash>)]) -> Result<usize> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let marked = acknowledge(&tx, peer, acked)?;
        tx.commit()?;
        Ok(marked)
    }

    /// For each document, whether `peer` holds all of it that this device has: it
    /// acknowledged the document's current heads, or this device does not hold it. What a
    /// peer then sends of such a document leaves it holding what this device holds.
    pub fn held_by_peer(&self, peer: &str, docs: &[(RecordId, Part)]) -> Result<Vec<bool>> {
        held_by(&self.conn, peer, docs)
    }

    /// A document whole, with the signatures of its changes, to send a peer that lacked
    /// history it builds on.
    pub fn outgoing_whole(&self, record: RecordId, part: Part) -> Result<Option<Outgoing>> {
        self.outgoing_doc(&part.doc_id(record), &[])
    }

    /// Forgets what `peer` acknowledged of these documents: the next exchange with it sends
    /// them whole (it lacked history they build on).
    pub fn forget_for_peer(&mut self, peer: &str, docs: &[(RecordId, Part)]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (record, part) in docs {
            tx.execute(
                "DELETE FROM bundle_peers WHERE peer = ?1 AND doc_id = ?2",
                params![peer, part.doc_id(*record)],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// What [`Store::merge_from_peer`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerMerge {
    /// Documents that received changes.
    pub changed: usize,
    /// Documents whose history this device lacks: to ask the peer for whole.
    pub need_full: Vec<(RecordId, Part)>,
}

fn wants_text(docs: &[(RecordId, Part)]) -> String {
    docs.iter()
        .map(|(record, part)| format!("{record}/{}", if *part == Part::Protected { "p" } else { "r" }))
        .collect::<Vec<_>>()
        .join(",")
}

/// Merges each carried document inside `tx` (see [`Store::apply_bundle`]).
fn merge_carried(
    tx: &rusqlite::Transaction<'_>,
    docs: &[Carried],
    forward: bool,
    now_ms: i64,
) -> Result<Vec<CarriedOutcome>> {
    let mut outcomes = Vec::with_capacity(docs.len());
    let mut keep = tx.prepare_cached(
        "INSERT INTO change_signatures (hash, signature) VALUES (?1, ?2) ON CONFLICT (hash) DO NOTHING",
    )?;
    for carried in docs {
        let entry = &carried.incoming;
        let Some(merged) = merge(tx, entry)? else {
            outcomes.push(CarriedOutcome::NeedFull);
            continue;
        };
        if !merged.complete {
            // Changes held back for their missing history are not part of the document
            // yet: ask for it whole.
            outcomes.push(CarriedOutcome::NeedFull);
            continue;
        }
        for (hash, signature) in &carried.signatures {
            keep.execute(params![hash.to_string(), signature])?;
        }
        let doc_id = entry.part.doc_id(entry.record);
        if merged.changed && forward {
            mark_outbox(tx, &doc_id, now_ms)?;
        }
        outcomes.push(CarriedOutcome::Merged { changed: merged.changed, heads: merged.heads });
    }
    Ok(outcomes)
}

/// Marks the heads `peer` acknowledged, inside the caller's transaction.
fn acknowledge(conn: &Connection, peer: &str, acked: &[(RecordId, Part, Vec<ChangeHash>)]) -> Result<usize> {
    let mut upsert = conn.prepare_cached(
        "INSERT INTO bundle_peers (peer, doc_id, heads) VALUES (?1, ?2, ?3)
         ON CONFLICT (peer, doc_id) DO UPDATE SET heads = excluded.heads",
    )?;
    let mut marked = 0;
    for (record, part, heads) in acked {
        if heads.is_empty() {
            continue;
        }
        marked += upsert.execute(params![peer, part.doc_id(*record), heads_text(heads)])?;
    }
    Ok(marked)
}

/// See [`Store::held_by_peer`].
fn held_by(conn: &Connection, peer: &str, docs: &[(RecordId, Part)]) -> Result<Vec<bool>> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.heads = p.heads FROM documents d
         LEFT JOIN bundle_peers p ON p.peer = ?1 AND p.doc_id = d.doc_id WHERE d.doc_id = ?2",
    )?;
    docs.iter()
        .map(|(record, part)| {
            let same: Option<Option<bool>> =
                stmt.query_row(params![peer, part.doc_id(*record)], |row| row.get(0)).optional()?;
            Ok(same.is_none_or(|s| s.unwrap_or(false)))
        })
        .collect()
}
