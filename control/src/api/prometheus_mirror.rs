//! The mirror sessions' families of the Prometheus text
//! (`vswitch_mirror_copies_total{mirror="span1"}` and
//! `vswitch_mirror_dropped_total`).

use std::collections::BTreeMap;
use std::fmt::Write;

use super::prometheus::{escape, family};
use super::results::MirrorStats;

/// A family: name, help, value.
type Family = (&'static str, &'static str, fn(&MirrorStats) -> u64);

/// Appends the mirror families (nothing without sessions).
pub(super) fn render(out: &mut String, mirrors: &BTreeMap<String, MirrorStats>) {
    if mirrors.is_empty() {
        return;
    }
    let families: [Family; 2] = [
        (
            "vswitch_mirror_copies_total",
            "Frames a mirror session copied to its output port.",
            |m| m.copies,
        ),
        (
            "vswitch_mirror_dropped_total",
            "Mirror copies the output port could not take.",
            |m| m.dropped,
        ),
    ];
    for (name, help, value) in families {
        family(out, name, "counter", help);
        for (mirror, m) in mirrors {
            let _ = writeln!(out, "{name}{{mirror=\"{}\"}} {}", escape(mirror), value(m));
        }
    }
}
