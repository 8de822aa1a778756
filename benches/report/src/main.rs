//! Turns the raw rows that `scripts/bench` collects (TSV files written by
//! `benches/e2e/compare.sh` and `benches/e2e/run.sh`) into the published
//! report: `report.json`, `report.md` and SVG plots.
//!
//!   vswitch-bench-report RAW_DIR OUT_DIR [README]
//!
//! With README, the summary table also replaces what stands between the
//! `<!-- bench-summary:start -->` and `<!-- bench-summary:end -->` lines
//! there, so README's copy is generated too.
//!
//! Every figure is a median over the run's repeats with its min-max spread;
//! nothing in OUT_DIR is meant to be edited by hand.

mod data;
mod plot;
mod render;

use std::path::Path;

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (raw, out, readme) = match args.as_slice() {
        [_, raw, out] => (raw, out, None),
        [_, raw, out, readme] => (raw, out, Some(Path::new(readme))),
        _ => anyhow::bail!("usage: vswitch-bench-report RAW_DIR OUT_DIR [README]"),
    };
    let (raw, out) = (Path::new(raw), Path::new(out));
    let report = data::Report::load(raw).with_context(|| format!("reading {}", raw.display()))?;
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&report.to_json())? + "\n",
    )?;
    std::fs::write(out.join("report.md"), render::markdown(&report))?;
    plot::all(&report, out)?;
    if let Some(readme) = readme {
        let text = std::fs::read_to_string(readme)?;
        let new = render::splice(&text, &render::summary(&report))
            .context("README lacks the bench-summary markers")?;
        std::fs::write(readme, new)?;
    }
    println!("wrote {}", out.display());
    Ok(())
}
