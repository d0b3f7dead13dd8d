//! The round's reference data on the command line: the administrator's `xuncha admin
//! divisions|round|team|roster …` on the server's data directory, and the device's
//! `xuncha reference`, `xuncha roster list` and the name lookups `record new --village`
//! and `record edit --add-household-from-roster` use.

use anyhow::Result;
use xuncha_app::reference::{Placement, placement};
use xuncha_domain::{Division, DivisionEntry, Edit, Field, ItemField, ItemId, ItemList, RecordId, Team, Value};
use xuncha_server::admin;
use xuncha_store::Store;

use crate::args::{DivisionsCommand, RosterAdminCommand, RosterCommand, RoundCommand, TeamCommand};
use crate::commands::BadInput;
use crate::remote::storage;
use crate::{entropy, now_ms};

fn bad(error: impl std::fmt::Display) -> anyhow::Error {
    BadInput(error.to_string()).into()
}

fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// `xuncha admin divisions …`.
pub fn divisions(command: &DivisionsCommand, json: bool) -> Result<()> {
    match command {
        DivisionsCommand::Import { data, file } => {
            let divisions = xuncha_server::import::read_divisions(file).map_err(bad)?;
            let count = admin::import_divisions(storage(&data.data)?.as_ref(), &divisions, now_ms()).map_err(bad)?;
            if json {
                print_json(&serde_json::json!({ "imported": count }))
            } else {
                println!("已导入 {count} 个区划 / imported {count} divisions from {}", file.display());
                Ok(())
            }
        }
        DivisionsCommand::List { data, under } => {
            let list = admin::divisions(storage(&data.data)?.as_ref(), under.as_deref()).map_err(bad)?;
            if json {
                return print_json(&list);
            }
            for d in &list {
                let level = d.level().map_or("?", xuncha_domain::Level::zh);
                println!("{}  {}  {}  {}", d.code, level, d.name, d.parent);
            }
            Ok(())
        }
    }
}

/// `xuncha admin round …`.
pub fn round(command: &RoundCommand, json: bool) -> Result<()> {
    match command {
        RoundCommand::Add { data, name, start, end, units } => {
            let round =
                admin::add_round(storage(&data.data)?.as_ref(), name, start, end, units, now_ms()).map_err(bad)?;
            if json {
                return print_json(&round);
            }
            println!("已添加巡察轮次 added round {}（{} 至 {}）id {}", round.name, round.start, round.end, round.id);
            Ok(())
        }
        RoundCommand::List { data } => list_teams(&data.data, json),
    }
}

fn list_teams(data: &std::path::Path, json: bool) -> Result<()> {
    let (rounds, teams) = admin::rounds_and_teams(storage(data)?.as_ref()).map_err(bad)?;
    if json {
        return print_json(&serde_json::json!({ "rounds": rounds, "teams": teams }));
    }
    for round in &rounds {
        println!("{}（{} 至 {}）{}", round.name, round.start, round.end, round.units.join("、"));
        for team in teams.iter().filter(|t| t.round == round.id) {
            println!("  {}", team_line(team));
        }
    }
    Ok(())
}

fn team_line(team: &Team) -> String {
    format!(
        "{}  组长 {}  副组长 {}  组员 {}  范围 {}",
        team.name,
        team.lead,
        team.deputies.join("、"),
        team.members.join("、"),
        team.places.join("、")
    )
}

/// `xuncha admin team …`.
pub fn team(command: &TeamCommand, json: bool) -> Result<()> {
    match command {
        TeamCommand::Add { data, name, round, lead, deputies, members, villages, units } => {
            let new = admin::NewTeam {
                name: name.clone(),
                round: round.clone(),
                lead: lead.clone(),
                deputies: deputies.clone(),
                members: members.clone(),
                places: villages.clone(),
                units: units.clone(),
            };
            let team = admin::add_team(storage(&data.data)?.as_ref(), &new, now_ms()).map_err(bad)?;
            if json {
                return print_json(&team);
            }
            println!("已添加巡察组 added team {}", team_line(&team));
            Ok(())
        }
        TeamCommand::Move { data, user, round, team } => {
            let team = admin::move_member(storage(&data.data)?.as_ref(), user, round, team, now_ms()).map_err(bad)?;
            if json {
                return print_json(&team);
            }
            println!("{user} 已调入 {} / {user} moved into {}", team.name, team.name);
            Ok(())
        }
        TeamCommand::List { data } => list_teams(&data.data, json),
    }
}

/// `xuncha admin roster …`.
pub fn roster(command: &RosterAdminCommand, json: bool) -> Result<()> {
    match command {
        RosterAdminCommand::Import { data, village, fund, file } => {
            let households = xuncha_server::import::read_roster(file).map_err(bad)?;
            let roster = admin::import_roster(storage(&data.data)?.as_ref(), village, fund, households, now_ms())
                .map_err(bad)?;
            if json {
                return print_json(&serde_json::json!({
                    "id": roster.id, "village": roster.village, "fund": roster.fund,
                    "households": roster.households.len(),
                }));
            }
            println!(
                "已导入花名册 imported roster {}：{} 户 households, village {}",
                roster.fund,
                roster.households.len(),
                roster.village
            );
            Ok(())
        }
    }
}

/// `xuncha reference`: what this device received.
pub fn show_reference(store: &Store, json: bool) -> Result<()> {
    let reference = store.reference()?;
    if json {
        return print_json(&reference);
    }
    let mut counts = std::collections::BTreeMap::new();
    for d in &reference.divisions {
        *counts.entry(d.level()).or_insert(0usize) += 1;
    }
    let counts: Vec<String> =
        counts.iter().map(|(level, n)| format!("{} {n}", level.map_or("?", xuncha_domain::Level::zh))).collect();
    println!("区划 divisions: {}", if counts.is_empty() { "—".to_owned() } else { counts.join("，") });
    for round in &reference.rounds {
        println!("巡察轮次 round: {}（{} 至 {}）", round.name, round.start, round.end);
        for team in reference.teams.iter().filter(|t| t.round == round.id) {
            let places: Vec<String> = team
                .places
                .iter()
                .map(|code| store.division(code).ok().flatten().map_or_else(|| code.clone(), |d| d.name))
                .collect();
            println!(
                "  {}  组长 {}  副组长 {}  组员 {}  范围 {}",
                team.name,
                team.lead,
                team.deputies.join("、"),
                team.members.join("、"),
                places.join("、")
            );
        }
    }
    for roster in &reference.rosters {
        let village = store.division(&roster.village)?.map_or_else(|| roster.village.clone(), |d| d.name);
        println!("花名册 roster: {village} {}，{} 户", roster.fund, roster.households.len());
    }
    Ok(())
}

/// A village given as a name or code, through the reference data.
fn village(store: &Store, text: &str) -> Result<DivisionEntry> {
    Ok(store.resolve_village(text)?)
}

/// `xuncha roster list --village …`.
pub fn roster_list(store: &Store, command: &RosterCommand, json: bool) -> Result<()> {
    let RosterCommand::List { village: text } = command;
    let village = village(store, text)?;
    let rosters = store.rosters(&village.code)?;
    if json {
        return print_json(&rosters);
    }
    if rosters.is_empty() {
        println!("{} 没有花名册 / no roster for {} on this device", village.name, village.code);
    }
    for roster in &rosters {
        println!("{} {}（{} 户）", village.name, roster.fund, roster.households.len());
        println!("户主\t身份证号\t账号\t应享金额\t发放日期\t组别");
        for h in &roster.households {
            println!("{}\t{}\t{}\t{}\t{}\t{}", h.head, h.id_number, h.account, h.entitled, h.paid_on, h.group);
        }
    }
    Ok(())
}

/// Resolves `--village` (a name, a code or CODE:NAME) and fills the township, round and
/// team the person left out, as the app does (`xuncha_app::reference::placement`).
pub fn place(
    store: &Store,
    township: Option<Division>,
    village_text: Option<&str>,
    round: &str,
    team: &str,
) -> Result<Placement> {
    let given = Placement { township, village: None, round: round.to_owned(), team: team.to_owned() };
    let Some(text) = village_text else { return Ok(given) };
    if let Some(village) = Division::parse(text) {
        return Ok(Placement { village: Some(village), ..given });
    }
    let entry = village(store, text)?;
    let found = placement(store, &entry.code)?.unwrap_or_default();
    let or = |given: String, found: String| if given.is_empty() { found } else { given };
    Ok(Placement {
        township: given.township.or(found.township),
        village: found.village,
        round: or(given.round, found.round),
        team: or(given.team, found.team),
    })
}

/// The edit adding a household from the record's village roster: `NAME`, or `NAME#1234`
/// to pick among namesakes by the last four digits of the ID number.
pub fn household_from_roster(store: &mut Store, id: RecordId, text: &str) -> Result<Edit> {
    let record = store.record(id)?.read();
    let village = record
        .division(Field::Village)
        .map(|v| v.code.clone())
        .filter(|c| !c.is_empty())
        .ok_or_else(|| bad("记录还没有村，请先选择村 / the record has no village yet; set its village first"))?;
    let (name, tail) = match text.split_once(['#', '＃']) {
        Some((name, tail)) => (name.trim(), Some(tail.trim())),
        None => (text.trim(), None),
    };
    let mut found = store.roster_households_named(&village, name)?;
    if let Some(fund) = record.text(Field::FundName).filter(|f| !f.trim().is_empty())
        && found.iter().any(|(f, _)| f == fund)
    {
        found.retain(|(f, _)| f == fund);
    }
    if let Some(tail) = tail {
        found.retain(|(_, h)| h.id_number.ends_with(tail));
    }
    let already: Vec<&str> =
        record.items(ItemList::Beneficiaries).iter().filter_map(|i| i.text(ItemField::Head)).collect();
    match found.as_slice() {
        [(_, household)] => {
            if already.contains(&household.head.as_str()) && tail.is_none() {
                return Err(bad(format!(
                    "{} 已在受益农户中 / {} is already among the households",
                    household.head, household.head
                )));
            }
            Ok(Edit::InsertItem {
                list: ItemList::Beneficiaries,
                id: ItemId::new(now_ms(), &entropy()?),
                values: vec![
                    (ItemField::Head, Value::Text(household.head.clone())),
                    (ItemField::Entitled, Value::Money(household.entitled)),
                ],
            })
        }
        [] => Err(bad(format!(
            "本村花名册中没有户主 “{name}” / no household head {name:?} in this village's rosters; see `xuncha roster list --village {village}`"
        ))),
        many => Err(bad(format!(
            "花名册中有 {} 户名为 “{name}”：{}；请写 {name}#身份证后四位 / {} households are named {name:?}; write {name}#LAST4 of the ID number",
            many.len(),
            many.iter()
                .map(|(fund, h)| format!("{}（{}，{}，{}）", h.head, h.id_number, h.group, fund))
                .collect::<Vec<_>>()
                .join("、"),
            many.len()
        ))),
    }
}

/// `xuncha server-address URL`.
pub fn server_address(store: &mut Store, url: &str, json: bool) -> Result<()> {
    let client = xuncha_sync::Client::new(url, std::time::Duration::from_secs(30))?;
    let server_id = crate::remote::runtime()?.block_on(client.move_device_here(store))?;
    if json {
        return print_json(&serde_json::json!({ "server": url, "server_id": server_id }));
    }
    println!("服务器地址已改为 {url}（服务器 {server_id}）/ the server's address is now {url}");
    Ok(())
}
