//! Builds the Tauri context; the app manifest lists every command, so that each one is
//! allowed only where a capability grants it (capabilities/main.json). The report fonts are
//! resources of the app (tauri.conf.json), copied beside the binary by every build.

fn main() {
    let commands = &[
        "app_status",
        "probe_server",
        "enroll_link",
        "enroll",
        "unlock",
        "lock",
        "change_pin",
        "move_server",
        "schema",
        "list_records",
        "mark_seen",
        "facets",
        "totals",
        "record",
        "create_record",
        "edit_record",
        "input_field",
        "withdraw_record",
        "transition_record",
        "sign_record",
        "add_progress",
        "rectify_record",
        "cite_record",
        "totals_filtered",
        "problem_list",
        "townships",
        "villages",
        "assignment",
        "place_record",
        "search_roster",
        "add_from_roster",
        "new_item_id",
        "settle_conflict",
        "record_history",
        "field_history",
        "add_attachment",
        "attachment",
        "set_informant",
        "sync_status",
        "sync_now",
        "export_csv",
        "report_draft",
        "report_household",
        "export_workbook",
        "report_problems",
        "report_rectification",
        "report_summary",
        "export_media",
        "bundle_key",
        "export_bundle",
        "import_bundle",
        "start_relay",
        "stop_relay",
        "relay_info",
        "join_relay",
        "export_progress",
        "cancel_export",
        "open_exported",
        "open_attachment",
        "attachment_thumbnail",
        "download_attachments",
        "export_destination",
        "save_exported",
        "discard_exported",
    ];
    let fonts = std::path::Path::new("../crates/xuncha-report/fonts");
    for name in ["NotoSerifCJK-Regular.ttc", "NotoSerifCJK-Bold.ttc", "LICENSE-fonts-noto-cjk"] {
        assert!(
            fonts.join(name).is_file(),
            "{} is missing: the app ships the report fonts; run `make setup` (crates/xuncha-report/fonts/install.sh)",
            fonts.join(name).display()
        );
    }
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(commands)),
    )
    .expect("building the Tauri context");
}
