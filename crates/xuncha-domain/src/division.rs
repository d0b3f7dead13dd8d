//! Administrative divisions (township, village): a 12-digit statistical division code
//! (统计用区划代码) and a name.

use serde::{Deserialize, Serialize};

/// A township or village: its 12-digit division code and its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Division {
    pub code: String,
    pub name: String,
}

impl Division {
    /// A division; the shape of the code is checked by validation, not here, so that a
    /// draft can hold what the inspector typed.
    pub fn new(code: impl Into<String>, name: impl Into<String>) -> Division {
        Division { code: code.into(), name: name.into() }
    }

    /// Parses `CODE:NAME` (or `CODE：NAME`).
    pub fn parse(text: &str) -> Option<Division> {
        let (code, name) = text.split_once(':').or_else(|| text.split_once('：'))?;
        Some(Division::new(code.trim(), name.trim()))
    }

    /// Whether the code is twelve ASCII digits.
    pub fn has_code_shape(&self) -> bool {
        self.code.len() == 12 && self.code.bytes().all(|b| b.is_ascii_digit())
    }

    /// Whether this is a well-formed township code (…XXX000, with a non-zero township part).
    pub fn is_township_code(&self) -> bool {
        self.has_code_shape() && self.code.ends_with("000") && &self.code[6..9] != "000"
    }

    /// Whether this is a well-formed village code inside `township`.
    pub fn is_village_code_in(&self, township: &Division) -> bool {
        self.has_code_shape()
            && !self.code.ends_with("000")
            && township.has_code_shape()
            && self.code[..9] == township.code[..9]
    }
}

impl std::fmt::Display for Division {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.code, self.name)
    }
}
