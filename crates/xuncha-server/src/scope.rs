//! Who may see and write what, on every path: a user's role, jurisdiction (a division at any
//! level, or `district` for everything on the server) and teams decide a device's
//! [`ReadScope`] (the rule itself is `xuncha_domain::ReadScope`); a device writes only
//! records it may read, before and after the change; protected companions go only to
//! supervisors and to the device that owns the record.

use xuncha_domain::{Field, Jurisdiction, ReadScope, Reader, Record, Team};
use xuncha_protocol::Role;

use crate::storage::{Device, DocScope, Result, Tx, User, Visibility};

/// The jurisdiction that covers everything on the server (servers before divisions).
pub const DISTRICT: &str = Jurisdiction::ALL;

/// The domain's name for a role.
pub fn reader(role: Role) -> Reader {
    match role {
        Role::Inspector => Reader::Inspector,
        Role::TeamLead => Reader::TeamLead,
        Role::Supervisor => Reader::Supervisor,
        Role::Administrator => Reader::Administrator,
    }
}

/// The user's jurisdiction; one that no longer parses reads as nothing at all.
pub fn jurisdiction(user: &User) -> Jurisdiction {
    Jurisdiction::parse(&user.jurisdiction).unwrap_or_else(|| Jurisdiction::Under("999999999999".into()))
}

/// What a user reads, given the teams they belong to.
pub fn read_scope(user: &User, teams: &[Team]) -> ReadScope {
    ReadScope::of(reader(user.role), &jurisdiction(user), &user.id, teams)
}

/// What a device may read now.
pub fn visibility(tx: &mut dyn Tx, device: &Device, user: &User) -> Result<Visibility> {
    let teams = tx.teams_of(&user.id)?;
    Ok(Visibility { device_id: device.id.clone(), scope: read_scope(user, &teams) })
}

/// The place of a record: its village, or its township while it has none.
pub fn place_of(record: &Record) -> String {
    [Field::Village, Field::Township]
        .into_iter()
        .filter_map(|f| record.division(f))
        .map(|d| d.code.trim().to_owned())
        .find(|code| !code.is_empty())
        .unwrap_or_default()
}

/// What decides who reads a record, with the team it is counted to.
pub fn doc_scope(record: &Record, team: &str) -> DocScope {
    DocScope { kind: record.kind.code().to_owned(), place: place_of(record), team: team.to_owned() }
}

/// Whether `user` may write a record whose read scope is each of `scopes` (before and
/// after the change): administrators write no records; everyone else only what they read.
pub fn may_write(user: &User, who: &Visibility, scopes: &[&DocScope]) -> bool {
    user.role != Role::Administrator && scopes.iter().all(|s| s.admitted_by(&who.scope))
}

/// Whether a jurisdiction is well formed: `district` or a 12-digit division code.
pub fn valid_jurisdiction(text: &str) -> bool {
    Jurisdiction::parse(text).is_some()
}
