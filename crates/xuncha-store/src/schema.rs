//! The database schema as append-only migrations. `PRAGMA user_version` counts the
//! migrations applied; a database from a newer version is refused, never "repaired".

use rusqlite::Connection;

use crate::error::{Result, StoreError};

/// Each entry is one migration, applied once, in order, in one transaction. Never edit or
/// reorder an entry that has shipped: add a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the first layout.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;

    -- Every Automerge document on the device: a snapshot plus incremental chunks.
    CREATE TABLE documents (
        doc_id         TEXT PRIMARY KEY,
        record_id      TEXT NOT NULL,
        part           TEXT NOT NULL CHECK (part IN ('record', 'protected')),
        snapshot       BLOB NOT NULL,
        snapshot_bytes INTEGER NOT NULL,
        chunk_count    INTEGER NOT NULL DEFAULT 0,
        chunk_bytes    INTEGER NOT NULL DEFAULT 0,
        next_chunk     INTEGER NOT NULL DEFAULT 0,
        heads          TEXT NOT NULL,
        synced_heads   TEXT NOT NULL DEFAULT ''
    ) WITHOUT ROWID;
    CREATE INDEX documents_record ON documents (record_id);

    CREATE TABLE chunks (
        doc_id TEXT NOT NULL REFERENCES documents (doc_id) ON DELETE CASCADE,
        seq    INTEGER NOT NULL,
        data   BLOB NOT NULL,
        PRIMARY KEY (doc_id, seq)
    ) WITHOUT ROWID;

    -- The projection index: one flat row per record.
    CREATE TABLE records (
        rid                    INTEGER PRIMARY KEY,
        record_id              TEXT NOT NULL UNIQUE,
        kind                   TEXT NOT NULL,
        title                  TEXT NOT NULL,
        round                  TEXT NOT NULL,
        township_code          TEXT NOT NULL,
        township_name          TEXT NOT NULL,
        village_code           TEXT NOT NULL,
        village_name           TEXT NOT NULL,
        team                   TEXT NOT NULL,
        creator                TEXT NOT NULL,
        status                 TEXT NOT NULL,
        created_at             INTEGER NOT NULL,
        updated_at             INTEGER NOT NULL,
        allocated_fen          INTEGER,
        disbursed_fen          INTEGER,
        item_count             INTEGER NOT NULL,
        households             INTEGER NOT NULL,
        households_verified    INTEGER NOT NULL,
        party_members          INTEGER NOT NULL,
        party_members_expelled INTEGER NOT NULL,
        public_officials       INTEGER NOT NULL,
        contracts              INTEGER NOT NULL,
        contracts_rectified    INTEGER NOT NULL,
        land_recovered_centimu INTEGER NOT NULL,
        income_recovered_fen   INTEGER NOT NULL,
        attachment_count       INTEGER NOT NULL,
        has_conflicts          INTEGER NOT NULL,
        problem_count          INTEGER NOT NULL
    );
    CREATE INDEX records_updated ON records (updated_at DESC, record_id);
    CREATE INDEX records_village ON records (village_code, updated_at DESC);
    CREATE INDEX records_township ON records (township_code, updated_at DESC);
    CREATE INDEX records_kind ON records (kind, updated_at DESC);
    CREATE INDEX records_status ON records (status, updated_at DESC);

    -- Full-text search, rowid = records.rid. Chinese is indexed as overlapping bigrams
    -- (see text.rs). The text lives only here, keeping `records` narrow for scans.
    CREATE VIRTUAL TABLE records_fts USING fts5 (search_text, tokenize = 'unicode61 remove_diacritics 0');

    -- Attachments, content addressed, in chunks so large photos stream.
    CREATE TABLE attachments (
        sha256   TEXT PRIMARY KEY,
        mime     TEXT NOT NULL,
        size     INTEGER NOT NULL,
        added_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE attachment_chunks (
        sha256 TEXT NOT NULL REFERENCES attachments (sha256) ON DELETE CASCADE,
        idx    INTEGER NOT NULL,
        data   BLOB NOT NULL,
        PRIMARY KEY (sha256, idx)
    ) WITHOUT ROWID;

    -- Documents changed on this device since they were last sent.
    CREATE TABLE outbox (
        doc_id           TEXT PRIMARY KEY,
        first_changed_at INTEGER NOT NULL,
        last_changed_at  INTEGER NOT NULL,
        changes          INTEGER NOT NULL
    ) WITHOUT ROWID;

    -- Sync cursors and other small sync state.
    CREATE TABLE sync_state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 2: sync bookkeeping: uploads the server refused or wants whole, documents this
    // device must fetch whole.
    r#"
    ALTER TABLE outbox ADD COLUMN need_full INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE outbox ADD COLUMN refused_code TEXT;
    ALTER TABLE outbox ADD COLUMN refused_message TEXT;
    CREATE TABLE sync_wants (
        doc_id TEXT PRIMARY KEY
    ) WITHOUT ROWID;
    "#,
    // 3: which attachments the server holds whole.
    r#"
    ALTER TABLE attachments ADD COLUMN uploaded INTEGER NOT NULL DEFAULT 0;
    "#,
    // 4: a fund check's shortfall (entitled minus received, summed over its households)
    // for lists and totals. Rows written before it are rebuilt from their documents.
    r#"
    ALTER TABLE records ADD COLUMN shortfall_fen INTEGER NOT NULL DEFAULT 0;
    "#,
    // 5: reference data from the server, replaced whole whenever the server's differs:
    // divisions, rounds, teams, and household rosters (ID and account numbers masked).
    r#"
    CREATE TABLE ref_divisions (
        code   TEXT PRIMARY KEY,
        name   TEXT NOT NULL,
        parent TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX ref_divisions_parent ON ref_divisions (parent, name);
    CREATE INDEX ref_divisions_name ON ref_divisions (name);
    CREATE TABLE ref_rounds (
        id    TEXT PRIMARY KEY,
        name  TEXT NOT NULL,
        start TEXT NOT NULL,
        end   TEXT NOT NULL,
        units TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE ref_teams (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL,
        round_id TEXT NOT NULL,
        lead     TEXT NOT NULL,
        deputies TEXT NOT NULL,
        members  TEXT NOT NULL,
        places   TEXT NOT NULL,
        units    TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE ref_rosters (
        id          TEXT PRIMARY KEY,
        village     TEXT NOT NULL,
        fund        TEXT NOT NULL,
        imported_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX ref_rosters_village ON ref_rosters (village, fund);
    CREATE TABLE ref_households (
        roster_id    TEXT NOT NULL REFERENCES ref_rosters (id) ON DELETE CASCADE,
        seq          INTEGER NOT NULL,
        head         TEXT NOT NULL,
        id_number    TEXT NOT NULL,
        account      TEXT NOT NULL,
        entitled_fen INTEGER NOT NULL,
        paid_on      TEXT NOT NULL,
        group_name   TEXT NOT NULL,
        phone        TEXT NOT NULL,
        PRIMARY KEY (roster_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX ref_households_head ON ref_households (head);
    "#,
    // 6: the user directory of the reference data (who an author id is).
    r#"
    CREATE TABLE ref_people (
        id   TEXT PRIMARY KEY,
        name TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 7: the 巡察 workflow: which record cites which source (a 谈话记录 or 信访件 shows the
    // records it led to), and each row's conclusion, hand-over, ledger and clue source for
    // the figures upward. Index rows are rebuilt with the workflow's statuses.
    r#"
    CREATE TABLE citations (
        record_id TEXT NOT NULL,
        source_id TEXT NOT NULL,
        PRIMARY KEY (record_id, source_id)
    ) WITHOUT ROWID;
    CREATE INDEX citations_source ON citations (source_id);
    ALTER TABLE records ADD COLUMN conclusion TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN handover_to TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN rect_unit TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN rect_deadline TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN rectified_at INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE records ADD COLUMN clue_source TEXT NOT NULL DEFAULT '';
    "#,
    // 8: record numbers (编号) as the server gave them (`numbers.rs`).
    r#"
    CREATE TABLE record_numbers (
        record_id TEXT PRIMARY KEY,
        number    TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 9: what is new to the user. Each row keeps its latest workflow step and its last
    // submission (the review queue shows and sorts by who submitted, when); `record_seen`
    // holds the step the user last saw on each record (`seen.rs`). Index rows are rebuilt.
    r#"
    ALTER TABLE records ADD COLUMN last_step TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN last_step_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN last_step_to TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN submitted_by TEXT NOT NULL DEFAULT '';
    ALTER TABLE records ADD COLUMN submitted_at INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX records_creator ON records (creator);
    CREATE TABLE record_seen (
        record_id TEXT PRIMARY KEY,
        step      TEXT NOT NULL
    ) WITHOUT ROWID;
    "#,
    // 10: the device directory of the reference data (who wrote from which tablet, by
    // name). Filled by the next reference download: the tag is cleared so it comes whole.
    r#"
    CREATE TABLE ref_devices (
        id      TEXT PRIMARY KEY,
        name    TEXT NOT NULL,
        user_id TEXT NOT NULL
    ) WITHOUT ROWID;
    DELETE FROM sync_state WHERE key = 'reference_tag';
    "#,
    // 11: thumbnails the app made of its photos, kept so a record with photos opens without
    // decoding each one again; they go with their attachment. Who took a workflow step on
    // each record (`seen.rs` tells them of later steps too); index rows are rebuilt.
    r#"
    CREATE TABLE record_actors (
        record_id TEXT NOT NULL,
        user_id   TEXT NOT NULL,
        PRIMARY KEY (record_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX record_actors_user ON record_actors (user_id);
    CREATE TABLE attachment_thumbs (
        sha256 TEXT NOT NULL REFERENCES attachments (sha256) ON DELETE CASCADE,
        side   INTEGER NOT NULL,
        jpeg   BLOB NOT NULL,
        PRIMARY KEY (sha256, side)
    ) WITHOUT ROWID;
    "#,
    // 12: sync bundles (`bundles.rs`): the signatures of other devices' changes that came in
    // a bundle (passed on with them, so their author stays provable), and the heads of each
    // document each bundle peer has acknowledged by a receipt.
    r#"
    CREATE TABLE change_signatures (
        hash      TEXT PRIMARY KEY,
        signature BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE bundle_peers (
        peer   TEXT NOT NULL,
        doc_id TEXT NOT NULL,
        heads  TEXT NOT NULL,
        PRIMARY KEY (peer, doc_id)
    ) WITHOUT ROWID;
    "#,
    // 13: which attachments each peer of its own route (a team relay) holds: photos travel
    // through the relay once, and those that came from it do not go back.
    r#"
    CREATE TABLE peer_attachments (
        peer   TEXT NOT NULL,
        sha256 TEXT NOT NULL REFERENCES attachments (sha256) ON DELETE CASCADE,
        PRIMARY KEY (peer, sha256)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this code writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The schema version of an open database.
pub(crate) fn version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |row| row.get(0))?)
}

/// Refuses a database from a newer version.
pub(crate) fn check_not_newer(conn: &Connection) -> Result<i64> {
    let found = version(conn)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { found, supported: SCHEMA_VERSION });
    }
    Ok(found)
}

/// Applies every migration not yet applied, each in its own write transaction that
/// re-reads the version, so two processes opening an old database never both migrate it.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    check_not_newer(conn)?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = i64::try_from(index + 1).unwrap_or(i64::MAX);
        if version(conn)? >= target {
            continue;
        }
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if version(&tx)? >= target {
            continue;
        }
        tx.execute_batch(sql)?;
        if target == SCHEMA_VERSION {
            // Index rows are computed by code: an upgraded database gets them afresh (4 added
            // the shortfall), in the transaction that completes the upgrade.
            crate::index::rebuild(&tx)?;
        }
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
    }
    Ok(())
}
