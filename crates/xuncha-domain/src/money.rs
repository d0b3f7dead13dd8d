//! Exact fixed-point quantities: amounts in yuan (counted in fen) and areas in mu
//! (counted in hundredths). Never floats.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::DomainError;

/// Parses a decimal with at most two fractional digits into hundredths.
/// Accepts an optional sign, thousands separators (`,` or `，`) and a trailing unit.
/// Refuses magnitudes above `max` hundredths, so that sums over a district can never overflow.
fn parse_hundredths(input: &str, units: &[&str], max: i64) -> Option<i64> {
    let mut text: String = input.trim().chars().filter(|c| *c != ',' && *c != '，').collect();
    for unit in units {
        if let Some(stripped) = text.strip_suffix(unit) {
            text = stripped.trim_end().to_owned();
            break;
        }
    }
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, f),
        None => (digits, ""),
    };
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    if fraction.len() > 2 {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut frac: i64 = if fraction.is_empty() { 0 } else { fraction.parse().ok()? };
    if fraction.len() == 1 {
        frac *= 10;
    }
    let value = whole.checked_mul(100)?.checked_add(frac)?;
    if value > max {
        return None;
    }
    Some(if negative { -value } else { value })
}

fn format_hundredths(value: i64, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let sign = if value < 0 { "-" } else { "" };
    let abs = value.unsigned_abs();
    write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
}

/// An amount of money in yuan, held exactly as a whole number of fen (0.01 yuan).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Yuan(#[cfg_attr(feature = "ts", ts(type = "string"))] i64);

impl Yuan {
    /// Zero yuan.
    pub const ZERO: Yuan = Yuan(0);

    /// The largest amount accepted from input: one trillion yuan, in fen.
    pub const MAX_FEN: i64 = 100_000_000_000_000;

    /// An amount of `fen` fen.
    pub const fn from_fen(fen: i64) -> Yuan {
        Yuan(fen)
    }

    /// A whole number of yuan.
    pub const fn from_yuan(yuan: i64) -> Yuan {
        Yuan(yuan * 100)
    }

    /// The amount in fen.
    pub const fn fen(self) -> i64 {
        self.0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Adds, or `None` on overflow.
    pub fn checked_add(self, other: Yuan) -> Option<Yuan> {
        self.0.checked_add(other.0).map(Yuan)
    }

    /// The amount as reports print it: thousands separated, two decimals (`1,234,567.80`).
    /// Parses back to the same amount.
    pub fn grouped(self) -> String {
        let abs = self.0.unsigned_abs();
        let whole = (abs / 100).to_string();
        let mut out = String::with_capacity(whole.len() * 4 / 3 + 4);
        if self.0 < 0 {
            out.push('-');
        }
        for (index, digit) in whole.chars().enumerate() {
            if index > 0 && (whole.len() - index).is_multiple_of(3) {
                out.push(',');
            }
            out.push(digit);
        }
        out.push_str(&format!(".{:02}", abs % 100));
        out
    }
}

impl FromStr for Yuan {
    type Err = DomainError;

    /// Parses `1234.5`, `1,234.50`, `1234.50元`. More than two decimals, letters or
    /// an empty string are errors: money is never rounded silently.
    fn from_str(s: &str) -> Result<Yuan, DomainError> {
        parse_hundredths(s, &["元", "yuan", "CNY"], Yuan::MAX_FEN)
            .map(Yuan)
            .ok_or_else(|| DomainError::BadAmount { input: s.to_owned() })
    }
}

impl fmt::Display for Yuan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_hundredths(self.0, f)
    }
}

impl Serialize for Yuan {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Yuan {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Yuan, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An area in mu (亩), held exactly as a whole number of hundredths of a mu.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Mu(#[cfg_attr(feature = "ts", ts(type = "string"))] i64);

impl Mu {
    /// The largest area accepted from input: one hundred million mu, in hundredths.
    pub const MAX_HUNDREDTHS: i64 = 10_000_000_000;

    /// An area of `hundredths` hundredths of a mu.
    pub const fn from_hundredths(hundredths: i64) -> Mu {
        Mu(hundredths)
    }

    /// The area in hundredths of a mu.
    pub const fn hundredths(self) -> i64 {
        self.0
    }

    /// Whether the area is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl FromStr for Mu {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Mu, DomainError> {
        parse_hundredths(s, &["亩", "mu"], Mu::MAX_HUNDREDTHS)
            .map(Mu)
            .ok_or_else(|| DomainError::BadArea { input: s.to_owned() })
    }
}

impl fmt::Display for Mu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_hundredths(self.0, f)
    }
}

impl Serialize for Mu {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Mu {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Mu, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_amounts_exactly() {
        let cases: &[(&str, Option<i64>)] = &[
            ("0", Some(0)),
            ("1234.5", Some(123_450)),
            ("1,234.56", Some(123_456)),
            ("１", None),
            ("36000000元", Some(3_600_000_000)),
            (".5", Some(50)),
            ("-12.30", Some(-1230)),
            ("12.345", None),
            ("12a", None),
            ("", None),
            ("-", None),
            ("1e5", None),
            ("99999999999999999999", None),
            ("1000000000000", Some(100_000_000_000_000)),
            ("1000000000000.01", None),
        ];
        for (input, want) in cases {
            let got = input.parse::<Yuan>().ok().map(Yuan::fen);
            assert_eq!(got, *want, "input {input:?}");
        }
    }

    #[test]
    fn formats_and_round_trips() {
        for fen in [0, 5, 50, 123_456, -1230, Yuan::MAX_FEN] {
            let yuan = Yuan::from_fen(fen);
            assert_eq!(yuan.to_string().parse::<Yuan>().unwrap(), yuan);
        }
        assert_eq!(Yuan::from_fen(-5).to_string(), "-0.05");
        let grouped: &[(i64, &str)] = &[
            (0, "0.00"),
            (5, "0.05"),
            (99_999, "999.99"),
            (100_000, "1,000.00"),
            (123_456_780, "1,234,567.80"),
            (-100_000_050, "-1,000,000.50"),
            (Yuan::MAX_FEN, "1,000,000,000,000.00"),
            (i64::MIN, "-92,233,720,368,547,758.08"),
        ];
        for (fen, want) in grouped {
            assert_eq!(Yuan::from_fen(*fen).grouped(), *want);
            if fen.unsigned_abs() <= Yuan::MAX_FEN.unsigned_abs() {
                assert_eq!(want.parse::<Yuan>().unwrap().fen(), *fen, "{want} parses back");
            }
        }
        assert_eq!("2200亩".parse::<Mu>().unwrap().hundredths(), 220_000);
    }
}
