//! Reference data of a round, owned by the server and synced to devices: administrative
//! divisions (province down to village), inspection rounds, teams with their people and
//! assigned places, and household rosters (花名册). Also the jurisdiction a user works in
//! (a division at any level) and who may read which record.

use serde::{Deserialize, Serialize};

use crate::codes::RecordKind;
use crate::money::Yuan;

/// The level of an administrative division, read from its 12-digit code
/// (PP CC DD TTT VVV: province, city, district, township, village).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Level {
    Province,
    City,
    District,
    Township,
    Village,
}

impl Level {
    /// How many leading digits of a code name a division of this level.
    pub fn digits(self) -> usize {
        match self {
            Level::Province => 2,
            Level::City => 4,
            Level::District => 6,
            Level::Township => 9,
            Level::Village => 12,
        }
    }

    /// The Chinese name of the level.
    pub fn zh(self) -> &'static str {
        match self {
            Level::Province => "省",
            Level::City => "市",
            Level::District => "区县",
            Level::Township => "乡镇",
            Level::Village => "村",
        }
    }
}

/// Whether `code` is twelve ASCII digits.
pub fn is_division_code(code: &str) -> bool {
    code.len() == 12 && code.bytes().all(|b| b.is_ascii_digit())
}

/// The level of a 12-digit division code: the last non-zero part decides it.
pub fn level_of(code: &str) -> Option<Level> {
    if !is_division_code(code) || code[..2] == *"00" {
        return None;
    }
    Some(if &code[9..] != "000" {
        Level::Village
    } else if &code[6..9] != "000" {
        Level::Township
    } else if &code[4..6] != "00" {
        Level::District
    } else if &code[2..4] != "00" {
        Level::City
    } else {
        Level::Province
    })
}

/// The significant leading digits of a code (`330199` for the district `330199000000`):
/// every division inside it has a code that starts with them.
pub fn prefix_of(code: &str) -> Option<&str> {
    level_of(code).map(|level| &code[..level.digits()])
}

/// One administrative division of the reference table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DivisionEntry {
    pub code: String,
    pub name: String,
    /// The code of the division it belongs to; empty for a province (or the top of an
    /// imported table).
    #[serde(default)]
    pub parent: String,
}

impl DivisionEntry {
    /// The division's level.
    pub fn level(&self) -> Option<Level> {
        level_of(&self.code)
    }
}

/// Where a user works: every division (`All`, the legacy `district` of servers that
/// hold one district), or the divisions under one code of any level.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Jurisdiction {
    All,
    Under(String),
}

impl Jurisdiction {
    /// The legacy name of the whole server's area.
    pub const ALL: &'static str = "district";

    /// Parses `district` or a 12-digit division code of any level.
    pub fn parse(text: &str) -> Option<Jurisdiction> {
        let text = text.trim();
        if text == Jurisdiction::ALL {
            return Some(Jurisdiction::All);
        }
        level_of(text).map(|_| Jurisdiction::Under(text.to_owned()))
    }

    /// Whether the division `code` (a township or village, or any level) lies inside.
    pub fn contains(&self, code: &str) -> bool {
        match self {
            Jurisdiction::All => true,
            Jurisdiction::Under(root) => prefix_of(root).is_some_and(|p| code.starts_with(p) && is_division_code(code)),
        }
    }

    /// The leading digits every code inside has (empty for `All`).
    pub fn prefix(&self) -> &str {
        match self {
            Jurisdiction::All => "",
            Jurisdiction::Under(root) => prefix_of(root).unwrap_or(root),
        }
    }

    /// The stored text.
    pub fn as_text(&self) -> &str {
        match self {
            Jurisdiction::All => Jurisdiction::ALL,
            Jurisdiction::Under(code) => code,
        }
    }
}

/// An inspection round (巡察轮次).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Round {
    /// A stable id the server gives it.
    pub id: String,
    pub name: String,
    /// `YYYY-MM-DD`.
    pub start: String,
    pub end: String,
    /// The units inspected (被巡察单位).
    #[serde(default)]
    pub units: Vec<String>,
}

/// A person's place in a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum TeamRole {
    /// 组长
    Lead,
    /// 副组长
    Deputy,
    /// 组员
    Member,
}

impl TeamRole {
    /// The Chinese name.
    pub fn zh(self) -> &'static str {
        match self {
            TeamRole::Lead => "组长",
            TeamRole::Deputy => "副组长",
            TeamRole::Member => "组员",
        }
    }
}

/// An inspection team (巡察组) of a round, with its people and assigned places.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Team {
    pub id: String,
    pub name: String,
    /// The round's id.
    pub round: String,
    /// The 组长's user id.
    pub lead: String,
    /// The 副组长s' user ids.
    #[serde(default)]
    pub deputies: Vec<String>,
    #[serde(default)]
    pub members: Vec<String>,
    /// Assigned townships and villages (division codes).
    #[serde(default)]
    pub places: Vec<String>,
    /// Assigned units (被巡察单位).
    #[serde(default)]
    pub units: Vec<String>,
}

impl Team {
    /// The user's place in the team, if any.
    pub fn role_of(&self, user: &str) -> Option<TeamRole> {
        if self.lead == user {
            Some(TeamRole::Lead)
        } else if self.deputies.iter().any(|d| d == user) {
            Some(TeamRole::Deputy)
        } else if self.members.iter().any(|m| m == user) {
            Some(TeamRole::Member)
        } else {
            None
        }
    }

    /// Whether a division (a village, or a township) is in the team's assignment.
    pub fn covers(&self, code: &str) -> bool {
        self.places.iter().filter_map(|p| prefix_of(p)).any(|p| code.starts_with(p)) && is_division_code(code)
    }

    /// Every user of the team.
    pub fn people(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.lead.as_str())
            .chain(self.deputies.iter().map(String::as_str))
            .chain(self.members.iter().map(String::as_str))
    }
}

/// One household of a roster (花名册), as a tablet receives it: ID and account numbers
/// masked to their last four digits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RosterHousehold {
    /// 户主
    pub head: String,
    /// 身份证号
    pub id_number: String,
    /// 一卡通/社保卡账号
    pub account: String,
    /// 应享金额
    pub entitled: Yuan,
    /// 发放日期 (`YYYY-MM-DD`, or empty)
    #[serde(default)]
    pub paid_on: String,
    /// 组别 (the village group)
    #[serde(default)]
    pub group: String,
    /// 联系电话
    #[serde(default)]
    pub phone: String,
}

impl RosterHousehold {
    /// The household as a tablet may hold it: ID, account and phone numbers masked.
    pub fn masked(&self) -> RosterHousehold {
        RosterHousehold {
            id_number: mask_tail(&self.id_number, 4),
            account: mask_tail(&self.account, 4),
            phone: mask_tail(&self.phone, 4),
            ..self.clone()
        }
    }
}

/// `secret` with every character but the last `keep` replaced by `*`
/// (`330199198001011234` → `**************1234`).
pub fn mask_tail(secret: &str, keep: usize) -> String {
    let count = secret.chars().count();
    secret.chars().enumerate().map(|(i, c)| if i + keep < count { '*' } else { c }).collect()
}

/// A fund's household roster of one village.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Roster {
    pub id: String,
    /// The village's division code.
    pub village: String,
    /// The fund (资金或项目名称).
    pub fund: String,
    pub imported_at_ms: i64,
    pub households: Vec<RosterHousehold>,
}

/// Someone a device may see as the author of a change or a member of a team: the user
/// directory of the reference data, so that history shows names the server vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Person {
    pub id: String,
    pub name: String,
}

/// A tablet or desktop as history names it: its id, the name it enrolled with, and whose it
/// is. The device directory of the reference data, so that a change reads "王巡察 · 东岭组平板"
/// rather than a device id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DeviceEntry {
    pub id: String,
    pub name: String,
    pub user: String,
}

/// Everything of the reference data one device receives.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reference {
    pub divisions: Vec<DivisionEntry>,
    pub rounds: Vec<Round>,
    pub teams: Vec<Team>,
    pub rosters: Vec<Roster>,
    /// The user directory (servers before it sent none).
    #[serde(default)]
    pub people: Vec<Person>,
    /// The devices of the people in `people` (servers before it sent none).
    #[serde(default)]
    pub devices: Vec<DeviceEntry>,
}

/// Who reads: what a device may receive follows from its user's role, jurisdiction and
/// teams. The server runs this on every path (sync, attachments, reference data).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ReadScope {
    /// The places whose records the user sees: division code prefixes (empty: none;
    /// one empty prefix: everything).
    pub places: Vec<String>,
    /// Gang clues of every team in those places (supervisors, users in no team), or only
    /// of `gang_teams`.
    pub all_gang_clues: bool,
    pub gang_teams: Vec<String>,
    /// Every protected companion in those places (supervisors), or only those of records
    /// the device owns.
    pub all_protected: bool,
    /// Whether household rosters are sent (not to supervisors, who review but do not visit).
    pub rosters: bool,
}

/// A user's part in deciding what they read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    Inspector,
    TeamLead,
    Supervisor,
    Administrator,
}

impl ReadScope {
    /// What a user reads. A user in no team of any round keeps the rule of servers before
    /// teams: every record in the jurisdiction. A user in teams reads their teams'
    /// assigned places (within the jurisdiction), and only their own teams' gang clues.
    pub fn of(reader: Reader, jurisdiction: &Jurisdiction, user: &str, teams: &[Team]) -> ReadScope {
        let mine: Vec<&Team> = teams.iter().filter(|t| t.role_of(user).is_some()).collect();
        let supervisor = matches!(reader, Reader::Supervisor);
        if supervisor || mine.is_empty() {
            return ReadScope {
                places: vec![jurisdiction.prefix().to_owned()],
                all_gang_clues: true,
                gang_teams: Vec::new(),
                all_protected: supervisor,
                rosters: !supervisor,
            };
        }
        let mut places: Vec<String> = mine
            .iter()
            .flat_map(|t| t.places.iter())
            .filter(|p| jurisdiction.contains(p))
            .filter_map(|p| prefix_of(p).map(str::to_owned))
            .collect();
        places.sort();
        places.dedup();
        let mut gang_teams: Vec<String> = mine.iter().map(|t| t.id.clone()).collect();
        gang_teams.sort();
        ReadScope { places, all_gang_clues: false, gang_teams, all_protected: false, rosters: true }
    }

    /// Whether a division code lies in the scope's places.
    pub fn covers(&self, code: &str) -> bool {
        self.places.iter().any(|p| code.starts_with(p.as_str()))
    }

    /// Whether a record of `kind` in `place` (its village, or its township while it has no
    /// village) found by `team` (empty: no team) may be read.
    pub fn admits(&self, kind: Option<RecordKind>, place: &str, team: &str) -> bool {
        let place_ok = self.covers(place) && (is_division_code(place) || self.places.iter().any(String::is_empty));
        let gang_ok = kind != Some(RecordKind::GangClue)
            || self.all_gang_clues
            || (!team.is_empty() && self.gang_teams.iter().any(|t| t == team));
        place_ok && gang_ok
    }

    /// The team of `user` whose assignment covers `place`, which a new record there is
    /// counted to (the first in id order; empty when none).
    pub fn team_for<'a>(user: &str, place: &str, teams: &'a [Team]) -> Option<&'a Team> {
        teams.iter().filter(|t| t.role_of(user).is_some() && t.covers(place)).min_by(|a, b| a.id.cmp(&b.id))
    }

    /// A short stable fingerprint of the scope, carried in sync cursors: when it changes,
    /// the device is told what it may no longer hold.
    pub fn fingerprint(&self) -> [u8; 8] {
        // FNV-1a over the canonical JSON: stable across releases and platforms.
        let text = serde_json::to_string(self).unwrap_or_default();
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash.to_be_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(id: &str, lead: &str, members: &[&str], places: &[&str]) -> Team {
        Team {
            id: id.into(),
            name: format!("第{id}巡察组"),
            round: "r1".into(),
            lead: lead.into(),
            deputies: vec![],
            members: members.iter().map(|m| (*m).into()).collect(),
            places: places.iter().map(|p| (*p).into()).collect(),
            units: vec![],
        }
    }

    #[test]
    fn levels_and_prefixes_follow_the_code() {
        for (code, level, prefix) in [
            ("330000000000", Level::Province, "33"),
            ("330100000000", Level::City, "3301"),
            ("330199000000", Level::District, "330199"),
            ("330199101000", Level::Township, "330199101"),
            ("330199101001", Level::Village, "330199101001"),
        ] {
            assert_eq!(level_of(code), Some(level), "{code}");
            assert_eq!(prefix_of(code), Some(prefix), "{code}");
        }
        for bad in ["", "33019910100", "3301991010011", "00019910100x", "000000000000"] {
            assert_eq!(level_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn jurisdictions_contain_what_lies_under_them() {
        let district = Jurisdiction::parse("330199000000").unwrap();
        assert!(district.contains("330199101001"));
        assert!(district.contains("330199101000"));
        assert!(!district.contains("330198101001"));
        assert!(!district.contains(""));
        assert!(Jurisdiction::parse("district").unwrap().contains(""));
        assert_eq!(Jurisdiction::parse("33019910100"), None);
        assert_eq!(Jurisdiction::parse("330199101000").unwrap().prefix(), "330199101");
    }

    #[test]
    fn masks_keep_the_last_four() {
        assert_eq!(mask_tail("330199198001011234", 4), "**************1234");
        assert_eq!(mask_tail("123", 4), "123");
        assert_eq!(mask_tail("", 4), "");
    }

    #[test]
    fn team_members_read_their_places_and_their_own_gang_clues() {
        let teams = [
            team("t1", "lead1", &["ann"], &["330199101000"]),
            team("t2", "lead2", &["bob"], &["330199102001", "330199102002"]),
        ];
        let all = Jurisdiction::All;
        let ann = ReadScope::of(Reader::Inspector, &all, "ann", &teams);
        assert!(ann.admits(Some(RecordKind::FundCheck), "330199101003", ""));
        assert!(!ann.admits(Some(RecordKind::FundCheck), "330199102001", ""));
        assert!(ann.admits(Some(RecordKind::GangClue), "330199101003", "t1"));
        assert!(!ann.admits(Some(RecordKind::GangClue), "330199101003", "t2"));
        assert!(!ann.admits(Some(RecordKind::GangClue), "330199101003", ""));
        let bob = ReadScope::of(Reader::TeamLead, &all, "bob", &teams);
        assert!(bob.admits(None, "330199102002", ""));
        assert!(!bob.admits(None, "330199102003", ""));
        assert!(!bob.admits(None, "", ""));
        // No team: today's rule, the jurisdiction.
        let carol = ReadScope::of(Reader::Inspector, &Jurisdiction::parse("330199101000").unwrap(), "carol", &teams);
        assert!(carol.admits(Some(RecordKind::GangClue), "330199101009", "t2"));
        assert!(!carol.admits(None, "330199102001", ""));
        let boss = ReadScope::of(Reader::Supervisor, &Jurisdiction::parse("330199000000").unwrap(), "lead1", &teams);
        assert!(boss.all_protected && !boss.rosters);
        assert!(boss.admits(Some(RecordKind::GangClue), "330199102001", "t2"));
        assert!(!boss.admits(None, "330198102001", ""));
        assert_ne!(ann.fingerprint(), bob.fingerprint());
        assert_eq!(ann.fingerprint(), ReadScope::of(Reader::Inspector, &all, "ann", &teams).fingerprint());
        assert_eq!(ReadScope::team_for("bob", "330199102001", &teams).map(|t| t.id.as_str()), Some("t2"));
        assert_eq!(ReadScope::team_for("bob", "330199101001", &teams), None);
    }
}
