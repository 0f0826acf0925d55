//! The report as one self-contained HTML page (`check --format html`): the verdict, every failing
//! row first (so it is seen without scrolling past passing ones), the summary per op, each op's
//! distribution of differences in ulp, and for each optimizer case the difference after every
//! step for every path. Charts are SVG drawn by plotters and inlined; labels are the page's own
//! HTML, so neither a font nor the network is needed to draw or to view it.

use super::report::{failure_detail, OpSummary, Report};
use super::run::Row;
use plotters::prelude::*;
use std::fmt::Write;

/// The bins of a distribution of ulp distances: 0, 1, 2–3, 4–15, 16–255, 256–4095, 4096–65535,
/// more.
const BINS: [(&str, u64); 8] = [
    ("0", 0),
    ("1", 1),
    ("2–3", 3),
    ("4–15", 15),
    ("16–255", 255),
    ("256–4k", 4095),
    ("4k–65k", 65535),
    ("more", u64::MAX),
];

fn bin(ulp: u64) -> usize {
    BINS.iter().position(|&(_, upper)| ulp <= upper).unwrap_or(BINS.len() - 1)
}

/// Colours of the lines, one per path, in a fixed order (the legend uses the same).
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A histogram of row counts per ulp bin.
fn histogram(counts: &[u32; 8]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (320, 90)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let top = counts.iter().copied().max().unwrap_or(1).max(1);
        if let Ok(mut chart) = ChartBuilder::on(&root).margin(4).build_cartesian_2d(0f64..8f64, 0f64..top as f64) {
            for (i, &n) in counts.iter().enumerate() {
                let colour = if i == 0 {
                    COLOURS[2]
                } else if i < 4 {
                    COLOURS[0]
                } else {
                    COLOURS[1]
                };
                let bar = Rectangle::new([(i as f64 + 0.1, 0.0), (i as f64 + 0.9, n as f64)], colour.filled());
                let _ = chart.draw_series(std::iter::once(bar));
            }
        }
        let _ = root.present();
    }
    svg
}

/// One line per path: log10(1 + ulp) after each step, with faint lines at each decade.
fn step_chart(lines: &[(&Row, &[u64])]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (480, 140)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let steps = lines.iter().map(|(_, s)| s.len()).max().unwrap_or(1).max(2);
        let log = |u: u64| ((u as f64) + 1.0).log10();
        let top = lines.iter().flat_map(|(_, s)| s.iter().map(|&u| log(u))).fold(1.0f64, f64::max).ceil();
        if let Ok(mut chart) = ChartBuilder::on(&root).margin(6).build_cartesian_2d(1f64..steps as f64, 0f64..top) {
            for decade in 1..top as u32 {
                let d = f64::from(decade);
                let _ = chart.draw_series(LineSeries::new([(1.0, d), (steps as f64, d)], RGBColor(220, 220, 220)));
            }
            for (i, (_, per_step)) in lines.iter().enumerate() {
                let points = per_step.iter().enumerate().map(|(s, &u)| (s as f64 + 1.0, log(u)));
                let _ = chart.draw_series(LineSeries::new(points, COLOURS[i % COLOURS.len()].stroke_width(2)));
            }
        }
        let _ = root.present();
    }
    svg
}

/// The worst difference of every buffer of a path after each step.
fn worst_per_step(rows: &[&Row]) -> Vec<u64> {
    let steps = rows.iter().map(|r| r.per_step_ulp.len()).max().unwrap_or(0);
    (0..steps).map(|s| rows.iter().filter_map(|r| r.per_step_ulp.get(s)).copied().max().unwrap_or(0)).collect()
}

fn summary_table(out: &mut String, summaries: &[OpSummary]) {
    out.push_str("<table><tr><th></th><th>op</th><th>compared</th><th>cases</th><th>rows</th><th>passed</th>");
    out.push_str("<th>failed</th><th>worst ulp</th><th>worst rel</th><th>worst at</th></tr>\n");
    for o in summaries {
        let status = if o.failed == 0 { "<td class=ok>✓</td>" } else { "<td class=bad>✗</td>" };
        let _ = writeln!(
            out,
            "<tr>{status}<td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{:.2e}</td><td>{}</td></tr>",
            escape(&o.op),
            escape(&o.compared),
            o.cases,
            o.rows,
            o.passed,
            o.failed,
            o.worst_ulp,
            o.worst_rel,
            escape(o.worst_at.as_deref().filter(|_| o.worst_ulp > 0).unwrap_or(""))
        );
    }
    out.push_str("</table>\n");
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
    h1.ok{color:#2c7a2c}h1.bad{color:#b22222}table{border-collapse:collapse;font-size:13px}\
    td,th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:right}td:nth-child(2),td:nth-child(3),\
    td:last-child,th:nth-child(2),th:nth-child(3),th:last-child{text-align:left}.ok{color:#2c7a2c}.bad{color:#b22222}\
    .failure{border-left:4px solid #b22222;padding:4px 10px;margin:8px 0;background:#fff5f5}\
    pre{white-space:pre-wrap;font-size:12px}.ops{display:flex;flex-wrap:wrap;gap:12px}\
    .op{border:1px solid #ddd;padding:6px}.legend span{display:inline-block;width:10px;height:10px;margin:0 4px}\
    .chart{display:inline-block;border:1px solid #ddd;margin:6px;padding:6px;vertical-align:top;font-size:12px}";

/// The page.
pub fn html(report: &Report) -> String {
    let s = report.summary();
    let mut out = String::new();
    let passed = s.failed == 0;
    let _ = write!(
        out,
        "<!DOCTYPE html><html><head><meta charset=utf-8><title>tch-parity: {}</title><style>{STYLE}</style>\
         </head><body>",
        if passed { "all agree" } else { "DISAGREEMENT" }
    );
    let _ = writeln!(
        out,
        "<h1 class={}>tch-parity: {} of {} rows agree</h1><p>{} cases, {} failed, libtorch {}.</p>",
        if passed { "ok" } else { "bad" },
        s.passed,
        s.rows,
        s.cases,
        s.failed,
        escape(&report.libtorch)
    );
    // Failures first: seen without scrolling past passing ones.
    let failing: Vec<&Row> = report.rows.iter().filter(|r| !r.passed()).collect();
    if !failing.is_empty() {
        out.push_str("<section id=failures><h2 class=bad>Disagreements</h2>\n");
        for row in failing.iter().take(super::report::FAILURES_SHOWN) {
            let _ = write!(out, "<div class=failure><pre>{}</pre>", escape(&failure_detail(row)));
            if !row.per_step_ulp.is_empty() {
                let _ = write!(
                    out,
                    "{}<br>difference in ulp after each step (log scale)",
                    step_chart(&[(row, &row.per_step_ulp)])
                );
            }
            out.push_str("</div>\n");
        }
        if failing.len() > super::report::FAILURES_SHOWN {
            let _ = writeln!(
                out,
                "<p>and {} more failing rows (the JSON report has every row).</p>",
                failing.len() - super::report::FAILURES_SHOWN
            );
        }
        out.push_str("</section>\n");
    }
    out.push_str("<h2>Per op</h2>\n");
    summary_table(&mut out, &report.op_summaries());

    out.push_str(
        "<h2>Differences in ulp against the live reference, per op</h2><p>Rows per bin of the worst \
        distance in ulp: ",
    );
    out.push_str(&BINS.iter().map(|(label, _)| *label).collect::<Vec<_>>().join(" · "));
    out.push_str(".</p><div class=ops>\n");
    let mut ops: Vec<&str> = Vec::new();
    for row in &report.rows {
        if !ops.contains(&row.op.as_str()) {
            ops.push(&row.op);
        }
    }
    for op in &ops {
        let mut counts = [0u32; 8];
        for row in report.rows.iter().filter(|r| r.op == *op) {
            if let Some(c) = row.reference_check().and_then(|c| c.comparison.as_ref()) {
                counts[bin(c.max_ulp)] += 1;
            }
        }
        let _ = writeln!(
            out,
            "<div class=op><b><code>{}</code></b><br>{}<br>{}</div>",
            escape(op),
            histogram(&counts),
            counts.iter().map(u32::to_string).collect::<Vec<_>>().join(" · ")
        );
    }
    out.push_str("</div>\n");

    // Optimizer cases: one chart per case and dtype, a line per mode and path.
    let mut cases: Vec<(&str, &str, String)> = Vec::new();
    for row in report.rows.iter().filter(|r| !r.per_step_ulp.is_empty()) {
        let key = (row.op.as_str(), row.case.as_str(), row.dtype.to_string());
        if !cases.contains(&key) {
            cases.push(key);
        }
    }
    // The cases that differ most first.
    let worst_of = |(op, case, dtype): &(&str, &str, String)| {
        let rows = report.rows.iter().filter(|r| r.op == *op && r.case == *case && r.dtype.to_string() == *dtype);
        rows.flat_map(|r| r.per_step_ulp.iter().copied()).max().unwrap_or(0)
    };
    cases.sort_by_key(|key| std::cmp::Reverse(worst_of(key)));
    if !cases.is_empty() {
        out.push_str(
            "<h2>Optimizers: the difference after every step</h2><p>Per case and dtype, the worst \
            distance in ulp of any parameter or buffer from each reference after each step, on a log scale (faint \
            lines at 10, 100, 1000 ulp): rounding noise stays flat, a divergence grows. The cases that differ most \
            come first.</p>\n",
        );
        for (op, case, dtype) in &cases {
            let rows: Vec<&Row> = report
                .rows
                .iter()
                .filter(|r| {
                    r.op == *op && r.case == *case && r.dtype.to_string() == *dtype && !r.per_step_ulp.is_empty()
                })
                .collect();
            let mut variants: Vec<&str> = Vec::new();
            for r in &rows {
                if !variants.contains(&r.variant.as_str()) {
                    variants.push(&r.variant);
                }
            }
            let series: Vec<(String, Vec<u64>)> = variants
                .iter()
                .map(|v| {
                    (
                        (*v).to_owned(),
                        worst_per_step(&rows.iter().copied().filter(|r| r.variant == *v).collect::<Vec<_>>()),
                    )
                })
                .collect();
            let lines: Vec<(&Row, &[u64])> = series.iter().map(|(_, s)| (rows[0], s.as_slice())).collect();
            let legend: String = series
                .iter()
                .enumerate()
                .map(|(i, (v, s))| {
                    let max = s.iter().max().copied().unwrap_or(0);
                    format!(
                        "<span style=\"background:{}\"></span>{} (max {max})",
                        hex(COLOURS[i % COLOURS.len()]),
                        escape(v)
                    )
                })
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                out,
                "<div class=chart><b><code>{}/{}</code></b> {dtype}<br>{}<div class=legend>{legend}</div></div>",
                escape(op),
                escape(case),
                step_chart(&lines)
            );
        }
    }
    // Where the first failure sits on the page, for the browser test (and for anyone curious).
    out.push_str(
        "<script>var f=document.querySelector('.failure');\
         document.body.setAttribute('data-first-failure-top',f?Math.round(f.getBoundingClientRect().top):-1);\
         </script></body></html>\n",
    );
    out
}
