//! The Markdown report stays a job summary: one line per op whatever the number of rows, and a
//! bounded list of failing rows, so it stays far below GitHub's 1 MiB limit at ten times
//! today's catalogue.

use std::path::Path;
use tch_parity::check::report::{Report, FAILURES_SHOWN};
use tch_parity::check::{check, load_path, Format, Selection};
use tch_parity::implementation::Registry;

/// GitHub refuses a job summary over 1 MiB.
const GITHUB_SUMMARY_LIMIT: usize = 1 << 20;

#[test]
fn the_markdown_summary_of_ten_times_todays_rows_stays_far_below_the_limit() {
    let files = load_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/binary")).unwrap();
    let real = check(&Registry::standard(), &files, &Selection::default());
    let today = real.rows.len();
    // 61 000 rows (ten times the 6 100 of the whole catalogue), one in a hundred failing, spread
    // over 60 ops, each copy of a case its own case.
    let target = 61_000;
    let mut rows = Vec::with_capacity(target);
    for i in 0..target {
        let mut row = real.rows[i % today].clone();
        row.op = format!("{}_{}", row.op, i % 60);
        row.case = format!("{}-{}", row.case, i / today);
        if i % 100 == 0 {
            row.checks[0].passed = false;
        }
        rows.push(row);
    }
    let synthetic = Report { libtorch: real.libtorch.clone(), rows, accuracy: Vec::new() };
    let markdown = synthetic.render(Format::Markdown);
    eprintln!(
        "markdown: {} bytes for {target} rows; today's catalogue of binary losses: {} bytes",
        markdown.len(),
        real.render(Format::Markdown).len()
    );
    assert!(markdown.len() < GITHUB_SUMMARY_LIMIT / 4, "{} bytes", markdown.len());
    assert!(markdown.contains(&format!("and {} more failing rows", target / 100 - FAILURES_SHOWN)));
    // JSON keeps every row.
    let json: serde_json::Value = serde_json::from_str(&synthetic.render(Format::Json)).unwrap();
    assert_eq!(json["rows"].as_array().unwrap().len(), target);
}

/// Colour marks failing ops and the verdict when asked for (on a terminal), and never otherwise.
#[test]
fn colour_only_when_asked_and_then_on_failures_and_the_verdict() {
    use tch_parity::check::report::Style;
    let files = load_path(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/binary/sigmoid.json")).unwrap();
    let mut report = check(&Registry::standard(), &files, &Selection::default());
    let plain = report.render_with(Format::Table, Style { rows: false, color: false });
    assert!(!plain.contains('\x1b'));
    let green = report.render_with(Format::Table, Style { rows: false, color: true });
    assert!(green.contains("\x1b[32mall agree:"), "{green}");
    report.rows[0].checks[0].passed = false;
    let red = report.render_with(Format::Table, Style { rows: false, color: true });
    let sigmoid = red.lines().find(|l| l.contains("sigmoid ")).unwrap();
    assert!(sigmoid.starts_with("\x1b[31m") && red.contains("\x1b[31mDISAGREEMENT:"), "{red}");
}
