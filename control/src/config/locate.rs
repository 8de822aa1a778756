//! Finding keys and lines in the file's text, for errors: by path after
//! parsing ([`locate`]), and by offset for the parser's own errors
//! ([`key_at`]), which get the same key labels as [`super::check`]'s.

use toml::de::{DeTable, DeValue};

/// A step in a key path: a table key or an array index.
pub(super) enum Seg<'a> {
    /// A key.
    Key(&'a str),
    /// An index into an array of tables.
    Index(usize),
}

/// 1-based line of a byte offset.
pub(super) fn line_of(src: &str, offset: usize) -> usize {
    src[..offset.min(src.len())].matches('\n').count() + 1
}

/// The line of a key given by path such as `port`, 2, `vlan`.
pub(super) fn locate(src: Option<&str>, path: &[Seg<'_>]) -> Option<usize> {
    let src = src?;
    let doc = DeTable::parse(src).ok()?;
    let mut table = doc.get_ref();
    let mut span = doc.span();
    let mut i = 0;
    while i < path.len() {
        let Seg::Key(k) = path[i] else { return None };
        let (key, value) = table.iter().find(|(key, _)| key.get_ref().as_ref() == k)?;
        span = key.span();
        i += 1;
        let mut v = value.get_ref();
        if let Some(Seg::Index(n)) = path.get(i) {
            let DeValue::Array(items) = v else {
                return None;
            };
            let item = items.get(*n)?;
            span = item.span();
            v = item.get_ref();
            i += 1;
        }
        if i < path.len() {
            let DeValue::Table(t) = v else { return None };
            table = t;
        }
    }
    Some(line_of(src, span.start))
}

/// The label of the key at byte `offset` (its name, its value, or the
/// header of its table): `switch.workers`, `port "vm1".vlan`,
/// `fdb.static[0].mac`.
pub(super) fn key_at(src: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(src).ok()?;
    let mut best = None;
    walk(doc.get_ref(), "", offset, &mut best);
    best
}

fn join(label: &str, key: &str) -> String {
    if label.is_empty() {
        key.to_string()
    } else {
        format!("{label}.{key}")
    }
}

/// Records in `best` the innermost key whose name, value or table header
/// contains `offset` (later, deeper matches win).
fn walk(table: &DeTable<'_>, label: &str, offset: usize, best: &mut Option<String>) {
    for (key, value) in table.iter() {
        let name = join(label, key.get_ref());
        let here = |s: std::ops::Range<usize>| s.contains(&offset) || s.start == offset;
        if here(key.span()) || here(value.span()) {
            *best = Some(name.clone());
        }
        match value.get_ref() {
            DeValue::Table(t) => walk(t, &name, offset, best),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let DeValue::Table(t) = item.get_ref() else {
                        continue;
                    };
                    // Ports are named by their name, as check names them.
                    let item_label = match (name.as_str(), t.get("name").map(|n| n.get_ref())) {
                        ("port", Some(DeValue::String(n))) => format!("port {:?}", n.as_ref()),
                        _ => format!("{name}[{i}]"),
                    };
                    if here(item.span()) {
                        *best = Some(item_label.clone());
                    }
                    walk(t, &item_label, offset, best);
                }
            }
            _ => {}
        }
    }
}
