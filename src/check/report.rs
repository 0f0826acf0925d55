//! The report of a `check` run, as a terminal table, JSON, JUnit XML or Markdown.

use super::compare::Comparison;
use super::run::{Check, Row};
use serde::Serialize;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Junit,
    Markdown,
    Html,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            "markdown" => Ok(Format::Markdown),
            "html" => Ok(Format::Html),
            other => Err(format!("unknown format '{other}' (expected table, json, junit, markdown or html)")),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub libtorch: String,
    pub rows: Vec<Row>,
    /// The accuracy audit (`check --accuracy`): each side's error against float64.
    pub accuracy: Vec<super::accuracy::AccuracyRow>,
}

/// How the table is shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Style {
    /// Every row, instead of one line per op.
    pub rows: bool,
    /// ANSI colour (on a terminal, unless `NO_COLOR` is set).
    pub color: bool,
}

/// One op and pair of implementations: how many of its rows passed, and its worst difference.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpSummary {
    pub op: String,
    /// "hand-written vs libtorch", or the subject alone where nothing live was compared.
    pub compared: String,
    pub cases: usize,
    pub rows: usize,
    pub passed: usize,
    pub failed: usize,
    pub unsupported: usize,
    /// Greatest distance in ulp against the reference, and greatest relative difference.
    pub worst_ulp: u64,
    pub worst_rel: f64,
    /// Where the worst ulp is: case, dtype, variant, output and element.
    pub worst_at: Option<String>,
    /// Checks of a gradient against central differences (`check --calculus`), and how many
    /// passed, over every side.
    pub calculus_checks: usize,
    pub calculus_passed: usize,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Summary {
    pub rows: usize,
    pub passed: usize,
    pub failed: usize,
    /// Rows whose implementation under test has no such op or option.
    pub unsupported: usize,
    /// Rows checked without their live reference (it could not run here).
    pub without_reference: usize,
    /// Passed rows where the subject differs as its case says it does (each with its reason).
    pub known_differences: usize,
    pub cases: usize,
}

impl Report {
    pub fn summary(&self) -> Summary {
        let failed = self.rows.iter().filter(|r| !r.passed()).count();
        let unsupported = self.rows.iter().filter(|r| r.unsupported).count();
        let without_reference = self.rows.iter().filter(|r| r.note.is_some()).count();
        let mut cases: Vec<(&str, &str)> = self.rows.iter().map(|r| (r.file.as_str(), r.case.as_str())).collect();
        cases.dedup();
        Summary {
            rows: self.rows.len(),
            passed: self.rows.len() - failed - unsupported,
            failed,
            unsupported,
            without_reference,
            known_differences: self.rows.iter().filter(|r| r.known_difference.is_some()).count(),
            cases: cases.len(),
        }
    }

    pub fn passed(&self) -> bool {
        self.rows.iter().all(Row::passed)
    }

    /// The report in `format`, plain, the table summarised per op (see [`Report::render_with`]).
    pub fn render(&self, format: Format) -> String {
        self.render_with(format, Style::default())
    }

    /// The report in `format`. The table and Markdown lead with one line per op and pair of
    /// implementations, then every failing row in full, then the verdict (`style.rows` lists
    /// every row in the table); JSON and JUnit always hold every row.
    pub fn render_with(&self, format: Format, style: Style) -> String {
        match format {
            Format::Table => self.table(style),
            Format::Json => self.json(),
            Format::Junit => self.junit(),
            Format::Markdown => self.markdown(),
            Format::Html => super::html::html(self),
        }
    }

    /// One line per op and pair of implementations compared, in the rows' order.
    pub fn op_summaries(&self) -> Vec<OpSummary> {
        let mut out: Vec<OpSummary> = Vec::new();
        let mut cases: Vec<Vec<(&str, &str)>> = Vec::new();
        for row in &self.rows {
            let compared = match &row.reference {
                Some(reference) => format!("{} vs {reference}", row.subject),
                None => row.subject.clone(),
            };
            let i = match out.iter().position(|o| o.op == row.op && o.compared == compared) {
                Some(i) => i,
                None => {
                    out.push(OpSummary { op: row.op.clone(), compared, ..Default::default() });
                    cases.push(Vec::new());
                    out.len() - 1
                }
            };
            let summary = &mut out[i];
            let case = (row.file.as_str(), row.case.as_str());
            if !cases[i].contains(&case) {
                cases[i].push(case);
            }
            summary.rows += 1;
            match (row.unsupported, row.passed()) {
                (true, _) => summary.unsupported += 1,
                (false, true) => summary.passed += 1,
                (false, false) => summary.failed += 1,
            }
            for check in row.checks.iter().filter(|c| c.against == super::calculus::CALCULUS) {
                summary.calculus_checks += 1;
                summary.calculus_passed += usize::from(check.passed);
            }
            // A known difference is reported with its reason, not as the op's worst agreement.
            let compared = row.reference_check().filter(|_| row.known_difference.is_none());
            if let Some(c) = compared.and_then(|c| c.comparison.as_ref()) {
                summary.worst_rel = summary.worst_rel.max(if c.max_rel.is_nan() { f64::INFINITY } else { c.max_rel });
                if summary.worst_at.is_none() || c.max_ulp > summary.worst_ulp {
                    summary.worst_ulp = c.max_ulp;
                    let index = c.worst.as_ref().filter(|_| c.max_ulp > 0).map(|w| format!(" {:?}", w.index));
                    summary.worst_at = Some(format!(
                        "{} {} {} {}{}",
                        row.case,
                        row.dtype,
                        row.variant,
                        row.output,
                        index.unwrap_or_default()
                    ));
                }
            }
        }
        for (summary, cases) in out.iter_mut().zip(cases) {
            summary.cases = cases.len();
        }
        out
    }

    fn json(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            passed: bool,
            summary: Summary,
            libtorch: &'a str,
            rows: &'a [Row],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            accuracy: &'a [super::accuracy::AccuracyRow],
        }
        let doc = Doc {
            passed: self.passed(),
            summary: self.summary(),
            libtorch: &self.libtorch,
            rows: &self.rows,
            accuracy: &self.accuracy,
        };
        // Infinite differences become null in JSON; the row's checks still say passed: false.
        serde_json::to_string_pretty(&doc).expect("report serializes") + "\n"
    }

    fn table(&self, style: Style) -> String {
        let mut out = if style.rows { self.rows_table() } else { self.ops_table(style) };
        let details: String = self.rows.iter().filter(|r| !r.passed()).map(failure_detail).collect();
        out.push_str(&self.notes());
        if !details.is_empty() {
            out.push_str(&paint("\nDisagreements:\n", RED, style));
            out.push_str(&details);
        }
        if !self.accuracy.is_empty() {
            out.push_str(&super::accuracy::table(&self.accuracy));
        }
        let line = self.summary_line();
        out.push_str(&paint(&line, if self.passed() { GREEN } else { RED }, style));
        out
    }

    /// One line per op and pair of implementations.
    fn ops_table(&self, style: Style) -> String {
        let calculus = self.checked_against_calculus();
        let headers = [
            "op",
            "compared",
            "cases",
            "rows",
            "passed",
            "failed",
            "worst ulp",
            "worst rel",
            "vs calculus",
            "worst at",
        ];
        let lines: Vec<[String; 10]> = self
            .op_summaries()
            .into_iter()
            .map(|o| {
                let failed = if o.unsupported > 0 {
                    format!("{} ({} n/a)", o.failed, o.unsupported)
                } else {
                    o.failed.to_string()
                };
                [
                    o.op,
                    o.compared,
                    o.cases.to_string(),
                    o.rows.to_string(),
                    o.passed.to_string(),
                    failed,
                    ulps(o.worst_ulp),
                    sci(o.worst_rel),
                    match o.calculus_checks {
                        0 => String::new(),
                        n => format!("{}/{n}", o.calculus_passed),
                    },
                    o.worst_at.filter(|_| o.worst_ulp > 0).unwrap_or_default(),
                ]
            })
            .collect();
        // The calculus column only where the run checked against calculus.
        let (headers, lines): (Vec<&str>, Vec<Vec<String>>) = if calculus {
            (headers.to_vec(), lines.into_iter().map(|l| l.to_vec()).collect())
        } else {
            let keep = |i: &usize| *i != 8;
            (
                headers.iter().enumerate().filter(|(i, _)| keep(i)).map(|(_, h)| *h).collect(),
                lines
                    .into_iter()
                    .map(|l| l.into_iter().enumerate().filter(|(i, _)| keep(i)).map(|(_, v)| v).collect())
                    .collect(),
            )
        };
        let worst_at = headers.len() - 1;
        let mut out = aligned(&headers, &lines, &[0, 1, worst_at]);
        if style.color {
            // Colour the lines of ops with failures; alignment is computed on the plain text.
            let failing: Vec<bool> = lines.iter().map(|l| !l[5].starts_with('0')).collect();
            out = out
                .lines()
                .enumerate()
                .map(|(i, line)| match i.checked_sub(1).map(|k| failing[k]) {
                    Some(true) => paint(line, RED, style) + "\n",
                    _ => format!("{line}\n"),
                })
                .collect();
        }
        out
    }

    /// Every row.
    fn rows_table(&self) -> String {
        let headers = [
            "",
            "case",
            "dtype",
            "variant",
            "output",
            "max |Δ|",
            "max rel",
            "ulp",
            "worst at",
            "mismatched",
            "fixture ulp",
            "vs calculus",
        ];
        let calculus = self.checked_against_calculus();
        let mut lines: Vec<Vec<String>> = Vec::new();
        for row in &self.rows {
            let status = match (row.unsupported, row.passed()) {
                (true, _) => "n/a",
                (false, true) if row.known_difference.is_some() => "known",
                (false, true) => "ok",
                (false, false) => "FAIL",
            };
            let case = format!("{}/{}", row.op, row.case);
            let (abs, rel, ulp, worst, mismatched) = match row.reference_check().and_then(|c| c.comparison.as_ref()) {
                Some(c) => (
                    sci(c.max_abs),
                    sci(c.max_rel),
                    ulps(c.max_ulp),
                    // Where nothing differs there is no worst element worth pointing at.
                    c.worst.as_ref().filter(|_| c.max_ulp > 0).map(|w| format!("{:?}", w.index)).unwrap_or_default(),
                    format!("{} of {}", c.mismatched, c.numel),
                ),
                None => Default::default(),
            };
            let drift =
                row.drift_check().and_then(|c| c.comparison.as_ref()).map(|c| ulps(c.max_ulp)).unwrap_or_default();
            let output =
                if row.tolerance_override.is_some() { format!("{} (tol*)", row.output) } else { row.output.clone() };
            // The subject's gradient against central differences: its greatest |Δ|.
            let against_calculus = row
                .checks
                .iter()
                .find(|c| c.against == super::calculus::CALCULUS && c.subject == row.subject)
                .and_then(|c| c.comparison.as_ref())
                .map(|c| sci(c.max_abs))
                .or_else(|| row.not_against_calculus.as_ref().map(|_| "left out".to_owned()))
                .unwrap_or_default();
            lines.push(vec![
                status.into(),
                case,
                row.dtype.to_string(),
                row.variant.clone(),
                output,
                abs,
                rel,
                ulp,
                worst,
                mismatched,
                drift,
                against_calculus,
            ]);
        }
        let columns = if calculus { headers.len() } else { headers.len() - 1 };
        let lines: Vec<Vec<String>> = lines
            .into_iter()
            .map(|mut l| {
                l.truncate(columns);
                l
            })
            .collect();
        aligned(&headers[..columns], &lines, &[0, 1, 2, 3, 4])
    }

    /// Whether the run checked gradients against central differences (`check --calculus`).
    fn checked_against_calculus(&self) -> bool {
        self.rows.iter().any(|r| r.checks.iter().any(|c| c.against == super::calculus::CALCULUS))
    }

    /// What "vs calculus" means and what it left out, when the run checked against calculus.
    fn calculus_note(&self) -> Option<String> {
        let calculus: Vec<&Check> =
            self.rows.iter().flat_map(|r| &r.checks).filter(|c| c.against == super::calculus::CALCULUS).collect();
        if calculus.is_empty() {
            return None;
        }
        let t = super::calculus::TOLERANCE;
        let moved = calculus.iter().filter(|c| c.message.as_deref().is_some_and(|m| m.contains("moved"))).count();
        let mut out = format!(
            "\"vs calculus\": {} float64 gradients (first and second order) against central differences of each \
             side's own forward, ε {:e}, rtol {:e}, atol {:e} (torch.autograd.gradcheck's defaults); {moved} of \
             them at inputs moved off a kink.\n",
            calculus.len(),
            super::calculus::EPS,
            t.rtol,
            t.atol
        );
        let skipped: Vec<&Row> = self.rows.iter().filter(|r| r.not_against_calculus.is_some()).collect();
        if let Some(first) = skipped.first() {
            let _ = writeln!(
                out,
                "{} gradient rows are not checked against calculus, e.g. {}/{}: {}.",
                skipped.len(),
                first.op,
                first.case,
                first.not_against_calculus.as_deref().unwrap_or_default()
            );
        }
        Some(out)
    }

    /// The rows' notes (why a live reference did not run), each with its number of rows, the most
    /// frequent first.
    fn distinct_notes(&self) -> Vec<(&str, usize)> {
        let mut notes: Vec<(&str, usize)> = Vec::new();
        for note in self.rows.iter().filter_map(|r| r.note.as_deref()) {
            match notes.iter_mut().find(|(n, _)| *n == note) {
                Some((_, k)) => *k += 1,
                None => notes.push((note, 1)),
            }
        }
        notes.sort_by_key(|(_, k)| std::cmp::Reverse(*k));
        notes
    }

    /// What the figures mean, rows checked without their live reference, tolerance overrides.
    fn notes(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nFigures compare the implementation under test (hand-written) with its live reference (libtorch, or \
             PyTorch in Python where libtorch has no op); \"fixture ulp\" is the reference against the recorded \
             values (drift)."
        );
        if let Some(note) = self.calculus_note() {
            out.push_str(&note);
        }
        let notes = self.distinct_notes();
        if !notes.is_empty() {
            let n: usize = notes.iter().map(|(_, k)| k).sum();
            let _ = writeln!(out, "{n} rows were checked against the recorded values only:");
            for (note, k) in notes {
                let _ = writeln!(out, "  {k:>6}  {note}");
            }
        }
        if self.rows.iter().any(|r| r.tolerance_override.is_some()) {
            out.push_str("tol*: the case overrides the default tolerance:\n");
            let mut seen = Vec::new();
            for row in self.rows.iter().filter(|r| r.tolerance_override.is_some()) {
                let key = (row.op.clone(), row.case.clone(), row.dtype);
                if !seen.contains(&key) {
                    let _ = writeln!(
                        out,
                        "  {}/{} {}: rtol {:e}, atol {:e}: {}",
                        row.op,
                        row.case,
                        row.dtype,
                        row.rtol,
                        row.atol,
                        row.tolerance_override.as_deref().unwrap_or("")
                    );
                    seen.push(key);
                }
            }
        }
        out
    }

    pub fn summary_line(&self) -> String {
        let s = self.summary();
        let verdict = if s.failed == 0 { "all agree" } else { "DISAGREEMENT" };
        let unsupported = if s.unsupported > 0 { format!(", {} unsupported", s.unsupported) } else { String::new() };
        let known = if s.known_differences > 0 {
            format!(" ({} as known differences)", s.known_differences)
        } else {
            String::new()
        };
        format!(
            "\n{verdict}: {} rows from {} cases, {} passed{known}, {} failed{unsupported} (libtorch {})\n",
            s.rows, s.cases, s.passed, s.failed, self.libtorch
        )
    }

    fn junit(&self) -> String {
        let s = self.summary();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(out, "<testsuites name=\"tch-parity\" tests=\"{}\" failures=\"{}\">", s.rows, s.failed);
        let mut ops: Vec<&str> = self.rows.iter().map(|r| r.op.as_str()).collect();
        ops.sort();
        ops.dedup();
        for op in ops {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.op == op).collect();
            let failures = rows.iter().filter(|r| !r.passed()).count();
            let _ =
                writeln!(out, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\">", xml(op), rows.len(), failures);
            for row in rows {
                let name = format!("{} {} {} {} {}", row.case, row.dtype, row.variant, row.output, row.subject);
                let _ = write!(out, "    <testcase classname=\"tch-parity.{}\" name=\"{}\"", xml(op), xml(&name));
                if row.unsupported {
                    out.push_str(">\n      <skipped message=\"unsupported\"/>\n    </testcase>\n");
                } else if row.passed() {
                    out.push_str("/>\n");
                } else {
                    let detail = failure_detail(row);
                    let first = detail.lines().nth(1).unwrap_or("disagreement").trim();
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        xml(first),
                        xml(&detail)
                    );
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }

    /// The summary first (one line per op and pair of implementations), then the failing rows
    /// in full, at most [`FAILURES_SHOWN`] of them: a job summary stays far below GitHub's
    /// 1 MiB limit however many rows there are (JSON and JUnit hold every row).
    fn markdown(&self) -> String {
        let s = self.summary();
        let mut out = String::new();
        let icon = if s.failed == 0 { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "## {icon} tch-parity: {} of {} rows agree ({} cases, libtorch {})\n",
            s.passed, s.rows, s.cases, self.libtorch
        );
        // "vs calculus" where the run checked against central differences (`--calculus`).
        let calculus = self.checked_against_calculus();
        let (header, rule) = if calculus { (" vs calculus |", "--:|") } else { ("", "") };
        let _ = writeln!(
            out,
            "| | op | compared | cases | rows | passed | failed | worst ulp | worst rel |{header} worst at |\n\
             |---|---|---|--:|--:|--:|--:|--:|--:|{rule}---|"
        );
        for o in self.op_summaries() {
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {} | {} | {} | {}{} | {} | {} |{} {} |",
                if o.failed == 0 { "✅" } else { "❌" },
                o.op,
                o.compared,
                o.cases,
                o.rows,
                o.passed,
                o.failed,
                if o.unsupported > 0 { format!(" ({} n/a)", o.unsupported) } else { String::new() },
                ulps(o.worst_ulp),
                sci(o.worst_rel),
                match (calculus, o.calculus_checks) {
                    (false, _) => String::new(),
                    (true, 0) => " |".to_owned(),
                    (true, n) => format!(" {}/{n} |", o.calculus_passed),
                },
                o.worst_at.filter(|_| o.worst_ulp > 0).map(|w| format!("`{w}`")).unwrap_or_default(),
            );
        }
        if let Some(note) = self.calculus_note() {
            let _ = write!(out, "\n{note}");
        }
        let notes = self.distinct_notes();
        if !notes.is_empty() {
            let _ = writeln!(out, "\n{} rows were checked against the recorded values only:\n", s.without_reference);
            for (note, k) in notes {
                let _ = writeln!(out, "- {k}: {note}");
            }
        }
        if s.failed > 0 {
            out.push_str("\n### Disagreements\n\n```text\n");
            for row in self.rows.iter().filter(|r| !r.passed()).take(FAILURES_SHOWN) {
                out.push_str(&failure_detail(row));
            }
            out.push_str("```\n");
            if s.failed > FAILURES_SHOWN {
                let _ = writeln!(
                    out,
                    "\nand {} more failing rows: the JSON and JUnit reports hold every row.",
                    s.failed - FAILURES_SHOWN
                );
            }
        }
        out
    }
}

/// The failing checks of a row: what disagreed, where, and both values.
pub fn failure_detail(row: &Row) -> String {
    let mut out =
        format!("{}/{} [{} {} {}] (file {})\n", row.op, row.case, row.dtype, row.variant, row.output, row.file);
    if let Some(step) = row.first_failing_step {
        let _ = writeln!(out, "  first left tolerance at step {step}");
    }
    for check in row.checks.iter().filter(|c| !c.passed) {
        let _ = writeln!(out, "  {}: {}", check.label(), describe(check, row));
    }
    out
}

fn describe(check: &Check, row: &Row) -> String {
    let Some(c) = &check.comparison else {
        return check.message.clone().unwrap_or_else(|| "failed".into());
    };
    if check.against == super::calculus::CALCULUS {
        // gradcheck's tolerance, not the row's; and where the differences were taken.
        let t = super::calculus::TOLERANCE;
        let text = describe_comparison(c, &check.subject, "central differences", t.rtol, t.atol);
        return match &check.message {
            Some(note) => format!("{text}; {note}"),
            None => text,
        };
    }
    describe_comparison(c, &check.subject, &check.against, row.rtol, row.atol)
}

/// A failed comparison in a line: how many elements, the worst one with both values, the
/// figures and the tolerance.
pub fn describe_comparison(c: &Comparison, a_name: &str, b_name: &str, rtol: f64, atol: f64) -> String {
    if let Some((actual, expected)) = &c.shape_mismatch {
        return format!("shape {actual:?} where {expected:?} was expected");
    }
    let mut text = format!("{} of {} elements mismatched", c.mismatched, c.numel);
    if let Some(w) = &c.worst {
        let _ = write!(text, "; worst at {:?}: {a_name} {:?}, {b_name} {:?}", w.index, w.actual, w.expected);
    }
    let _ = write!(
        text,
        "; max |Δ| {}, max rel {}, {} ulp (rtol {rtol:e}, atol {atol:e})",
        sci(c.max_abs),
        sci(c.max_rel),
        ulps(c.max_ulp)
    );
    text
}

fn sci(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x.is_infinite() {
        "inf".into()
    } else {
        format!("{x:.2e}")
    }
}

/// A distance in ulp: exact up to a million, then to two significant figures (across zero,
/// tiny values of opposite sign are astronomically many ulp apart).
pub(crate) fn ulps(u: u64) -> String {
    if u == u64::MAX {
        "nan".into()
    } else if u >= 1_000_000 {
        format!("{:.1e}", u as f64)
    } else {
        u.to_string()
    }
}

/// `text` escaped for XML text and attributes.
pub fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// The failing rows the Markdown and HTML reports show in full (JSON and JUnit show every row).
pub const FAILURES_SHOWN: usize = 100;

const RED: &str = "31";
const GREEN: &str = "32";

/// `text` in an ANSI colour when the style asks for colour.
fn paint(text: &str, code: &str, style: Style) -> String {
    if style.color {
        // Leading and trailing newlines stay outside the colour.
        let body = text.trim_matches('\n');
        let (start, end) = (text.len() - text.trim_start_matches('\n').len(), text.trim_end_matches('\n').len());
        format!("{}\x1b[{code}m{body}\x1b[0m{}", &text[..start], &text[end..])
    } else {
        text.to_owned()
    }
}

/// Columns padded to their widest cell: the columns in `left` flush left, the others (figures)
/// flush right.
fn aligned<L: AsRef<[String]>>(headers: &[&str], lines: &[L], left: &[usize]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for line in lines {
        for (w, cell) in widths.iter_mut().zip(line.as_ref()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_line = |cells: &[String]| {
        let mut line = String::new();
        for (i, (cell, &w)) in cells.iter().zip(&widths).enumerate() {
            let pad = w - cell.chars().count();
            if left.contains(&i) {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            } else {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            }
            line.push_str("  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for line in lines {
        push_line(line.as_ref());
    }
    out
}
