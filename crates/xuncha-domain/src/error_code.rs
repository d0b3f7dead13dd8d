//! The one list of error codes: what the server answers on the wire, what the domain's
//! rules refuse with, and what the app tells the UI. Each travels as the same snake_case
//! string it always has; a code this build does not know (from a newer peer) reads as
//! [`ErrorCode::Unknown`] rather than failing the whole message. The UI words every code
//! itself (`ui/src/i18n`), so nothing anywhere branches on a message's text.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $wire:literal,)+) => {
        /// A stable error code. Serialised as its snake_case string.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum ErrorCode {
            $($(#[doc = $doc])* #[cfg_attr(feature = "ts", ts(rename = $wire))] $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order they are declared.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as it travels.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $wire,)+
                }
            }

            /// The code a string names; [`ErrorCode::Unknown`] for any other string.
            pub fn parse(text: &str) -> ErrorCode {
                match text {
                    $($wire => ErrorCode::$variant,)+
                    _ => ErrorCode::Unknown,
                }
            }
        }
    };
}

error_codes! {
    // The server's answers (`ErrorBody.code`, `Outcome::Refused.code`).
    /// The device was revoked: wipe its local data.
    Revoked = "revoked",
    /// The token is unknown or missing.
    Unauthorized = "unauthorized",
    /// Another protocol version: update the app.
    UpgradeRequired = "upgrade_required",
    /// The body could not be read.
    BadBody = "bad_body",
    /// The body is too large.
    TooLarge = "too_large",
    /// Too many failed attempts: wait.
    RateLimited = "rate_limited",
    /// An upload contained a change made by another device's actor.
    ForeignActor = "foreign_actor",
    /// An upload contained a change whose author is not the device's user.
    ForeignAuthor = "foreign_author",
    /// An upload touched a record outside the device's write scope.
    OutOfScope = "out_of_scope",
    /// An upload was not a valid Xuncha document.
    InvalidDocument = "invalid_document",
    /// An upload contained a change without its device's signature.
    Unsigned = "unsigned",
    /// A change's signature does not verify with the device's registered key.
    BadSignature = "bad_signature",
    /// The device's keys differ from the ones the server registered for it.
    KeyMismatch = "key_mismatch",
    /// The server is serving as many connections as it may: retry after the hint.
    Busy = "busy",
    /// The request's body did not arrive in time.
    Timeout = "timeout",
    /// The device holds as many attachment bytes on the server as it may.
    QuotaExceeded = "quota_exceeded",
    /// The enrollment code is unknown, used, cancelled or expired.
    BadEnrollmentCode = "bad_enrollment_code",
    /// The device's token has expired: enroll the device again.
    TokenExpired = "token_expired",
    /// The device's user was disabled by the administrator.
    UserDisabled = "user_disabled",
    /// An attachment piece must start where the bytes the server holds end.
    Resume = "resume",
    /// What was asked for does not exist (or may not be seen).
    NotFound = "not_found",
    /// The change conflicts with what the server holds.
    Conflict = "conflict",
    /// The server failed; it logged why.
    Internal = "internal",
    /// The user may not do this (an administrator syncing; a step the rules refuse).
    Forbidden = "forbidden",
    /// An attachment's bytes do not match its hash.
    AttachmentMismatch = "attachment_mismatch",
    /// A protected companion arrived before its record.
    UnknownRecord = "unknown_record",
    /// A document arrived without the history it builds on (the device's own verdict).
    IncompleteDocument = "incomplete_document",

    // The rules of who may change what (`rules::Refusal.code`).
    /// Administrator accounts do not change records.
    AdministratorWrites = "administrator_writes",
    /// A record's kind, creator or creation time changed.
    IdentityChanged = "identity_changed",
    /// A review decision of the layout before the workflow.
    ReviewDecision = "review_decision",
    /// A comment was changed or removed.
    CommentChanged = "comment_changed",
    /// A comment in someone else's name.
    CommentAuthor = "comment_author",
    /// Only a draft can be withdrawn.
    WithdrawSubmitted = "withdraw_submitted",
    /// Only the creator or a supervisor withdraws a draft.
    WithdrawOthers = "withdraw_others",
    /// A workflow step was changed or removed.
    StepChanged = "step_changed",
    /// The status cannot go that way (or went on meanwhile).
    Transition = "transition",
    /// A workflow step in someone else's name.
    StepAuthor = "step_author",
    /// The step is not this user's to take.
    TransitionRole = "transition_role",
    /// A conclusion given outside a workflow step.
    Conclusion = "conclusion",
    /// The handler gave a conclusion, which reviewers give.
    ConclusionByReviewer = "conclusion_by_reviewer",
    /// The step needs a verification conclusion.
    ConclusionRequired = "conclusion_required",
    /// The hand-over needs its destination, number and date.
    HandoverRequired = "handover_required",
    /// The step needs a reason.
    NoteRequired = "note_required",
    /// The rectification ledger changed outside its states.
    LedgerState = "ledger_state",
    /// The rectification ledger is not this user's to change.
    LedgerRole = "ledger_role",
    /// A progress entry was changed or removed.
    ProgressChanged = "progress_changed",
    /// A progress entry in someone else's name.
    ProgressAuthor = "progress_author",
    /// A signature was changed or removed.
    SignatureChanged = "signature_changed",
    /// A signature in someone else's name.
    SignatureAuthor = "signature_author",
    /// A signature in a role the user does not hold.
    SignatureRole = "signature_role",

    // A record's edits (`DomainError::code`).
    /// A malformed amount of yuan.
    BadAmount = "bad_amount",
    /// A malformed area in mu.
    BadArea = "bad_area",
    /// A malformed id.
    BadId = "bad_id",
    /// An unknown record kind.
    UnknownKind = "unknown_kind",
    /// An unknown field.
    UnknownField = "unknown_field",
    /// A field another kind of record has.
    FieldNotInKind = "field_not_in_kind",
    /// A value the field does not take.
    BadValue = "bad_value",
    /// A field set when the record is created.
    ReadOnlyField = "read_only_field",
    /// A table row that is gone (removed on another device).
    ItemNotFound = "item_not_found",
    /// A table row that exists already.
    ItemExists = "item_exists",
    /// An attachment that is not there.
    AttachmentNotFound = "attachment_not_found",
    /// A review status change the old layout refuses.
    BadTransition = "bad_transition",
    /// The record has problems to fix before it is submitted.
    NotReady = "not_ready",
    /// The document is not an inspection record.
    NotARecord = "not_a_record",
    /// The document's data is damaged.
    CorruptDocument = "corrupt_document",
    /// The record has no subjects to pick from yet.
    NoSubjects = "no_subjects",
    /// No such subject in the record.
    UnknownSubject = "unknown_subject",
    /// Several subjects of that name.
    AmbiguousSubject = "ambiguous_subject",
    /// Only a draft can be withdrawn.
    NotADraft = "not_a_draft",
    /// The record was withdrawn and takes no edits.
    Withdrawn = "withdrawn",

    // The device database (`StoreError::code`).
    /// A filter given wrongly.
    BadFilter = "bad_filter",
    /// The PIN is wrong.
    WrongPin = "wrong_pin",
    /// The PIN is too short.
    WeakPin = "weak_pin",
    /// A file that will not be overwritten.
    AlreadyExists = "already_exists",
    /// The device key file is missing.
    MissingKeyFile = "missing_key_file",
    /// The device key file is damaged.
    BadKeyFile = "bad_key_file",
    /// The device database is damaged.
    Corrupt = "corrupt",
    /// The device database was written by a newer app.
    NewerSchema = "newer_schema",
    /// The device's keys could not be used.
    Keys = "keys",
    /// No such record on this device.
    RecordNotFound = "record_not_found",
    /// A place that is not in the reference data.
    UnknownDivision = "unknown_division",
    /// A place name that names several places.
    AmbiguousDivision = "ambiguous_division",
    /// Another program holds the device database.
    DatabaseBusy = "database_busy",
    /// An edit the record refused.
    InvalidEdit = "invalid_edit",
    /// A file could not be read or written.
    Io = "io",
    /// The device database failed.
    Database = "database",

    // Sync, as the device sees it (`SyncError::code`).
    /// The device is not enrolled.
    NotEnrolled = "not_enrolled",
    /// The server cannot be reached.
    Offline = "offline",
    /// The server refused a request (its own code is the cause).
    Server = "server",
    /// The server's answer could not be read.
    BadResponse = "bad_response",
    /// The address leads to another server than the device enrolled with.
    OtherServer = "other_server",
    /// The server presented another TLS key than the one the device enrolled with.
    WrongServerKey = "wrong_server_key",
    /// The device database failed during a sync (its own code is the cause).
    Store = "store",

    // Sync bundles (`BundleError::code`, `BundleFailure::code`).
    /// The file is not a sync bundle.
    NotABundle = "not_a_bundle",
    /// A bundle of another format or sync protocol: update the older side.
    ForeignBundleFormat = "foreign_bundle_format",
    /// A bundle addressed to another side.
    WrongReceiver = "wrong_receiver",
    /// A bundle cut short: copy the whole file again.
    BundleTruncated = "bundle_truncated",
    /// A damaged bundle: copy it again, or export it again.
    BundleDamaged = "bundle_damaged",
    /// Not a peer key (`xuncha1:…`).
    BadPeerKey = "bad_peer_key",
    /// A bundle of a kind this side does not import.
    UnexpectedBundleKind = "unexpected_bundle_kind",

    // The team relay (`RelayError`, `SyncError`).
    /// Only a 组长's or 副组长's device serves as a team relay.
    NotATeamLead = "not_a_team_lead",
    /// The relay could not start (its port taken, its data unreadable).
    RelayFailed = "relay_failed",
    /// Not a team relay's QR code.
    NotARelayLink = "not_a_relay_link",
    /// The device has not joined a team relay.
    NotJoined = "not_joined",
    /// The relay could not prove the key its QR code shows.
    NotTheRelay = "not_the_relay",

    // The app's use cases (`AppError::code`, `BadInput::code`).
    /// The app is locked.
    Locked = "locked",
    /// The device is not set up.
    NotSetUp = "not_set_up",
    /// The device is set up already.
    AlreadySetUp = "already_set_up",
    /// Input the app refuses (the cause says which).
    BadInput = "bad_input",
    /// A division that is neither a township nor a village.
    NotAPlace = "not_a_place",
    /// The record has no village yet.
    NoVillage = "no_village",
    /// No household was chosen.
    NoHouseholds = "no_households",
    /// The roster changed under a chosen household.
    RosterChanged = "roster_changed",
    /// The conflict (or the chosen value) is gone.
    ConflictGone = "conflict_gone",
    /// A status conflict, which the workflow settles.
    StatusConflict = "status_conflict",
    /// A narrative conflict, settled by editing the text.
    NarrativeConflict = "narrative_conflict",
    /// An empty file.
    EmptyFile = "empty_file",
    /// A file larger than an attachment may be.
    FileTooLarge = "file_too_large",
    /// A picture with more pixels than the device will decode.
    ImageTooLarge = "image_too_large",
    /// A file neither a picture nor a PDF.
    UnsupportedFile = "unsupported_file",
    /// The system gave no randomness.
    NoRandomness = "no_randomness",
    /// A QR code that is not an enrollment link.
    NotAnEnrollmentLink = "not_an_enrollment_link",
    /// No enrollment code was given.
    NoEnrollmentCode = "no_enrollment_code",
    /// A signature that is not a picture.
    NotAPicture = "not_a_picture",
    /// The files' bytes do not add up to their sizes.
    SizeMismatch = "size_mismatch",
    /// The cited record is not on this device.
    CitedRecordMissing = "cited_record_missing",
    /// A server address that is not one.
    BadServerAddress = "bad_server_address",
    /// A malformed request from the UI.
    BadRequest = "bad_request",
    /// A server key pin that is not 64 hex digits.
    BadServerPin = "bad_server_pin",
    /// The report fonts are not installed beside the app.
    ReportFontsMissing = "report_fonts_missing",
    /// A document could not be typeset.
    ReportFailed = "report_failed",
    /// The document is not made for this kind of record.
    ReportNotApplicable = "report_not_applicable",
    /// A workbook or archive could not be made.
    ExportFailed = "export_failed",
    /// No record under the filter: nothing to export.
    NothingToExport = "nothing_to_export",
    /// Another export is still running.
    ExportRunning = "export_running",
    /// The export was cancelled.
    Cancelled = "cancelled",
    /// This device cannot open the file by itself.
    CannotOpen = "cannot_open",

    // The UI's own.
    /// A call into the app failed without an error of the app's.
    Ipc = "ipc",
    /// A code this build does not know (from a newer peer).
    Unknown = "unknown",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ErrorCode, D::Error> {
        struct Code;
        impl Visitor<'_> for Code {
            type Value = ErrorCode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an error code")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ErrorCode, E> {
                Ok(ErrorCode::parse(text))
            }
        }
        deserializer.deserialize_str(Code)
    }
}

// Comparisons with the code as text, for tests and for codes kept as text (the device
// database's outbox).
impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for ErrorCode {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<ErrorCode> for str {
    fn eq(&self, other: &ErrorCode) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<ErrorCode> for &str {
    fn eq(&self, other: &ErrorCode) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<ErrorCode> for String {
    fn eq(&self, other: &ErrorCode) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<ErrorCode> for &ErrorCode {
    fn eq(&self, other: &ErrorCode) -> bool {
        **self == *other
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    /// Every code as it travels today: these strings never change (old clients and
    /// servers must keep understanding each other). New codes are added at the end of
    /// their group.
    const WIRE: &[&str] = &[
        "revoked",
        "unauthorized",
        "upgrade_required",
        "bad_body",
        "too_large",
        "rate_limited",
        "foreign_actor",
        "foreign_author",
        "out_of_scope",
        "invalid_document",
        "unsigned",
        "bad_signature",
        "key_mismatch",
        "busy",
        "timeout",
        "quota_exceeded",
        "bad_enrollment_code",
        "token_expired",
        "user_disabled",
        "resume",
        "not_found",
        "conflict",
        "internal",
        "forbidden",
        "attachment_mismatch",
        "unknown_record",
        "incomplete_document",
        "administrator_writes",
        "identity_changed",
        "review_decision",
        "comment_changed",
        "comment_author",
        "withdraw_submitted",
        "withdraw_others",
        "step_changed",
        "transition",
        "step_author",
        "transition_role",
        "conclusion",
        "conclusion_by_reviewer",
        "conclusion_required",
        "handover_required",
        "note_required",
        "ledger_state",
        "ledger_role",
        "progress_changed",
        "progress_author",
        "signature_changed",
        "signature_author",
        "signature_role",
        "bad_amount",
        "bad_area",
        "bad_id",
        "unknown_kind",
        "unknown_field",
        "field_not_in_kind",
        "bad_value",
        "read_only_field",
        "item_not_found",
        "item_exists",
        "attachment_not_found",
        "bad_transition",
        "not_ready",
        "not_a_record",
        "corrupt_document",
        "no_subjects",
        "unknown_subject",
        "ambiguous_subject",
        "not_a_draft",
        "withdrawn",
        "bad_filter",
        "wrong_pin",
        "weak_pin",
        "already_exists",
        "missing_key_file",
        "bad_key_file",
        "corrupt",
        "newer_schema",
        "keys",
        "record_not_found",
        "unknown_division",
        "ambiguous_division",
        "database_busy",
        "invalid_edit",
        "io",
        "database",
        "not_enrolled",
        "offline",
        "server",
        "bad_response",
        "other_server",
        "wrong_server_key",
        "store",
        "not_a_bundle",
        "foreign_bundle_format",
        "wrong_receiver",
        "bundle_truncated",
        "bundle_damaged",
        "bad_peer_key",
        "unexpected_bundle_kind",
        "not_a_team_lead",
        "relay_failed",
        "not_a_relay_link",
        "not_joined",
        "not_the_relay",
        "locked",
        "not_set_up",
        "already_set_up",
        "bad_input",
        "not_a_place",
        "no_village",
        "no_households",
        "roster_changed",
        "conflict_gone",
        "status_conflict",
        "narrative_conflict",
        "empty_file",
        "file_too_large",
        "image_too_large",
        "unsupported_file",
        "no_randomness",
        "not_an_enrollment_link",
        "no_enrollment_code",
        "not_a_picture",
        "size_mismatch",
        "cited_record_missing",
        "bad_server_address",
        "bad_request",
        "bad_server_pin",
        "report_fonts_missing",
        "report_failed",
        "report_not_applicable",
        "export_failed",
        "nothing_to_export",
        "export_running",
        "cancelled",
        "cannot_open",
        "ipc",
        "unknown",
    ];

    #[test]
    fn every_code_travels_as_its_string_and_back() {
        let strings: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(strings, WIRE);
        for (&code, &wire) in ErrorCode::ALL.iter().zip(WIRE) {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{wire}\""));
            assert_eq!(serde_json::from_str::<ErrorCode>(&json).unwrap(), code);
            assert_eq!(ErrorCode::parse(wire), code);
            assert_eq!(code.to_string(), wire);
        }
        let distinct: std::collections::BTreeSet<&str> = WIRE.iter().copied().collect();
        assert_eq!(distinct.len(), WIRE.len(), "a code is listed twice");
    }

    #[test]
    fn a_code_from_a_newer_peer_reads_as_unknown() {
        assert_eq!(serde_json::from_str::<ErrorCode>("\"made_up_later\"").unwrap(), ErrorCode::Unknown);
        assert_eq!(
            serde_json::from_str::<Vec<ErrorCode>>("[\"revoked\",\"\"]").unwrap(),
            [ErrorCode::Revoked, ErrorCode::Unknown]
        );
        assert!(serde_json::from_str::<ErrorCode>("7").is_err(), "a code is always a string");
    }

    #[test]
    fn codes_compare_with_their_text() {
        assert_eq!(ErrorCode::OutOfScope, "out_of_scope");
        assert_eq!("out_of_scope", ErrorCode::OutOfScope);
        assert_eq!(String::from("busy"), ErrorCode::Busy);
        assert_ne!(ErrorCode::Busy, "database_busy");
    }
}
