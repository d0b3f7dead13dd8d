//! The record schema the editor renders, built from the domain's own definitions.

use xuncha_domain::{
    ClueSource, ContractObject, ContractStatus, Disposition, Field, FourWinds, FundIssue, FundType, InactionType,
    ItemList, Kinds, Outcome, PetitionChannel, PoliticalStatus, RecordKind, RelationKind, ReviewStatus, Vocabulary,
};

use crate::dto::{
    ChoiceInfo, FieldInfo, FundIssueInfo, ItemFieldInfo, KindInfo, ListInfo, Schema, StatusInfo, VocabularyInfo,
};

macro_rules! choices {
    ($ty:ty) => {
        <$ty>::ALL
            .iter()
            .map(|v| ChoiceInfo { code: v.code().to_owned(), zh: v.zh().to_owned(), en: v.en().to_owned() })
            .collect::<Vec<_>>()
    };
}

/// The schema of every record kind.
pub fn schema() -> Schema {
    let vocabularies = [
        (Vocabulary::FundType, choices!(FundType)),
        (Vocabulary::RelationKind, choices!(RelationKind)),
        (Vocabulary::ClueSource, choices!(ClueSource)),
        (Vocabulary::Disposition, choices!(Disposition)),
        (Vocabulary::ContractObject, choices!(ContractObject)),
        (Vocabulary::ContractStatus, choices!(ContractStatus)),
        (Vocabulary::FourWinds, choices!(FourWinds)),
        (Vocabulary::InactionType, choices!(InactionType)),
        (Vocabulary::PoliticalStatus, choices!(PoliticalStatus)),
        (Vocabulary::Outcome, choices!(Outcome)),
        (Vocabulary::PetitionChannel, choices!(PetitionChannel)),
    ]
    .into_iter()
    .map(|(vocabulary, choices)| VocabularyInfo { vocabulary, choices })
    .collect();
    Schema {
        kinds: RecordKind::ALL
            .iter()
            .map(|k| KindInfo { kind: *k, zh: k.zh().to_owned(), en: k.en().to_owned() })
            .collect(),
        fields: Field::ALL
            .iter()
            .map(|f| FieldInfo {
                field: *f,
                key: f.key().to_owned(),
                zh: f.zh().to_owned(),
                en: f.en().to_owned(),
                ty: f.ty(),
                kinds: match f.kinds() {
                    Kinds::All => Vec::new(),
                    Kinds::Only(kind) => vec![kind],
                },
            })
            .collect(),
        lists: ItemList::ALL
            .iter()
            .map(|l| ListInfo {
                list: *l,
                key: l.key().to_owned(),
                zh: l.zh().to_owned(),
                en: list_en(*l).to_owned(),
                kind: l.kind(),
                fields: l
                    .fields()
                    .map(|f| ItemFieldInfo {
                        field: f,
                        key: f.key().to_owned(),
                        zh: f.zh().to_owned(),
                        en: f.en().to_owned(),
                        ty: f.ty(),
                    })
                    .collect(),
            })
            .collect(),
        vocabularies,
        statuses: ReviewStatus::ALL
            .iter()
            .map(|s| StatusInfo {
                status: *s,
                zh: s.zh().to_owned(),
                en: s.en().to_owned(),
                next: xuncha_domain::workflow::RULES.iter().filter(|r| r.from == *s).map(|r| r.to).collect(),
                review_decision: xuncha_domain::workflow::RULES
                    .iter()
                    .any(|r| r.to == *s && r.who.first == xuncha_domain::Capacity::Office),
            })
            .collect(),
        fund_issues: FundIssue::ALL
            .iter()
            .map(|i| FundIssueInfo { issue: *i, zh: i.zh().to_owned(), en: i.en().to_owned() })
            .collect(),
    }
}

fn list_en(list: ItemList) -> &'static str {
    match list {
        ItemList::Beneficiaries => "Beneficiary households",
        ItemList::Subjects => "Subjects",
        ItemList::Relations => "Relations",
        ItemList::Contracts => "Contracts",
        ItemList::Turns => "Questions and answers",
    }
}
