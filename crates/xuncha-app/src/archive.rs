//! Archives of records for keeping: the media archive (a zip of every attachment, named by
//! record number and caption, with a manifest of SHA-256) and the Automerge archive (each
//! record as a standard Automerge document file any Automerge implementation opens, its
//! protected companion beside it when the device holds one, and a manifest of heads).

use std::collections::BTreeSet;
use std::io::{Seek, Write};
use std::path::Path;

use serde::Serialize;
use xuncha_domain::{AttachmentRef, Field, FieldType, ItemList, Kinds, Projection, Record, RecordId, RecordKind};
use xuncha_store::Store;
use xuncha_store::attachments::sha256_hex;
use zip::write::SimpleFileOptions;

use crate::export::ExportError;
use crate::workbook::{Cell, Table, UNNUMBERED};

/// The manifest of the media archive.
pub const MEDIA_MANIFEST: &str = "manifest.csv";
/// The manifest of the Automerge archive.
pub const AUTOMERGE_MANIFEST: &str = "manifest.json";

/// Options for a zip entry dated `now_ms` (China Standard Time, as the office reads it);
/// `compress` is off for photos and PDFs, which deflate does not shrink.
pub fn file_options(now_ms: i64, compress: bool) -> SimpleFileOptions {
    let method = if compress { zip::CompressionMethod::Deflated } else { zip::CompressionMethod::Stored };
    let options = SimpleFileOptions::default().compression_method(method).unix_permissions(0o644);
    match zip_time(now_ms) {
        Some(time) => options.last_modified_time(time),
        None => options,
    }
}

fn zip_time(ms: i64) -> Option<zip::DateTime> {
    let date = xuncha_domain::workflow::date_of_ms(ms);
    let seconds = (ms + 8 * 3_600_000).rem_euclid(86_400_000) / 1000;
    zip::DateTime::from_date_and_time(
        date[0..4].parse().ok()?,
        date[5..7].parse().ok()?,
        date[8..10].parse().ok()?,
        u8::try_from(seconds / 3600).ok()?,
        u8::try_from(seconds % 3600 / 60).ok()?,
        u8::try_from(seconds % 60).ok()?,
    )
    .ok()
}

/// Text as a file name on every system: no path separators, no characters Windows
/// refuses, no control characters, no leading or trailing dots and spaces, and not longer
/// than `max` characters. Empty text stays empty.
pub fn file_name(text: &str, max: usize) -> String {
    let cleaned: String =
        text.chars()
            .map(|c| {
                if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                    '_'
                } else {
                    c
                }
            })
            .take(max)
            .collect();
    cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace()).to_owned()
}

/// The file extension of a MIME type.
pub fn extension(mime: &str) -> &'static str {
    match mime.trim().to_ascii_lowercase().as_str() {
        "image/jpeg" | "image/jpg" => "jpg",
        "image/png" => "png",
        "image/heic" => "heic",
        "image/heif" => "heif",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "image/tiff" => "tif",
        "application/pdf" => "pdf",
        "text/plain" => "txt",
        "audio/mpeg" => "mp3",
        "audio/mp4" => "m4a",
        "video/mp4" => "mp4",
        _ => "bin",
    }
}

/// One attachment as the media manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaFile {
    pub number: String,
    pub record: RecordId,
    /// Its path in the archive (empty when it is missing).
    pub file: String,
    pub caption: String,
    pub mime: String,
    pub size: u64,
    /// SHA-256 of the bytes archived (of the reference, when missing).
    pub sha256: String,
    /// Not on this device (not downloaded yet): listed, not archived.
    pub missing: bool,
}

/// The bytes of an attachment, or `None` when the device does not hold it.
pub type Fetch<'a> = dyn FnMut(&AttachmentRef) -> Result<Option<Vec<u8>>, ExportError> + 'a;

/// The attachments `store` holds.
pub fn from_store(store: &Store) -> impl FnMut(&AttachmentRef) -> Result<Option<Vec<u8>>, ExportError> + '_ {
    move |attachment| {
        if store.attachment_info(&attachment.sha256)?.is_none() {
            return Ok(None);
        }
        Ok(Some(store.attachment(&attachment.sha256)?))
    }
}

/// A record's attachments in the order the archive numbers them: its own by when they
/// were taken (then caption and hash), then signature pictures and rectification evidence
/// in the order given.
fn in_archive_order(record: &Record) -> Vec<&AttachmentRef> {
    let mut own: Vec<&AttachmentRef> = record.attachments.iter().collect();
    own.sort_by(|a, b| {
        (a.taken_at_ms.unwrap_or(i64::MAX), &a.caption, &a.sha256).cmp(&(
            b.taken_at_ms.unwrap_or(i64::MAX),
            &b.caption,
            &b.sha256,
        ))
    });
    let own_count = own.len();
    // Then the signatures and the 佐证材料, which `all_attachments` lists after the record's own.
    own.extend(record.all_attachments().enumerate().filter(|(i, _)| *i >= own_count).map(|(_, a)| a));
    own
}

/// Writes the media archive of `records` to `out`: every attachment of each record (its
/// own, signature pictures, rectification evidence; each once) as
/// `{编号}/{NN}-{caption or hash}.{ext}`, and `manifest.csv` (UTF-8 with a BOM) listing
/// each with its SHA-256, those the device does not hold marked missing. Photos are stored
/// as they are; the manifest is deflated. Returns what the manifest lists.
pub fn media_zip<W: Write + Seek>(
    out: W,
    records: &[Record],
    number: &dyn Fn(RecordId) -> Option<String>,
    fetch: &mut Fetch<'_>,
    now_ms: i64,
) -> Result<(W, Vec<MediaFile>), ExportError> {
    let mut zip = zip::ZipWriter::new(out);
    let mut listed = Vec::new();
    for record in records {
        let number = number(record.id).unwrap_or_else(|| UNNUMBERED.to_owned());
        let folder = match file_name(&number, 120) {
            name if name.is_empty() => record.id.to_string(),
            name => name,
        };
        let mut seen = BTreeSet::new();
        let mut ordinal = 0;
        for attachment in in_archive_order(record) {
            if !seen.insert(attachment.sha256.clone()) {
                continue;
            }
            let entry = MediaFile {
                number: number.clone(),
                record: record.id,
                file: String::new(),
                caption: attachment.caption.clone(),
                mime: attachment.mime.clone(),
                size: attachment.size,
                sha256: attachment.sha256.clone(),
                missing: true,
            };
            let Some(bytes) = fetch(attachment)? else {
                listed.push(entry);
                continue;
            };
            ordinal += 1;
            let ext = extension(&attachment.mime);
            let caption = attachment.caption.trim();
            let caption = caption.strip_suffix(&format!(".{ext}")).unwrap_or(caption);
            let name = match file_name(caption, 60) {
                name if name.is_empty() => attachment.sha256.chars().take(16).collect(),
                name => name,
            };
            let path = format!("{folder}/{ordinal:02}-{name}.{ext}");
            let compress = !(attachment.mime.starts_with("image/") || attachment.mime == "application/pdf");
            zip.start_file(path.as_str(), file_options(now_ms, compress))?;
            zip.write_all(&bytes).map_err(|source| ExportError::Io { path: path.clone(), source })?;
            listed.push(MediaFile {
                file: path,
                size: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
                sha256: sha256_hex(&bytes),
                missing: false,
                ..entry
            });
        }
    }
    let manifest = Table {
        name: "manifest",
        headers: ["编号", "记录id", "文件名", "说明", "类型", "大小（字节）", "SHA-256", "状态"]
            .map(str::to_owned)
            .to_vec(),
        rows: listed
            .iter()
            .map(|f| {
                vec![
                    Cell::Text(f.number.clone()),
                    Cell::Text(f.record.to_string()),
                    Cell::Text(f.file.clone()),
                    Cell::Text(f.caption.clone()),
                    Cell::Text(f.mime.clone()),
                    Cell::Count(f.size),
                    Cell::Text(f.sha256.clone()),
                    Cell::Text(if f.missing { "设备上没有，未收入 missing" } else { "已收入" }.to_owned()),
                ]
            })
            .collect(),
    };
    zip.start_file(MEDIA_MANIFEST, file_options(now_ms, true))?;
    zip.write_all(&crate::workbook::csv(&manifest)?)
        .map_err(|source| ExportError::Io { path: MEDIA_MANIFEST.to_owned(), source })?;
    Ok((zip.finish()?, listed))
}

/// One record of the Automerge archive: its document saved whole, and its protected
/// companion's when the device holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedRecord {
    pub id: RecordId,
    pub number: String,
    pub kind: RecordKind,
    pub title: String,
    /// The document's full saved bytes (`AutoCommit::save`).
    pub document: Vec<u8>,
    /// Its heads, hex.
    pub heads: Vec<String>,
    /// The protected companion's saved bytes and heads.
    pub protected: Option<(Vec<u8>, Vec<String>)>,
}

fn hex_heads(heads: &[xuncha_domain::ChangeHash]) -> Vec<String> {
    let mut hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
    hex.sort();
    hex
}

/// The record of `row` as the Automerge archive keeps it.
pub fn archived(store: &Store, row: &Projection, number: String) -> Result<ArchivedRecord, ExportError> {
    let id: RecordId = row.record_id.parse()?;
    let mut doc = store.record(id)?;
    let protected = store.protected_doc(id)?.map(|mut companion| (companion.save(), hex_heads(&companion.heads())));
    Ok(ArchivedRecord {
        id,
        number,
        kind: doc.kind(),
        title: row.title.clone(),
        document: doc.save(),
        heads: hex_heads(&doc.heads()),
        protected,
    })
}

/// One entry of `manifest.json`.
#[derive(Debug, Clone, Serialize)]
struct ManifestEntry {
    record_id: String,
    /// 编号
    number: String,
    kind: &'static str,
    title: String,
    heads: Vec<String>,
    file: String,
    sha256: String,
    protected_file: Option<String>,
    protected_heads: Option<Vec<String>>,
    protected_sha256: Option<String>,
}

/// The name of a field in Xuncha's JSON (`xuncha record show --json`, the JSON export).
fn json_name(field: impl Serialize) -> String {
    serde_json::to_value(field).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// A value type as the layout names it.
fn type_name(ty: FieldType) -> &'static str {
    match ty {
        FieldType::Text => "text",
        FieldType::Money => "money",
        FieldType::Area => "area",
        FieldType::Flag => "flag",
        FieldType::Date => "date",
        FieldType::Choice(_) => "choice",
        FieldType::Division => "division",
        FieldType::Gps => "gps",
    }
}

/// How a record document is laid out, so the archive can be read without Xuncha: each
/// field's document key, its name in Xuncha's JSON, its label and its type, and the units.
fn layout() -> serde_json::Value {
    let fields: Vec<serde_json::Value> = Field::ALL
        .iter()
        .map(|f| {
            serde_json::json!({
                "key": f.key(), "name": json_name(f), "label": f.zh(), "type": type_name(f.ty()),
                "kind": match f.kinds() { Kinds::All => None, Kinds::Only(kind) => Some(kind.code()) },
            })
        })
        .collect();
    let lists: Vec<serde_json::Value> = ItemList::ALL
        .iter()
        .map(|list| {
            let fields: Vec<serde_json::Value> = list
                .fields()
                .map(|f| serde_json::json!({ "key": f.key(), "name": json_name(f), "label": f.zh(), "type": type_name(f.ty()) }))
                .collect();
            serde_json::json!({
                "key": list.key(), "name": json_name(list), "label": list.zh(), "kind": list.kind().code(),
                "items": "a map from item id (32 hex digits) to a map of the fields below",
                "fields": fields,
            })
        })
        .collect();
    serde_json::json!({
        "schema": xuncha_domain::SCHEMA_VERSION,
        "fields": fields,
        "lists": lists,
        "types": {
            "text": "string", "date": "string YYYY-MM-DD", "choice": "string: a vocabulary code",
            "money": "integer: fen (0.01 yuan)", "area": "integer: hundredths of a mu",
            "flag": "boolean", "division": "map {code, name}", "gps": "map {lat, lon, accuracy}",
        },
        "narrative": "text object at the key narrative",
    })
}

/// Writes the Automerge archive into the folder `dir` (which must not exist or be empty),
/// whole or not at all: `{record id}.automerge` for each record,
/// `{record id}.protected.automerge` for its protected companion, and `manifest.json`.
/// Returns how many records it holds.
pub fn automerge_folder(
    dir: &Path,
    records: impl IntoIterator<Item = Result<ArchivedRecord, ExportError>>,
) -> Result<usize, ExportError> {
    crate::export::write_folder_whole(dir, |tmp| {
        let write = |name: &str, bytes: &[u8]| {
            let path = tmp.join(name);
            std::fs::write(&path, bytes).map_err(|source| ExportError::Io { path: path.display().to_string(), source })
        };
        let mut entries = Vec::new();
        for record in records {
            let record = record?;
            let file = format!("{}.automerge", record.id);
            write(&file, &record.document)?;
            let mut entry = ManifestEntry {
                record_id: record.id.to_string(),
                number: record.number,
                kind: record.kind.code(),
                title: record.title,
                heads: record.heads,
                sha256: sha256_hex(&record.document),
                file,
                protected_file: None,
                protected_heads: None,
                protected_sha256: None,
            };
            if let Some((bytes, heads)) = record.protected {
                let file = format!("{}.protected.automerge", record.id);
                write(&file, &bytes)?;
                entry.protected_file = Some(file);
                entry.protected_heads = Some(heads);
                entry.protected_sha256 = Some(sha256_hex(&bytes));
            }
            entries.push(entry);
        }
        let manifest = serde_json::json!({
            "format": "xuncha-automerge-archive",
            "version": 1,
            "layout": layout(),
            "note": "每个文件是一份标准 Automerge 文档（Automerge.load 可直接打开）；受保护文档中的举报人、反映人信息按原样以 age（X25519）密文保存，用全区受保护信息密钥解开。Each file is a standard Automerge document (Automerge.load opens it); the informant and petitioner values in a protected companion are kept as stored, sealed with age (X25519) to the district's protected-data key.",
            "records": entries,
        });
        write(AUTOMERGE_MANIFEST, &serde_json::to_vec_pretty(&manifest)?)?;
        Ok(entries.len())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::io::{Cursor, Read};

    use super::*;
    use xuncha_domain::{ActorId, DeviceId, Edit, EditContext, NewRecord, RecordDoc, UserId};

    const T0: i64 = 1_709_514_000_000;

    fn photo(bytes: &[u8], mime: &str, caption: &str) -> AttachmentRef {
        AttachmentRef {
            sha256: sha256_hex(bytes),
            mime: mime.into(),
            size: bytes.len() as u64,
            caption: caption.into(),
            taken_at_ms: None,
            gps: None,
        }
    }

    fn record(n: u8, attachments: &[AttachmentRef]) -> Record {
        let ctx = EditContext {
            author: UserId::new("zhang.wei").unwrap(),
            device: DeviceId::new("tablet-1").unwrap(),
            actor: ActorId::from([3u8; 16]),
            now_ms: T0,
        };
        let new = NewRecord {
            id: RecordId::new(T0, &[n; 10]),
            kind: RecordKind::FundCheck,
            title: format!("记录{n}"),
            round: String::new(),
            township: None,
            village: None,
            team: String::new(),
        };
        let mut doc = RecordDoc::create(&new, &ctx).unwrap();
        let edits: Vec<Edit> = attachments.iter().map(|a| Edit::AddAttachment { attachment: a.clone() }).collect();
        doc.apply(&edits, &ctx).unwrap();
        doc.read()
    }

    #[test]
    fn names_are_safe_on_every_system() {
        // (text, max, name)
        let cases = [
            ("收据", 60, "收据"),
            ("../../etc/passwd", 60, "_.._etc_passwd"),
            ("a:b*c?d\"e<f>g|h\\i", 60, "a_b_c_d_e_f_g_h_i"),
            ("  .隐藏. ", 60, "隐藏"),
            ("line\nbreak", 60, "line_break"),
            ("长长长长长", 3, "长长长"),
            ("", 60, ""),
        ];
        for (text, max, name) in cases {
            assert_eq!(file_name(text, max), name, "{text:?}");
        }
        // (mime, extension)
        for (mime, ext) in [("image/jpeg", "jpg"), ("IMAGE/PNG", "png"), ("application/pdf", "pdf"), ("x/y", "bin")] {
            assert_eq!(extension(mime), ext, "{mime}");
        }
    }

    #[test]
    fn the_media_archive_names_files_by_number_and_caption_and_lists_missing_ones() {
        let receipt = b"\xff\xd8\xff receipt".to_vec();
        let contract = b"%PDF-1.4 contract".to_vec();
        let nameless = b"\x89PNG nameless".to_vec();
        let absent = b"not on this device".to_vec();
        let records = vec![
            record(
                1,
                &[
                    photo(&receipt, "image/jpeg", "收据/3月.jpg"),
                    photo(&contract, "application/pdf", "承包合同"),
                    photo(&absent, "image/jpeg", "未下载"),
                ],
            ),
            record(2, &[photo(&nameless, "image/png", ""), photo(&receipt, "image/jpeg", "同一张收据")]),
        ];
        let held: HashMap<String, Vec<u8>> =
            [&receipt, &contract, &nameless].iter().map(|b| (sha256_hex(b), b.to_vec())).collect();
        let mut fetch = |a: &AttachmentRef| Ok::<_, ExportError>(held.get(&a.sha256).cloned());
        let number = |id: RecordId| {
            Some(if id == records[0].id {
                "2024年第一轮-第一巡察组-001".to_owned()
            } else {
                "R/1-T-002".to_owned()
            })
        };
        let (out, listed) = media_zip(Cursor::new(Vec::new()), &records, &number, &mut fetch, T0).unwrap();
        let files: Vec<(&str, bool)> = listed.iter().map(|f| (f.file.as_str(), f.missing)).collect();
        assert_eq!(
            files,
            [
                // By caption (none was given a time): 承 < 收 < 未.
                ("2024年第一轮-第一巡察组-001/01-承包合同.pdf", false),
                ("2024年第一轮-第一巡察组-001/02-收据_3月.jpg", false),
                ("", true),
                (format!("R_1-T-002/01-{}.png", &sha256_hex(&nameless)[..16]).as_str(), false),
                ("R_1-T-002/02-同一张收据.jpg", false),
            ]
        );
        let mut zip = zip::ZipArchive::new(out).unwrap();
        assert_eq!(zip.len(), 5);
        for file in listed.iter().filter(|f| !f.missing) {
            let mut bytes = Vec::new();
            zip.by_name(&file.file).unwrap().read_to_end(&mut bytes).unwrap();
            assert_eq!(sha256_hex(&bytes), file.sha256, "{}", file.file);
        }
        let mut manifest = String::new();
        zip.by_name(MEDIA_MANIFEST).unwrap().read_to_string(&mut manifest).unwrap();
        assert!(manifest.starts_with('\u{feff}'));
        assert_eq!(manifest.lines().count(), 6);
        assert!(manifest.contains(&sha256_hex(&absent)) && manifest.contains("missing"));
        assert!(manifest.contains(&format!("{},已收入", sha256_hex(&contract))));
    }

    #[test]
    fn the_automerge_folder_is_written_whole_and_refuses_a_folder_that_is_not_empty() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("archive");
        let entry = |n: u8, protected: bool| -> Result<ArchivedRecord, ExportError> {
            let r = record(n, &[]);
            Ok(ArchivedRecord {
                id: r.id,
                number: format!("N-{n}"),
                kind: r.kind,
                title: format!("记录{n}"),
                document: vec![n; 8],
                heads: vec!["ab".into()],
                protected: protected.then(|| (vec![n; 4], vec!["cd".into()])),
            })
        };
        // A failure part way leaves nothing behind.
        let failed = automerge_folder(&out, [entry(1, false), Err(ExportError::TooManyColumns)]);
        assert!(failed.is_err());
        assert!(!out.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "a temporary folder was left behind");

        std::fs::create_dir(&out).unwrap();
        assert_eq!(automerge_folder(&out, [entry(1, false), entry(2, true)]).unwrap(), 2);
        let mut names: Vec<String> =
            std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        let id = |n: u8| record(n, &[]).id;
        let mut expected = vec![
            format!("{}.automerge", id(1)),
            format!("{}.automerge", id(2)),
            format!("{}.protected.automerge", id(2)),
        ];
        expected.push(AUTOMERGE_MANIFEST.to_owned());
        expected.sort();
        assert_eq!(names, expected);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join(AUTOMERGE_MANIFEST)).unwrap()).unwrap();
        assert_eq!(manifest["records"][1]["number"], "N-2");
        assert_eq!(manifest["records"][1]["protected_heads"][0], "cd");
        assert_eq!(manifest["records"][0]["protected_file"], serde_json::Value::Null);
        assert_eq!(manifest["records"][0]["sha256"], sha256_hex(&[1; 8]));

        let again = automerge_folder(&out, [entry(3, false)]).unwrap_err();
        assert!(matches!(again, ExportError::NotEmpty { .. }), "{again}");
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(matches!(automerge_folder(&file, [entry(3, false)]).unwrap_err(), ExportError::NotAFolder { .. }));
    }
}
