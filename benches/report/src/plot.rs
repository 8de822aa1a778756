//! The SVG plots (plotters, SVG backend only: text is written as SVG
//! `<text>`, so no font files are needed).

use std::path::Path;

use plotters::prelude::*;

use crate::data::{label, Report};

const SIZE: (u32, u32) = (960, 540);

fn color(i: usize) -> RGBColor {
    // Distinct, print-safe colours (Okabe-Ito, then greys).
    const C: [(u8, u8, u8); 10] = [
        (0, 114, 178),
        (213, 94, 0),
        (0, 158, 115),
        (204, 121, 167),
        (230, 159, 0),
        (86, 180, 233),
        (120, 120, 120),
        (0, 0, 0),
        (240, 228, 66),
        (170, 170, 170),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

type Series = (String, Vec<(f64, f64)>);

/// Lines with points, one per series, and a legend.
#[allow(clippy::too_many_arguments)]
fn lines(
    path: &Path,
    title: &str,
    x_desc: &str,
    y_desc: &str,
    series: &[Series],
    x_log: bool,
    y_log: bool,
    x_labels: Option<&[String]>,
) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let pts = series.iter().flat_map(|s| s.1.iter().copied());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in pts {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        root.draw(&Text::new(
            format!("{title}: no data"),
            (20, 20),
            ("sans-serif", 20),
        ))?;
        root.present()?;
        return Ok(());
    }
    let pad = |a: f64, b: f64| if b > a { (b - a) * 0.05 } else { 1.0 };
    let mut chart = ChartBuilder::on(&root);
    chart
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70);
    let style = |s: &Series, i: usize| {
        let c = color(i);
        (c, s.0.clone())
    };
    macro_rules! draw {
        ($chart:expr) => {{
            let mut chart = $chart;
            let mut mesh = chart.configure_mesh();
            mesh.x_desc(x_desc).y_desc(y_desc);
            let fmt_x = |x: &f64| match x_labels {
                Some(l) if (x - x.round()).abs() < 1e-6 && *x >= 0.0 => {
                    l.get(x.round() as usize).cloned().unwrap_or_default()
                }
                Some(_) => String::new(),
                None => format!("{x}"),
            };
            if x_labels.is_some() {
                mesh.x_labels(x_labels.map_or(10, |l| l.len() * 2 + 1));
            }
            mesh.x_label_formatter(&fmt_x).draw()?;
            for (i, s) in series.iter().enumerate() {
                let (c, name) = style(s, i);
                chart
                    .draw_series(LineSeries::new(s.1.iter().copied(), c.stroke_width(2)))?
                    .label(name)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2))
                    });
                chart.draw_series(s.1.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperRight)
                .draw()?;
        }};
    }
    let xr = if x_log {
        (x0 * 0.8)..(x1 * 1.25)
    } else {
        (x0 - pad(x0, x1))..(x1 + pad(x0, x1))
    };
    let yr = if y_log {
        (y0.max(1e-3) * 0.7)..(y1 * 1.5)
    } else {
        0.0..(y1 + pad(0.0, y1))
    };
    match (x_log, y_log) {
        (false, false) => draw!(chart.build_cartesian_2d(xr, yr)?),
        (true, false) => draw!(chart.build_cartesian_2d(xr.log_scale(), yr)?),
        (false, true) => draw!(chart.build_cartesian_2d(xr, yr.log_scale())?),
        (true, true) => draw!(chart.build_cartesian_2d(xr.log_scale(), yr.log_scale())?),
    }
    root.present()?;
    Ok(())
}

pub fn all(r: &Report, out: &Path) -> anyhow::Result<()> {
    // Throughput by frame size, one line per path.
    let series: Vec<Series> = r
        .peers
        .iter()
        .map(|p| {
            let pts = r
                .udp
                .iter()
                .filter(|u| &u.peer == p)
                .filter_map(|u| Some((f64::from(u.size), u.delivered_mpps?.med)))
                .collect();
            (label(p), pts)
        })
        .filter(|s: &Series| !s.1.is_empty())
        .collect();
    lines(
        &out.join("throughput.svg"),
        "UDP flat out: delivered Mpps by frame size (median of runs)",
        "frame size, bytes",
        "delivered Mpps",
        &series,
        false,
        false,
        None,
    )?;

    // CPU per packet at the fixed rates.
    let series: Vec<Series> = r
        .peers
        .iter()
        .map(|p| {
            let pts = r
                .rate
                .iter()
                .filter(|x| &x.peer == p)
                .filter_map(|x| Some((f64::from(x.pct), x.cpu_ns?.med)))
                .collect();
            (label(p), pts)
        })
        .filter(|s: &Series| !s.1.is_empty())
        .collect();
    lines(
        &out.join("cpu_per_packet.svg"),
        "Switch CPU time per forwarded packet at fixed offered rates",
        "offered load, % of the generator's maximum",
        "ns per packet (log)",
        &series,
        false,
        true,
        None,
    )?;

    // TCP: one point per case.
    let mut cases: Vec<(u32, u32, String)> = r
        .tcp
        .iter()
        .map(|t| (t.mtu, t.streams, t.offloads.clone()))
        .collect();
    cases.dedup();
    let names: Vec<String> = cases
        .iter()
        .map(|(m, s, o)| format!("{m}/{s}x/{o}"))
        .collect();
    let series: Vec<Series> = r
        .peers
        .iter()
        .map(|p| {
            let pts = cases
                .iter()
                .enumerate()
                .filter_map(|(i, c)| {
                    let t = r.tcp.iter().find(|t| {
                        &t.peer == p && t.mtu == c.0 && t.streams == c.1 && t.offloads == c.2
                    })?;
                    // A failing case is plotted at 0.
                    Some((i as f64, t.gbps.map_or(0.0, |g| g.med)))
                })
                .collect();
            (label(p), pts)
        })
        .filter(|s: &Series| !s.1.is_empty())
        .collect();
    lines(
        &out.join("tcp.svg"),
        "TCP Gbit/s per case (MTU/streams/offloads; 0 = failed)",
        "case",
        "Gbit/s",
        &series,
        false,
        false,
        Some(&names),
    )?;

    // Latency CDF at the lowest fixed rate.
    let series: Vec<Series> = r
        .cdf
        .iter()
        .map(|(p, pts)| {
            let pts = pts
                .iter()
                .filter(|(_, us)| *us > 0.0)
                .map(|&(pct, us)| (us, pct))
                .collect();
            (label(p), pts)
        })
        .filter(|s: &Series| !s.1.is_empty())
        .collect();
    lines(
        &out.join("latency_cdf.svg"),
        "One-way latency CDF at 10 % load (median of runs per percentile)",
        "latency, µs (log)",
        "percentile",
        &series,
        true,
        false,
        None,
    )?;
    Ok(())
}
