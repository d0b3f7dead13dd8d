//! The reference data a device receives in its sync answer: the divisions of its places
//! (with their ancestors, so names read whole), its rounds and teams, and the household
//! rosters of its villages with ID, account and phone numbers masked. Sent whole, and
//! only when the device's tag (the reference version and the scope) differs.

use std::collections::{BTreeMap, BTreeSet};

use xuncha_domain::{DeviceEntry, Person, Reference, Team};
use xuncha_protocol::{ProtectedKey, ReferenceUpdate};

use crate::storage::{Result, Tx, Visibility};

/// The layout of what is sent: a device that holds an older one receives it again
/// (3: with the district's protected-data key).
const FORMAT: u8 = 3;

/// The tag of what `who` would receive now: the layout, the reference version and the read
/// scope.
pub fn tag(tx: &mut dyn Tx, who: &Visibility) -> Result<Vec<u8>> {
    let mut tag = vec![FORMAT];
    tag.extend_from_slice(&tx.reference_version()?.to_be_bytes());
    tag.extend_from_slice(&who.scope.fingerprint());
    Ok(tag)
}

/// The reference data for a device whose tag is `held`, or `None` when it holds the
/// current one.
pub fn update(tx: &mut dyn Tx, who: &Visibility, teams: &[Team], held: &[u8]) -> Result<Option<ReferenceUpdate>> {
    let tag = tag(tx, who)?;
    if tag == held {
        return Ok(None);
    }
    let protected = tx
        .protected_key()?
        .map(|recipient| -> Result<ProtectedKey> {
            Ok(ProtectedKey { recipient, wrapped: tx.protected_grant(&who.device_id)? })
        })
        .transpose()?;
    Ok(Some(ReferenceUpdate { tag, data: for_device(tx, who, teams)?, protected }))
}

/// Everything of the reference data a device may see. A user in teams (not a supervisor)
/// receives their teams and rounds; everyone else the teams working in their places.
pub fn for_device(tx: &mut dyn Tx, who: &Visibility, teams: &[Team]) -> Result<Reference> {
    let scope = &who.scope;
    let all = tx.divisions()?;
    let by_code: BTreeMap<&str, usize> = all.iter().enumerate().map(|(i, d)| (d.code.as_str(), i)).collect();
    let mut keep = BTreeSet::new();
    for (index, division) in all.iter().enumerate() {
        if !scope.covers(&division.code) {
            continue;
        }
        // The division and its ancestors (bounded: codes have five levels).
        let mut at = Some(index);
        for _ in 0..8 {
            let Some(i) = at else { break };
            if !keep.insert(i) {
                break;
            }
            at = by_code.get(all[i].parent.as_str()).copied();
        }
    }
    let divisions = keep.into_iter().map(|i| all[i].clone()).collect();
    let own_teams = !scope.all_gang_clues;
    let teams: Vec<Team> = if own_teams {
        teams.to_vec()
    } else {
        tx.teams()?.into_iter().filter(|t| t.places.iter().any(|p| scope.covers(p))).collect()
    };
    let round_ids: BTreeSet<&str> = teams.iter().map(|t| t.round.as_str()).collect();
    let rounds = tx.rounds()?.into_iter().filter(|r| !own_teams || round_ids.contains(r.id.as_str())).collect();
    let rosters = if scope.rosters {
        let mut rosters = tx.rosters(&scope.places)?;
        for roster in &mut rosters {
            roster.households = roster.households.iter().map(xuncha_domain::RosterHousehold::masked).collect();
        }
        rosters
    } else {
        Vec::new()
    };
    // The people a device meets in history and teams: everyone for a supervisor or a user
    // in no team; a team's own people and the supervisors for a user in teams.
    let mut people: Vec<Person> = tx
        .users()?
        .into_iter()
        .filter(|u| {
            !own_teams
                || u.role == xuncha_protocol::Role::Supervisor
                || teams.iter().any(|t| t.role_of(&u.id).is_some())
        })
        .map(|u| Person { id: u.id, name: u.name })
        .collect();
    people.sort_by(|a, b| a.id.cmp(&b.id));
    // Their devices, revoked ones too: history keeps naming what a device wrote.
    let listed: BTreeSet<&str> = people.iter().map(|p| p.id.as_str()).collect();
    let mut devices: Vec<DeviceEntry> = tx
        .devices()?
        .into_iter()
        .filter(|d| listed.contains(d.user_id.as_str()))
        .map(|d| DeviceEntry { id: d.id, name: d.name, user: d.user_id })
        .collect();
    devices.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Reference { divisions, rounds, teams, rosters, people, devices })
}
