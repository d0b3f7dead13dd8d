//! Findings: what a record shows that a reviewer should look at, such as a fund check's
//! shortfall (差额). Unlike validation problems they never block submitting for review.

use serde::Serialize;

use crate::field::{Field, ItemField, ItemList};
use crate::ids::ItemId;
use crate::money::Yuan;
use crate::record::Record;

/// One observation about a record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Finding {
    /// Where: a field key or `list/item/field`, as in [`crate::Problem`].
    pub path: String,
    /// A stable code the UI can branch on.
    pub code: &'static str,
    pub zh: String,
    pub en: String,
}

/// One household of a fund check with both amounts entered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct HouseholdShortfall {
    pub item: ItemId,
    pub head: String,
    pub entitled: Yuan,
    pub received: Yuan,
    /// 差额: entitled − received; positive when the household received less.
    pub difference: Yuan,
}

/// A fund check's households with their differences and the table's totals.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Shortfall {
    /// Households with both amounts entered, in list order.
    pub households: Vec<HouseholdShortfall>,
    /// 应享合计: over every household with an entitled amount.
    pub entitled: Yuan,
    /// 实领合计: over every household with a received amount.
    pub received: Yuan,
    /// 差额合计: what households received short, the sum of the positive differences
    /// (a household paid more than entitled is a validation problem, not a credit).
    pub shortfall: Yuan,
    /// Whether any household has a received amount.
    pub any_received: bool,
}

/// Sums amounts without overflowing (a damaged or hostile document may hold any i64).
fn sum(amounts: impl Iterator<Item = Yuan>) -> Yuan {
    Yuan::from_fen(amounts.fold(0i64, |total, y| total.saturating_add(y.fen())))
}

impl Record {
    /// The shortfall table of a fund check (empty for other kinds).
    pub fn shortfall(&self) -> Shortfall {
        let items = self.items(ItemList::Beneficiaries);
        let households: Vec<HouseholdShortfall> = items
            .iter()
            .filter_map(|item| {
                let (entitled, received) = (item.money(ItemField::Entitled)?, item.money(ItemField::Received)?);
                Some(HouseholdShortfall {
                    item: item.id,
                    head: item.text(ItemField::Head).unwrap_or_default().to_owned(),
                    entitled,
                    received,
                    difference: Yuan::from_fen(entitled.fen().saturating_sub(received.fen())),
                })
            })
            .collect();
        Shortfall {
            entitled: sum(items.iter().filter_map(|i| i.money(ItemField::Entitled))),
            received: sum(items.iter().filter_map(|i| i.money(ItemField::Received))),
            shortfall: sum(households.iter().map(|h| h.difference).filter(|d| d.fen() > 0)),
            any_received: items.iter().any(|i| i.money(ItemField::Received).is_some()),
            households,
        }
    }
}

/// Every finding of `record`: each household that received less than it was entitled to,
/// and households' received total that differs from the amount disbursed.
pub fn findings(record: &Record) -> Vec<Finding> {
    let table = record.shortfall();
    let mut findings: Vec<Finding> = table
        .households
        .iter()
        .filter(|h| h.difference.fen() > 0)
        .map(|h| Finding {
            path: format!("{}/{}/{}", ItemList::Beneficiaries.key(), h.item, ItemField::Received.key()),
            code: "received_below_entitled",
            zh: format!("实领少于应享 {} 元", h.difference.grouped()),
            en: format!("received {} yuan less than entitled", h.difference.grouped()),
        })
        .collect();
    if let Some(disbursed) = record.money(Field::Disbursed)
        && table.any_received
        && table.received != disbursed
    {
        let (received, disbursed) = (table.received.grouped(), disbursed.grouped());
        findings.push(Finding {
            path: Field::Disbursed.key().to_owned(),
            code: "received_total_differs",
            zh: format!("农户实领合计 {received} 元与发放金额 {disbursed} 元不符"),
            en: format!("households received {received} yuan in total, but {disbursed} yuan was disbursed"),
        });
    }
    findings
}
