//! Administration: users, enrollment codes, devices and revocation; the round's reference
//! data (divisions, rounds, teams, rosters). The `xuncha admin` commands call these on the
//! server's data directory; every action is one transaction and is audit-logged.

use xuncha_domain::reference::{Level, level_of};
use xuncha_domain::{DivisionEntry, Roster, RosterHousehold, Round, Team, is_date};
use xuncha_protocol::Role;

use crate::auth;
use crate::scope;
use crate::storage::{AuditEntry, Device, Result, Storage, StorageError, User, with_tx};

/// How long an enrollment code stays valid.
pub const ENROLLMENT_VALID_MS: i64 = 7 * 24 * 3_600_000;

fn audit(action: &str, detail: serde_json::Value, now_ms: i64) -> AuditEntry {
    AuditEntry { at_ms: now_ms, user_id: Some("admin".into()), device_id: None, action: action.into(), detail }
}

/// Adds a user with a role and a jurisdiction (`district` or a township code).
pub fn add_user(
    storage: &dyn Storage,
    id: &str,
    name: &str,
    role: Role,
    jurisdiction: &str,
    now_ms: i64,
) -> Result<User> {
    if id.trim().is_empty() || id.chars().any(char::is_control) {
        return Err(StorageError::Conflict("用户编号不能为空 / the user id must not be empty".into()));
    }
    if !scope::valid_jurisdiction(jurisdiction) {
        return Err(StorageError::Conflict(format!(
            "管辖范围 “{jurisdiction}” 无效：应为 district 或任一级的 12 位区划代码（省、市、区县、乡镇）/ jurisdiction {jurisdiction:?} must be `district` or a 12-digit division code of any level (province, city, district, township)"
        )));
    }
    let user = User {
        id: id.into(),
        name: name.into(),
        role,
        jurisdiction: jurisdiction.into(),
        created_at_ms: now_ms,
        disabled_at_ms: None,
    };
    with_tx(storage, true, |tx| {
        tx.add_user(&user)?;
        // The user directory is reference data.
        tx.bump_reference_version()?;
        tx.audit(&audit(
            "user.add",
            serde_json::json!({ "user": user.id, "role": role.code(), "jurisdiction": jurisdiction }),
            now_ms,
        ))
    })?;
    Ok(user)
}

/// A fresh one-time enrollment code for `user_id` (shown once; stored hashed).
pub fn enrollment_code(storage: &dyn Storage, user_id: &str, now_ms: i64) -> Result<String> {
    let code = auth::new_enrollment_code();
    let hash = auth::hash_code(&code);
    with_tx(storage, true, |tx| {
        match tx.user(user_id)? {
            None => return Err(StorageError::NotFound(format!("user {user_id}"))),
            Some(user) if user.disabled_at_ms.is_some() => {
                return Err(StorageError::Conflict(format!(
                    "用户 {user_id} 已停用，请先启用 / user {user_id} is disabled; enable them first"
                )));
            }
            Some(_) => {}
        }
        tx.add_enrollment(&hash, user_id, now_ms + ENROLLMENT_VALID_MS, now_ms)?;
        tx.audit(&audit("enrollment.create", serde_json::json!({ "user": user_id }), now_ms))
    })?;
    Ok(code)
}

/// Cancels an outstanding enrollment code: `target` is a user id (all their outstanding
/// codes) or a code as given out. Returns how many were cancelled; none is an error.
pub fn cancel_codes(storage: &dyn Storage, target: &str, now_ms: i64) -> Result<usize> {
    with_tx(storage, true, |tx| {
        let is_user = tx.user(target)?.is_some();
        let cancelled = if is_user {
            tx.cancel_enrollments(Some(target), None, now_ms)?
        } else {
            tx.cancel_enrollments(None, Some(target), now_ms)?
        };
        if cancelled == 0 {
            return Err(StorageError::NotFound(if is_user {
                format!("用户 {target} 的未用注册码 / outstanding enrollment code of user {target}")
            } else {
                "此注册码（或已使用、已过期）/ outstanding enrollment code (or it was used or has expired)".to_owned()
            }));
        }
        // The code itself is never written down: the audit names the user, or says a code.
        let detail =
            if is_user { serde_json::json!({ "user": target }) } else { serde_json::json!({ "code": "given" }) };
        tx.audit(&audit("enrollment.cancel", serde_json::json!({ "target": detail, "cancelled": cancelled }), now_ms))?;
        Ok(cancelled)
    })
}

/// Disables a user (their devices are refused and their codes cancelled), or enables them again.
pub fn set_user_disabled(storage: &dyn Storage, user_id: &str, disabled: bool, now_ms: i64) -> Result<()> {
    with_tx(storage, true, |tx| {
        if !tx.set_user_disabled(user_id, disabled.then_some(now_ms))? {
            return Err(StorageError::NotFound(format!("user {user_id}")));
        }
        if disabled {
            tx.cancel_enrollments(Some(user_id), None, now_ms)?;
        }
        let action = if disabled { "user.disable" } else { "user.enable" };
        tx.audit(&audit(action, serde_json::json!({ "user": user_id }), now_ms))
    })
}

/// Every device, with its user.
pub fn devices(storage: &dyn Storage) -> Result<Vec<Device>> {
    with_tx(storage, false, |tx| tx.devices())
}

/// Every user.
pub fn users(storage: &dyn Storage) -> Result<Vec<User>> {
    with_tx(storage, false, |tx| tx.users())
}

/// Revokes a lost or retired device: its next request is told to wipe its data.
pub fn revoke(storage: &dyn Storage, device_id: &str, now_ms: i64) -> Result<()> {
    with_tx(storage, true, |tx| {
        if !tx.revoke_device(device_id, now_ms)? {
            return Err(StorageError::NotFound(format!("device {device_id}")));
        }
        tx.audit(&audit("device.revoke", serde_json::json!({ "device": device_id }), now_ms))
    })
}

/// The latest audit entries, newest first.
pub fn audit_log(storage: &dyn Storage, limit: u32) -> Result<Vec<AuditEntry>> {
    with_tx(storage, false, |tx| tx.audit_log(limit))
}

fn invalid(message: String) -> StorageError {
    StorageError::Conflict(message)
}

/// Adds or renames divisions, in one transaction. Each parent must be empty, in the same
/// file or already on the server, and must contain its child's code.
pub fn import_divisions(storage: &dyn Storage, divisions: &[DivisionEntry], now_ms: i64) -> Result<usize> {
    let in_file: std::collections::BTreeSet<&str> = divisions.iter().map(|d| d.code.as_str()).collect();
    with_tx(storage, true, |tx| {
        for d in divisions {
            let Some(level) = level_of(&d.code) else {
                return Err(invalid(format!(
                    "区划代码 “{}” 无效：应为 12 位数字 / division code {:?} must be 12 digits",
                    d.code, d.code
                )));
            };
            if d.parent.is_empty() {
                continue;
            }
            let parent_level = level_of(&d.parent);
            let contains = parent_level.is_some_and(|p| p < level && d.code.starts_with(&d.parent[..p.digits()]));
            if !contains {
                return Err(invalid(format!(
                    "区划 {}（{}）不在上级 {} 之内：请核对上级代码 / division {} ({}) is not inside its parent {}; check parent_code",
                    d.code, d.name, d.parent, d.code, d.name, d.parent
                )));
            }
            if !in_file.contains(d.parent.as_str()) && tx.division(&d.parent)?.is_none() {
                return Err(invalid(format!(
                    "上级区划 {} 既不在文件中也不在服务器上：请先导入上级 / the parent {} of {} is neither in the file nor on the server; import it first",
                    d.parent, d.parent, d.code
                )));
            }
        }
        tx.put_divisions(divisions)?;
        tx.bump_reference_version()?;
        tx.audit(&audit("divisions.import", serde_json::json!({ "count": divisions.len() }), now_ms))?;
        Ok(divisions.len())
    })
}

/// The divisions on the server, all or those under `under` (a code of any level).
pub fn divisions(storage: &dyn Storage, under: Option<&str>) -> Result<Vec<DivisionEntry>> {
    let prefix = match under {
        None => String::new(),
        Some(code) => xuncha_domain::reference::prefix_of(code).map(str::to_owned).ok_or_else(|| {
            invalid(format!("区划代码 “{code}” 无效：应为 12 位数字 / division code {code:?} must be 12 digits"))
        })?,
    };
    let all = with_tx(storage, false, |tx| tx.divisions())?;
    Ok(all.into_iter().filter(|d| d.code.starts_with(&prefix)).collect())
}

/// Adds an inspection round.
pub fn add_round(
    storage: &dyn Storage,
    name: &str,
    start: &str,
    end: &str,
    units: &[String],
    now_ms: i64,
) -> Result<Round> {
    if name.trim().is_empty() {
        return Err(invalid("请填写巡察轮次名称 / the round needs a name".into()));
    }
    for date in [start, end] {
        if !is_date(date) {
            return Err(invalid(format!("日期 “{date}” 应为 YYYY-MM-DD / the date {date:?} must be YYYY-MM-DD")));
        }
    }
    if end < start {
        return Err(invalid(format!(
            "结束日期 {end} 早于开始日期 {start} / the round ends ({end}) before it starts ({start})"
        )));
    }
    let round = Round {
        id: auth::new_reference_id("round"),
        name: name.trim().to_owned(),
        start: start.to_owned(),
        end: end.to_owned(),
        units: units.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect(),
    };
    with_tx(storage, true, |tx| {
        tx.add_round(&round)?;
        tx.bump_reference_version()?;
        tx.audit(&audit("round.add", serde_json::json!({ "round": round.name, "id": round.id }), now_ms))
    })?;
    Ok(round)
}

/// A round by name (or id).
fn round_named(tx: &mut dyn crate::storage::Tx, name: &str) -> Result<Round> {
    let rounds = tx.rounds()?;
    let known = rounds.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join("、");
    rounds.into_iter().find(|r| r.name == name.trim() || r.id == name.trim()).ok_or_else(|| {
        StorageError::NotFound(format!(
            "巡察轮次 “{name}”（已有：{known}）；请先用 xuncha admin round add 添加 / round {name:?} (known: {known}); add it with xuncha admin round add"
        ))
    })
}

/// What a new team is made of.
#[derive(Debug, Clone, Default)]
pub struct NewTeam {
    pub name: String,
    pub round: String,
    pub lead: String,
    pub deputies: Vec<String>,
    pub members: Vec<String>,
    /// Township and village codes (or names the divisions table resolves).
    pub places: Vec<String>,
    pub units: Vec<String>,
}

/// Resolves a place given as a code or as a division name known to the server.
fn place_code(tx: &mut dyn crate::storage::Tx, place: &str) -> Result<String> {
    let place = place.trim();
    if let Some(level) = level_of(place) {
        if level < Level::Township {
            return Err(invalid(format!(
                "巡察组的范围应为乡镇或村，{place} 是{} / a team is assigned townships or villages; {place} is a {}",
                level.zh(),
                level.zh()
            )));
        }
        let known = tx.divisions()?;
        if !known.is_empty() && !known.iter().any(|d| d.code == place) {
            return Err(invalid(format!(
                "区划 {place} 不在服务器的区划表中：请先导入 / division {place} is not in the server's divisions; import it first"
            )));
        }
        return Ok(place.to_owned());
    }
    let matches: Vec<DivisionEntry> = tx.divisions()?.into_iter().filter(|d| d.name == place).collect();
    match matches.as_slice() {
        [one] => Ok(one.code.clone()),
        [] => Err(invalid(format!("找不到名为 “{place}” 的区划 / no division is named {place:?}"))),
        many => Err(invalid(format!(
            "“{place}” 有多个：{}；请写区划代码 / {place:?} is ambiguous: {}; give the code",
            many.iter().map(|d| d.code.as_str()).collect::<Vec<_>>().join("、"),
            many.iter().map(|d| d.code.as_str()).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Adds a team to a round: its 组长, 副组长 and members must be users; its places must be
/// townships or villages.
pub fn add_team(storage: &dyn Storage, new: &NewTeam, now_ms: i64) -> Result<Team> {
    if new.name.trim().is_empty() {
        return Err(invalid("请填写巡察组名称 / the team needs a name".into()));
    }
    with_tx(storage, true, |tx| {
        let round = round_named(tx, &new.round)?;
        let trimmed = |list: &[String]| -> Vec<String> {
            list.iter().map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect()
        };
        let team = Team {
            id: auth::new_reference_id("team"),
            name: new.name.trim().to_owned(),
            round: round.id.clone(),
            lead: new.lead.trim().to_owned(),
            deputies: trimmed(&new.deputies),
            members: trimmed(&new.members),
            places: new.places.iter().map(|p| place_code(tx, p)).collect::<Result<Vec<_>>>()?,
            units: trimmed(&new.units),
        };
        for user in team.people() {
            if tx.user(user)?.is_none() {
                return Err(StorageError::NotFound(format!(
                    "用户 {user}；请先用 xuncha admin add-user 添加 / user {user}; add it with xuncha admin add-user"
                )));
            }
        }
        if tx.teams()?.iter().any(|t| t.round == team.round && t.name == team.name) {
            return Err(StorageError::Conflict(format!(
                "{} 已有 “{}” / the round {} already has a team {:?}",
                round.name, team.name, round.name, team.name
            )));
        }
        tx.put_team(&team)?;
        let claimed = tx.claim_for_team(&team)?;
        tx.bump_reference_version()?;
        tx.audit(&audit(
            "team.add",
            serde_json::json!({ "team": team.name, "id": team.id, "round": round.name, "people": team.people().collect::<Vec<_>>(), "places": team.places, "records_claimed": claimed }),
            now_ms,
        ))?;
        Ok(team)
    })
}

/// Moves a user into `team` of `round` as a member, out of every other team of that round.
/// Their devices receive the new team's records, and drop the old team's, at their next sync.
pub fn move_member(storage: &dyn Storage, user: &str, round: &str, team: &str, now_ms: i64) -> Result<Team> {
    with_tx(storage, true, |tx| {
        let round = round_named(tx, round)?;
        if tx.user(user)?.is_none() {
            return Err(StorageError::NotFound(format!("user {user}")));
        }
        let teams: Vec<Team> = tx.teams()?.into_iter().filter(|t| t.round == round.id).collect();
        let Some(mut target) = teams.iter().find(|t| t.name == team || t.id == team).cloned() else {
            return Err(StorageError::NotFound(format!(
                "{} 的巡察组 “{team}” / team {team:?} of {}",
                round.name, round.name
            )));
        };
        for mut other in teams.into_iter().filter(|t| t.id != target.id) {
            if other.lead == user {
                return Err(invalid(format!(
                    "{user} 是 {} 的组长：请先另设组长 / {user} leads {}; give it another lead first",
                    other.name, other.name
                )));
            }
            let before = other.people().count();
            other.deputies.retain(|d| d != user);
            other.members.retain(|m| m != user);
            if other.people().count() != before {
                tx.put_team(&other)?;
            }
        }
        if target.role_of(user).is_none() {
            target.members.push(user.to_owned());
        }
        tx.put_team(&target)?;
        tx.claim_for_team(&target)?;
        tx.bump_reference_version()?;
        tx.audit(&audit("team.move", serde_json::json!({ "user": user, "team": target.id }), now_ms))?;
        Ok(target)
    })
}

/// Every round and team.
pub fn rounds_and_teams(storage: &dyn Storage) -> Result<(Vec<Round>, Vec<Team>)> {
    with_tx(storage, false, |tx| Ok((tx.rounds()?, tx.teams()?)))
}

/// Stores a fund's household roster of a village (code or name), replacing the one of the
/// same village and fund. The server keeps full numbers; devices receive them masked.
pub fn import_roster(
    storage: &dyn Storage,
    village: &str,
    fund: &str,
    households: Vec<RosterHousehold>,
    now_ms: i64,
) -> Result<Roster> {
    if fund.trim().is_empty() {
        return Err(invalid("请填写资金或项目名称（--fund）/ give the fund's name (--fund)".into()));
    }
    with_tx(storage, true, |tx| {
        let code = place_code(tx, village)?;
        if level_of(&code) != Some(Level::Village) {
            return Err(invalid(format!(
                "花名册属于一个村；{code} 不是村 / a roster belongs to a village; {code} is not one"
            )));
        }
        let roster = Roster {
            id: auth::new_reference_id("roster"),
            village: code,
            fund: fund.trim().to_owned(),
            imported_at_ms: now_ms,
            households: households.clone(),
        };
        tx.put_roster(&roster)?;
        tx.bump_reference_version()?;
        tx.audit(&audit(
            "roster.import",
            serde_json::json!({ "village": roster.village, "fund": roster.fund, "households": roster.households.len() }),
            now_ms,
        ))?;
        Ok(roster)
    })
}

/// What `xuncha admin verify` found: how many log entries it walked, where the chain does
/// not hold, and the key the checkpoints must be signed with.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LogReport {
    pub entries: u64,
    pub checkpoints: usize,
    pub public_key: String,
    pub breaks: Vec<crate::chain::Break>,
}

/// Walks the whole change log and its checkpoints (see `chain::Verifier`), in pages.
pub fn verify_log(storage: &dyn Storage, key: &crate::chain::ServerKey) -> Result<LogReport> {
    let checkpoints = with_tx(storage, false, |tx| tx.checkpoints())?;
    let mut verifier = crate::chain::Verifier::new(&checkpoints);
    let mut after = 0;
    loop {
        let page = with_tx(storage, false, |tx| tx.log_rows(after, 5_000))?;
        let Some((last, _)) = page.last() else { break };
        after = last.seq;
        for (row, link) in &page {
            verifier.feed(row, link);
        }
    }
    let (entries, breaks) = verifier.finish(&checkpoints, &key.public_key());
    Ok(LogReport { entries, checkpoints: checkpoints.len(), public_key: hex::encode(key.public_key()), breaks })
}

/// Signs the chain where it stands now (skipped when the last checkpoint already covers
/// the head and `always` is false), and audit-logs it.
pub fn checkpoint(
    storage: &dyn Storage,
    key: &crate::chain::ServerKey,
    always: bool,
    now_ms: i64,
) -> Result<Option<crate::chain::Checkpoint>> {
    with_tx(storage, true, |tx| {
        let (seq, link) = tx.chain_head()?;
        if !always && tx.checkpoints()?.last().is_some_and(|c| c.seq == seq) {
            return Ok(None);
        }
        let checkpoint = key.checkpoint(seq, link, now_ms, &tx.server_id()?);
        tx.add_checkpoint(&checkpoint)?;
        tx.audit(&audit("log.checkpoint", serde_json::json!({ "seq": seq, "link": hex::encode(link) }), now_ms))?;
        Ok(Some(checkpoint))
    })
}
