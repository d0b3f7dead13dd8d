//! The round's reference data in the app: the 乡镇 → 村 pickers, the user's teams, where a
//! new or moved record goes (township from the village, round and team from the user's
//! team there), places the reference data does not know, households picked from the
//! village's rosters (花名册), and the names of users from the user directory.

use std::collections::HashMap;

use xuncha_domain::{
    Division, DivisionEntry, Edit, Entropy, Field, Finding, ItemField, ItemId, ItemList, Level, ReadScope, Reader,
    Record, Round, Standing, Team, Value,
};
use xuncha_store::Store;

use crate::dto::{Assignment, RosterKey, RosterPick, TeamAssignment};
use crate::error::{AppError, BadInput, Result};

/// The user's teams (of every round on the device).
fn my_teams(store: &Store) -> Result<Vec<Team>> {
    let user = store.identity().user_id.to_string();
    Ok(store.teams()?.into_iter().filter(|t| t.role_of(&user).is_some()).collect())
}

/// Whether the device holds any divisions.
pub fn has_divisions(store: &Store) -> Result<bool> {
    Ok(!store.divisions_under(None)?.is_empty())
}

/// The townships the user works in: those of their teams' places when they are in a
/// team, else every township the device holds (the server sends only the user's own).
pub fn townships(store: &Store) -> Result<Vec<DivisionEntry>> {
    let teams = my_teams(store)?;
    Ok(store
        .divisions()?
        .into_iter()
        .filter(|d| d.level() == Some(Level::Township))
        .filter(|d| {
            teams.is_empty()
                || teams.iter().any(|t| t.covers(&d.code) || t.places.iter().any(|p| p.get(..9) == d.code.get(..9)))
        })
        .collect())
}

/// The villages of a township, by name.
pub fn villages(store: &Store, township: &str) -> Result<Vec<DivisionEntry>> {
    Ok(store.divisions_under(Some(township))?.into_iter().filter(|d| d.level() == Some(Level::Village)).collect())
}

/// The user's teams with their roles, rounds and places.
pub fn assignment(store: &Store) -> Result<Assignment> {
    let user = store.identity().user_id.to_string();
    let rounds = store.rounds()?;
    let mut teams = Vec::new();
    for team in store.teams()? {
        let Some(role) = team.role_of(&user) else { continue };
        let places = team
            .places
            .iter()
            .map(|code| {
                Ok(store.division(code)?.unwrap_or_else(|| DivisionEntry {
                    code: code.clone(),
                    name: code.clone(),
                    parent: String::new(),
                }))
            })
            .collect::<Result<Vec<_>>>()?;
        teams.push(TeamAssignment {
            round: round_name(&rounds, &team.round),
            team_id: team.id,
            team: team.name,
            round_id: team.round,
            role,
            places,
        });
    }
    Ok(Assignment { teams, rounds, has_divisions: has_divisions(store)? })
}

/// The user's standing toward `record` for the workflow: their role, and their place in
/// the record's team (found by the team and round the record names).
pub fn standing(store: &Store, role: Reader, record: &Record) -> Result<Standing> {
    let user = store.identity().user_id.to_string();
    let teams = store.teams()?;
    let rounds = store.rounds()?;
    let named = record.text(Field::Team).map(str::trim).unwrap_or_default();
    let round = record.text(Field::Round).map(str::trim).unwrap_or_default();
    let team = teams.iter().find(|t| {
        !named.is_empty()
            && (t.id == named || t.name == named)
            && (round.is_empty() || t.round == round || round_name(&rounds, &t.round) == round)
    });
    // A team name the device does not know (typed by hand, or from a round it has not
    // received): the user's team over the record's place, as the server counts it.
    let place = [Field::Village, Field::Township]
        .into_iter()
        .filter_map(|f| record.division(f))
        .map(|d| d.code.trim())
        .find(|code| !code.is_empty())
        .unwrap_or_default();
    let team = team.or_else(|| ReadScope::team_for(&user, place, &teams));
    let in_any_team = teams.iter().any(|t| t.role_of(&user).is_some());
    // Named, but no team here: the device cannot tell; the server decides.
    let known = team.is_some() || teams.iter().any(|t| t.name == named || t.id == named);
    Ok(Standing::of(&user, role, team, known, in_any_team))
}

fn round_name(rounds: &[Round], id: &str) -> String {
    rounds.iter().find(|r| r.id == id).map(|r| r.name.clone()).unwrap_or_default()
}

/// Where a record in the division `code` goes, by the reference data.
#[derive(Debug, Default)]
pub struct Placement {
    pub township: Option<Division>,
    pub village: Option<Division>,
    /// The round and team of the user's team covering the place (empty when none).
    pub round: String,
    pub team: String,
}

/// The placement of a township or village the device knows; `None` when it does not.
pub fn placement(store: &Store, code: &str) -> Result<Option<Placement>> {
    let Some(entry) = store.division(code.trim())? else { return Ok(None) };
    let division = |d: &DivisionEntry| Division::new(d.code.clone(), d.name.clone());
    let mut placement = match entry.level() {
        Some(Level::Village) => Placement {
            township: store
                .division(&entry.parent)?
                .filter(|p| p.level() == Some(Level::Township))
                .map(|p| division(&p)),
            village: Some(division(&entry)),
            ..Placement::default()
        },
        Some(Level::Township) => Placement { township: Some(division(&entry)), ..Placement::default() },
        _ => {
            return Err(AppError::BadInput(BadInput::NotAPlace(entry.name.clone())));
        }
    };
    let user = store.identity().user_id.to_string();
    let teams = store.teams()?;
    if let Some(team) = ReadScope::team_for(&user, &entry.code, &teams) {
        placement.team.clone_from(&team.name);
        placement.round = round_name(&store.rounds()?, &team.round);
    }
    Ok(Some(placement))
}

fn blank(record: &Record, field: Field) -> bool {
    record.text(field).is_none_or(|t| t.trim().is_empty())
}

/// The edits that move a record to the township or village `code` (picked by name): the
/// village's township with it, a village outside a newly picked township cleared, and
/// the round and team filled from the user's team there where the record has none.
pub fn place_edits(store: &Store, record: &Record, code: &str) -> Result<Vec<Edit>> {
    let placement =
        placement(store, code)?.ok_or_else(|| AppError::BadInput(BadInput::UnknownPlace(code.to_owned())))?;
    let mut edits = Vec::new();
    let set = |field: Field, division: Option<Division>| Edit::Set { field, value: division.map(Value::Division) };
    if let Some(township) = &placement.township
        && record.division(Field::Township) != Some(township)
    {
        edits.push(set(Field::Township, Some(township.clone())));
    }
    match &placement.village {
        Some(village) => {
            if record.division(Field::Village) != Some(village) {
                edits.push(set(Field::Village, Some(village.clone())));
            }
        }
        None => {
            let township = placement.township.as_ref().map(|t| &t.code[..9]);
            if let Some(village) = record.division(Field::Village)
                && village.code.get(..9) != township
            {
                edits.push(set(Field::Village, None));
            }
        }
    }
    for (field, value) in [(Field::Round, &placement.round), (Field::Team, &placement.team)] {
        if !value.is_empty() && blank(record, field) {
            edits.push(Edit::Set { field, value: Some(Value::Text(value.clone())) });
        }
    }
    Ok(edits)
}

/// What the reference data says of the record's places: a township or village code it
/// does not know. Nothing while the device holds no divisions.
pub fn unknown_places(store: &Store, record: &Record) -> Result<Vec<Finding>> {
    let mut found = Vec::new();
    if !has_divisions(store)? {
        return Ok(found);
    }
    for field in [Field::Township, Field::Village] {
        let Some(division) = record.division(field).filter(|d| !d.code.trim().is_empty()) else { continue };
        if store.division(&division.code)?.is_none() {
            let (zh, en) = (field.zh(), field.en().to_lowercase());
            found.push(Finding {
                path: field.key().to_owned(),
                code: "unknown_division",
                zh: format!("{zh}“{}”（{}）不在本轮区划表中，请核对或从列表中重新选择", division.name, division.code),
                en: format!(
                    "the {en} {} ({}) is not in this round's divisions; check it or choose it from the list",
                    division.name, division.code
                ),
            });
        }
    }
    Ok(found)
}

/// The record's village code, or what to do first.
fn village_of(record: &Record) -> Result<String> {
    record
        .division(Field::Village)
        .map(|v| v.code.trim().to_owned())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| AppError::BadInput(BadInput::NoVillage))
}

/// The words of a roster search: names or parts of names, separated by spaces or commas.
fn terms(query: &str) -> Vec<&str> {
    query
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '，' | '、' | ';' | '；'))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Households of the record's village rosters whose head's name contains any of the words
/// of `query` (every household when it is empty); the roster of the record's fund first.
pub fn search_roster(store: &Store, record: &Record, query: &str) -> Result<Vec<RosterPick>> {
    let village = village_of(record)?;
    let words = terms(query);
    let heads: Vec<&str> =
        record.items(ItemList::Beneficiaries).iter().filter_map(|i| i.text(ItemField::Head)).collect();
    let fund = record.text(Field::FundName).map(str::trim).unwrap_or_default();
    let mut rosters = store.rosters(&village)?;
    rosters.sort_by_key(|r| r.fund != fund);
    let mut picks = Vec::new();
    for roster in rosters {
        for (index, household) in roster.households.into_iter().enumerate() {
            if !words.is_empty() && !words.iter().any(|w| household.head.contains(w)) {
                continue;
            }
            picks.push(RosterPick {
                key: RosterKey { roster: roster.id.clone(), index: u32::try_from(index).unwrap_or(u32::MAX) },
                fund: roster.fund.clone(),
                added: heads.contains(&household.head.as_str()),
                household,
            });
        }
    }
    Ok(picks)
}

/// The edits adding the picked households as beneficiaries (head and entitled amount),
/// to be applied as one change. `entropy` gives each new item its id.
pub fn households_from_roster(
    store: &Store,
    record: &Record,
    keys: &[RosterKey],
    now_ms: i64,
    mut entropy: impl FnMut() -> Result<Entropy>,
) -> Result<Vec<Edit>> {
    if keys.is_empty() {
        return Err(AppError::BadInput(BadInput::NoHouseholds));
    }
    let rosters = store.rosters(&village_of(record)?)?;
    let mut edits = Vec::with_capacity(keys.len());
    // Items list in id order, and ids begin with their time: a millisecond apart, the
    // households list in the order they were picked.
    for (at, key) in (now_ms..).zip(keys) {
        let household = rosters
            .iter()
            .find(|r| r.id == key.roster)
            .and_then(|r| r.households.get(key.index as usize))
            .ok_or_else(|| AppError::BadInput(BadInput::RosterChanged))?;
        edits.push(Edit::InsertItem {
            list: ItemList::Beneficiaries,
            id: ItemId::new(at, &entropy()?),
            values: vec![
                (ItemField::Head, Value::Text(household.head.clone())),
                (ItemField::Entitled, Value::Money(household.entitled)),
            ],
        });
    }
    Ok(edits)
}

/// Who user ids are: the user directory of the reference data, and this device's own user
/// (from its identity) when the directory does not list them; and which tablet device ids
/// are, from the device directory. Load it once per use case, then look up every author.
#[derive(Debug, Default)]
pub struct Names {
    people: HashMap<String, String>,
    devices: HashMap<String, String>,
}

impl Names {
    /// The directory this device holds.
    pub fn of(store: &Store) -> Result<Names> {
        let mut names: HashMap<String, String> =
            store.people()?.into_iter().filter(|p| !p.name.trim().is_empty()).map(|p| (p.id, p.name)).collect();
        let me = store.identity();
        if !me.user_name.trim().is_empty() {
            names.entry(me.user_id.to_string()).or_insert_with(|| me.user_name.clone());
        }
        let devices =
            store.devices()?.into_iter().filter(|d| !d.name.trim().is_empty()).map(|d| (d.id, d.name)).collect();
        Ok(Names { people: names, devices })
    }

    /// The name device `id` enrolled with: `None` when no id is given or the directory does
    /// not list it (the UI then shows the id).
    pub fn device(&self, id: Option<&str>) -> Option<String> {
        self.devices.get(id?).cloned()
    }

    /// The display name of user `id`: `None` when no id is given or the directory does not
    /// list it (the UI then shows the id).
    pub fn name(&self, id: Option<&str>) -> Option<String> {
        self.people.get(id?).cloned()
    }
}
