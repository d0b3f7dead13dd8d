//! `xuncha bundle …` and `xuncha admin identity | peer | bundle …`: sync by file across an
//! air gap, on a device and on a server.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xuncha_protocol::bundle::PeerKey;
use xuncha_server::bundles;

use crate::args::{AdminBundleCommand, BundleCommand, BundleImport, PeerCommand};
use crate::now_ms;

/// A new bundle's id: 16 random bytes, hex.
fn bundle_id() -> Result<String> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(hex::encode(bytes))
}

fn parse_key(text: &str) -> Result<PeerKey> {
    PeerKey::parse(text).map_err(|e| crate::commands::BadInput(e.to_string()).into())
}

/// Writes a file whole or not at all: to a temporary file beside it, then renamed.
fn write_whole<T>(path: &Path, write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<T>) -> Result<T> {
    let partial = path.with_extension("partial");
    let file =
        std::fs::File::create(&partial).with_context(|| format!("无法写入 / cannot write {}", partial.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let written = write(&mut out).and_then(|value| {
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        Ok(value)
    });
    match written {
        Ok(value) => {
            std::fs::rename(&partial, path).with_context(|| format!("无法写入 / cannot write {}", path.display()))?;
            Ok(value)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

fn open_bundle(path: &Path) -> Result<std::io::BufReader<std::fs::File>> {
    let file = std::fs::File::open(path)
        .with_context(|| format!("无法读取同步包 / cannot read the bundle {}", path.display()))?;
    Ok(std::io::BufReader::new(file))
}

/// Writes the receipt of an import (as asked, or beside the bundle it answers as
/// NAME.receipt.xcb) and says where; `None` for an import that answers nothing.
fn keep_receipt(import: &BundleImport, receipt: Option<&Vec<u8>>) -> Result<Option<PathBuf>> {
    let Some(bytes) = receipt else { return Ok(None) };
    let path = import.receipt.clone().unwrap_or_else(|| {
        let file = &import.file;
        let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "bundle".into());
        file.with_file_name(format!("{stem}.receipt.{}", xuncha_protocol::bundle::EXTENSION))
    });
    write_whole(&path, |out| Ok(std::io::Write::write_all(out, bytes)?))?;
    Ok(Some(path))
}

/// An import's report as JSON, with where its receipt was written.
fn print_imported(imported: &impl serde::Serialize, receipt_file: Option<&PathBuf>) -> Result<()> {
    let mut value = serde_json::to_value(imported)?;
    value["receipt_file"] = serde_json::json!(receipt_file.map(|p| p.display().to_string()));
    print_json(&value)
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `xuncha bundle …` on the device database.
pub fn device(store: &mut xuncha_store::Store, command: &BundleCommand, json: bool) -> Result<()> {
    match command {
        BundleCommand::Export(export) => {
            let to = parse_key(&export.to)?;
            let id = bundle_id()?;
            let exported = write_whole(&export.out, |file| {
                Ok(xuncha_sync::bundle::export(store, &to, export.attachments, file, &id, now_ms(), &mut |_| true)?)
            })?;
            if json {
                return print_json(&exported);
            }
            println!(
                "已导出同步包 / exported {}: {} 份文档 documents, {} 项签名修改 signed changes, {} 个附件 attachments, {} 字节 bytes",
                export.out.display(),
                exported.documents,
                exported.changes,
                exported.attachments,
                exported.bytes
            );
        }
        BundleCommand::Import(import) => {
            let id = bundle_id()?;
            let input = open_bundle(&import.file)?;
            let size = input.get_ref().metadata().map_or(0, |m| m.len());
            let imported = xuncha_sync::bundle::import(store, input, size, &id, now_ms(), &mut |_| true)?;
            let receipt_file = keep_receipt(import, imported.receipt.as_ref())?;
            if json {
                return print_imported(&imported, receipt_file.as_ref());
            }
            if imported.kind == xuncha_protocol::bundle::KIND_RECEIPT {
                println!(
                    "已导入回执 / imported the receipt from {}: {} 份文档已确认 acknowledged, {} 份被拒 refused",
                    imported.sender,
                    imported.acknowledged,
                    imported.refused.len()
                );
                for refusal in &imported.refused {
                    println!("✗ {} [{}] {}", refusal.record, refusal.code, refusal.message);
                }
            } else {
                println!(
                    "已导入同步包 / imported the bundle from {}: {} 份文档 documents, {} 份有新修改 merged, {} 个附件 attachments",
                    imported.sender, imported.documents, imported.merged, imported.attachments
                );
                if let Some(path) = &receipt_file {
                    println!("回执 / receipt for the sender: {}", path.display());
                }
            }
        }
    }
    Ok(())
}

/// `xuncha admin identity`.
pub fn identity(data: &Path, json: bool) -> Result<()> {
    let storage = crate::remote::storage(data)?;
    let me = bundles::identity(storage.as_ref(), data)?;
    if json {
        let server_id = xuncha_server::storage::with_tx(storage.as_ref(), false, |tx| tx.server_id())?;
        print_json(&serde_json::json!({ "key": me.key.to_text(), "server_id": server_id }))?;
    } else {
        println!("{}", me.key);
    }
    Ok(())
}

/// `xuncha admin peer …`.
pub fn peer(command: &PeerCommand, json: bool) -> Result<()> {
    match command {
        PeerCommand::Add { data, name, key } => {
            let storage = crate::remote::storage(&data.data)?;
            let peer = bundles::add_peer(storage.as_ref(), name, key, now_ms()).map_err(|e| match e {
                bundles::ExchangeError::Storage(xuncha_server::StorageError::Key(_)) => anyhow::Error::from(e),
                other => crate::commands::BadInput(other.to_string()).into(),
            })?;
            if json {
                print_json(&peer)?;
            } else {
                println!("已信任服务器 / now trusting server {}: {}", peer.name, peer.key);
            }
        }
        PeerCommand::List { data } => {
            let storage = crate::remote::storage(&data.data)?;
            let peers = xuncha_server::storage::with_tx(storage.as_ref(), false, |tx| tx.peers())?;
            if json {
                print_json(&peers)?;
            } else if peers.is_empty() {
                println!("尚未信任其他服务器 / no other server is trusted yet: `xuncha admin peer add NAME --key KEY`");
            } else {
                for peer in peers {
                    println!("{}\t{}\t已确认至 acknowledged up to {}", peer.name, peer.key, peer.acked_seq);
                }
            }
        }
    }
    Ok(())
}

/// `xuncha admin bundle …`.
pub fn server(command: &AdminBundleCommand, json: bool) -> Result<()> {
    match command {
        AdminBundleCommand::Export { data, export } => {
            let to = parse_key(&export.to)?;
            let storage = crate::remote::storage(&data.data)?;
            let me = bundles::identity(storage.as_ref(), &data.data)?;
            let id = bundle_id()?;
            let exported = write_whole(&export.out, |file| {
                Ok(bundles::export(storage.as_ref(), &me, &to, export.attachments, file, &id, now_ms())?)
            })?;
            if json {
                return print_json(&exported);
            }
            println!(
                "已导出同步包 / exported {} to {}: {} 份文档 documents, {} 项签名修改 signed changes, {} 个附件 attachments, {} 字节 bytes",
                export.out.display(),
                exported.receiver,
                exported.documents,
                exported.changes,
                exported.attachments,
                exported.bytes
            );
        }
        AdminBundleCommand::Import { data, import } => {
            let storage = crate::remote::storage(&data.data)?;
            let me = bundles::identity(storage.as_ref(), &data.data)?;
            let id = bundle_id()?;
            let imported = bundles::import(storage.as_ref(), &me, open_bundle(&import.file)?, &id, now_ms())?;
            let receipt_file = keep_receipt(import, imported.receipt.as_ref())?;
            if json {
                return print_imported(&imported, receipt_file.as_ref());
            }
            println!(
                "已导入 / imported {} from {}: {} 份文档 documents, {} 份已存 stored ({} 项新修改 new changes), {} 份被拒 refused, {} 份需完整重发 to resend whole",
                imported.kind,
                imported.sender,
                imported.documents,
                imported.stored,
                imported.new_changes,
                imported.refused.len(),
                imported.need_full
            );
            for refusal in &imported.refused {
                println!("✗ {} [{}] {}", refusal.record, refusal.code, refusal.message);
            }
            if let Some(path) = &receipt_file {
                println!("回执 / receipt for the sender: {}", path.display());
            }
        }
    }
    Ok(())
}
