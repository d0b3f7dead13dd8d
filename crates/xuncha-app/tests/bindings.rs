//! The UI's TypeScript types are generated from the Rust types; this test fails when the
//! committed ones (`ui/src/bindings/`) are stale. Regenerate with `make bindings`
//! (`UPDATE_BINDINGS=1 cargo test -p xuncha-app --test bindings`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ts_rs::TS;
use xuncha_app::*;

fn generate(dir: &Path) {
    macro_rules! export {
        ($($ty:ty),+ $(,)?) => {
            $( <$ty>::export_all_to(dir).expect(concat!("exporting ", stringify!($ty))); )+
        };
    }
    export!(
        AppStatus,
        EnrollInput,
        ErrorDto,
        ExportResult,
        ListQuery,
        ListPage,
        NewRecordInput,
        RecordView,
        TransitionInput,
        SignInput,
        ProblemRow,
        ProgressInput,
        xuncha_store::TotalsFilter,
        FieldInput,
        AttachmentInput,
        SyncStatus,
        Schema,
        Assignment,
        EnrollLink,
        RosterPick,
        RosterKey,
        xuncha_domain::DivisionEntry,
        xuncha_domain::Edit,
        HistoryEntryView,
        FieldVersionView,
        xuncha_domain::FieldPath,
        xuncha_domain::InformantField,
        xuncha_store::Totals,
        xuncha_store::Facets,
    );
}

/// Every generated file, by name. serde_json writes Rust's i64 and u64 as JSON numbers
/// (all of ours are far below 2^53), so they are `number`, not `bigint`, in TypeScript.
fn read(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("reading the bindings folder") {
        let path = entry.expect("a folder entry").path();
        if path.extension().is_some_and(|e| e == "ts") {
            let text = std::fs::read_to_string(&path).expect("reading a binding");
            files.insert(path.file_name().unwrap().to_string_lossy().into_owned(), text.replace("bigint", "number"));
        }
    }
    files
}

#[test]
fn typescript_bindings_are_current() {
    let committed_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/src/bindings");
    let fresh_dir = tempfile::tempdir().expect("a temporary folder");
    generate(fresh_dir.path());
    let fresh = read(fresh_dir.path());
    assert!(fresh.len() > 30, "expected the whole API surface, got {} files", fresh.len());
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        let _ = std::fs::remove_dir_all(&committed_dir);
        std::fs::create_dir_all(&committed_dir).expect("creating ui/src/bindings");
        for (name, text) in &fresh {
            std::fs::write(committed_dir.join(name), text).expect("writing a binding");
        }
        return;
    }
    let committed = if committed_dir.is_dir() { read(&committed_dir) } else { BTreeMap::new() };
    let stale: Vec<&String> = fresh
        .keys()
        .chain(committed.keys())
        .filter(|name| fresh.get(*name) != committed.get(*name))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(stale.is_empty(), "ui/src/bindings is stale ({stale:?}); run `make bindings` and commit the result");
}
