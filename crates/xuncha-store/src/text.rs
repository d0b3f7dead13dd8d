//! Chinese full-text search without a word segmenter: runs of CJK characters are indexed
//! as overlapping bigrams (plus the run's last character alone), other words as they are,
//! all in an FTS5 `unicode61` index. A query becomes the phrase of the same tokens, which
//! matches exactly where the query is a substring of the text; a query of one character
//! is a prefix query. Unlike a trigram index, this finds the two-character terms Chinese
//! is full of (低保, 村委, 截留) through the index.

/// Whether `c` is a CJK ideograph (the characters Chinese words are made of).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF | 0x2A700..=0x2EBEF | 0x30000..=0x3134F)
}

/// A piece of text: a run of CJK ideographs, or a run of anything else.
enum Run<'a> {
    Cjk(Vec<char>),
    Other(&'a str),
}

fn runs(text: &str) -> Vec<Run<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut cjk: Vec<char> = Vec::new();
    for (i, c) in text.char_indices() {
        if is_cjk(c) {
            if cjk.is_empty() && start < i {
                out.push(Run::Other(&text[start..i]));
            }
            cjk.push(c);
            start = i + c.len_utf8();
        } else if !cjk.is_empty() {
            out.push(Run::Cjk(std::mem::take(&mut cjk)));
            start = i;
        }
    }
    if !cjk.is_empty() {
        out.push(Run::Cjk(cjk));
    } else if start < text.len() {
        out.push(Run::Other(&text[start..]));
    }
    out
}

fn push_bigrams(out: &mut String, chars: &[char]) {
    for pair in chars.windows(2) {
        out.push(pair[0]);
        out.push(pair[1]);
        out.push(' ');
    }
}

/// The text to put in the index for `text`.
pub(crate) fn index_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for run in runs(text) {
        match run {
            Run::Cjk(chars) => {
                push_bigrams(&mut out, &chars);
                if let Some(last) = chars.last() {
                    out.push(*last);
                    out.push(' ');
                }
            }
            Run::Other(other) => {
                out.push_str(other);
                out.push(' ');
            }
        }
    }
    out
}

/// Quotes a token for an FTS5 query.
fn quoted(token: &str) -> String {
    format!("\"{}\"", token.replace('"', "\"\""))
}

/// The FTS5 query for one whitespace-separated query word: `None` when the word has
/// nothing to search for (only punctuation).
fn word_query(word: &str) -> Option<String> {
    let runs = runs(word);
    let mut tokens: Vec<String> = Vec::new();
    let mut prefix = false;
    let count = runs.len();
    for (index, run) in runs.into_iter().enumerate() {
        let last_run = index + 1 == count;
        match run {
            Run::Cjk(chars) => {
                if chars.len() == 1 {
                    tokens.push(chars[0].to_string());
                    prefix = last_run;
                } else {
                    for pair in chars.windows(2) {
                        tokens.push(pair.iter().collect());
                    }
                    if !last_run {
                        tokens.push(chars[chars.len() - 1].to_string());
                    }
                }
            }
            Run::Other(other) => {
                tokens.extend(other.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_owned));
                prefix = false;
            }
        }
    }
    if tokens.is_empty() {
        return None;
    }
    let phrase = quoted(&tokens.join(" "));
    Some(if prefix { format!("{phrase}*") } else { phrase })
}

/// The FTS5 query for what a person typed: every word must occur. `None` when there is
/// nothing to search for.
pub(crate) fn query(text: &str) -> Option<String> {
    let words: Vec<String> = text.split_whitespace().filter_map(word_query).collect();
    (!words.is_empty()).then(|| words.join(" AND "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_bigrams_and_queries_them_as_phrases() {
        assert_eq!(index_text("低保名额"), "低保 保名 名额 额 ");
        assert_eq!(index_text("2023年度资金"), "2023 年度 度资 资金 金 ");
        assert_eq!(query("低保"), Some("\"低保\"".into()));
        assert_eq!(query("保名额"), Some("\"保名 名额\"".into()));
        assert_eq!(query("村"), Some("\"村\"*".into()));
        assert_eq!(query("年度2023"), Some("\"年度 度 2023\"".into()));
        assert_eq!(query("低保 截留"), Some("\"低保\" AND \"截留\"".into()));
        assert_eq!(query("，。"), None);
        assert_eq!(query("say \"hi\""), Some("\"say\" AND \"hi\"".into()));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// The index finds a Chinese word exactly where it is a substring of the text.
        #[test]
        fn finds_exactly_the_substrings(
            texts in proptest::collection::vec("[低保村委会截留补贴 ab12，]{0,12}", 1..8),
            word in "[低保村委会截留补贴]{1,4}",
        ) {
            let conn = rusqlite::Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE VIRTUAL TABLE t USING fts5 (x, tokenize = 'unicode61 remove_diacritics 0')").unwrap();
            for (i, text) in texts.iter().enumerate() {
                conn.execute("INSERT INTO t (rowid, x) VALUES (?1, ?2)", rusqlite::params![i as i64, index_text(text)]).unwrap();
            }
            let found: Vec<usize> = match query(&word) {
                None => Vec::new(),
                Some(q) => {
                    let mut stmt = conn.prepare("SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid").unwrap();
                    stmt.query_map([q], |row| row.get::<_, i64>(0)).unwrap().map(|r| r.unwrap() as usize).collect()
                }
            };
            let expected: Vec<usize> =
                texts.iter().enumerate().filter(|(_, text)| text.contains(word.as_str())).map(|(i, _)| i).collect();
            proptest::prop_assert_eq!(found, expected);
        }
    }
}
