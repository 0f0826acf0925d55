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
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            "markdown" => Ok(Format::Markdown),
            other => Err(format!("unknown format '{other}' (expected table, json, junit or markdown)")),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub libtorch: String,
    pub rows: Vec<Row>,
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
            cases: cases.len(),
        }
    }

    pub fn passed(&self) -> bool {
        self.rows.iter().all(Row::passed)
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Table => self.table(),
            Format::Json => self.json(),
            Format::Junit => self.junit(),
            Format::Markdown => self.markdown(),
        }
    }

    fn json(&self) -> String {
        #[derive(Serialize)]
        struct Doc<'a> {
            passed: bool,
            summary: Summary,
            libtorch: &'a str,
            rows: &'a [Row],
        }
        let doc = Doc { passed: self.passed(), summary: self.summary(), libtorch: &self.libtorch, rows: &self.rows };
        // Infinite differences become null in JSON; the row's checks still say passed: false.
        serde_json::to_string_pretty(&doc).expect("report serializes") + "\n"
    }

    fn table(&self) -> String {
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
        ];
        let mut lines: Vec<[String; 11]> = Vec::new();
        let mut details = String::new();
        for row in &self.rows {
            let status = match (row.unsupported, row.passed()) {
                (true, _) => "n/a",
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
            lines.push([
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
            ]);
            if !row.passed() {
                details.push_str(&failure_detail(row));
            }
        }
        let mut widths = headers.map(str::len);
        for line in &lines {
            for (w, cell) in widths.iter_mut().zip(line) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut push_line = |cells: &[String]| {
            let mut line = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                let pad = w - cell.chars().count();
                // Names left, figures right.
                if i <= 4 {
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
        push_line(&headers.map(String::from));
        for line in &lines {
            push_line(line);
        }
        let _ = writeln!(
            out,
            "\nFigures compare the implementation under test (hand-written) with its live reference (libtorch, or \
             PyTorch in Python where libtorch has no op); \"fixture ulp\" is the reference against the recorded \
             values (drift)."
        );
        if let Some(note) = self.rows.iter().find_map(|r| r.note.as_deref()) {
            let n = self.rows.iter().filter(|r| r.note.is_some()).count();
            let _ = writeln!(out, "{n} rows were checked against the recorded values only: {note}.");
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
        if !details.is_empty() {
            out.push_str("\nDisagreements:\n");
            out.push_str(&details);
        }
        out.push_str(&self.summary_line());
        out
    }

    pub fn summary_line(&self) -> String {
        let s = self.summary();
        let verdict = if s.failed == 0 { "all agree" } else { "DISAGREEMENT" };
        let unsupported = if s.unsupported > 0 { format!(", {} unsupported", s.unsupported) } else { String::new() };
        format!(
            "\n{verdict}: {} rows from {} cases, {} passed, {} failed{unsupported} (libtorch {})\n",
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

    fn markdown(&self) -> String {
        let s = self.summary();
        let mut out = String::new();
        let icon = if s.failed == 0 { "✅" } else { "❌" };
        let _ = writeln!(
            out,
            "## {icon} tch-parity: {} of {} rows agree ({} cases, libtorch {})\n",
            s.passed, s.rows, s.cases, self.libtorch
        );
        if s.failed > 0 {
            out.push_str("### Disagreements\n\n```text\n");
            for row in self.rows.iter().filter(|r| !r.passed()) {
                out.push_str(&failure_detail(row));
            }
            out.push_str("```\n\n");
        }
        out.push_str("<details><summary>Every row</summary>\n\n");
        out.push_str("| | case | dtype | variant | output | max abs | max rel | ulp | mismatched | fixture ulp |\n");
        out.push_str("|---|---|---|---|---|--:|--:|--:|--:|--:|\n");
        for row in &self.rows {
            let c = row.reference_check().and_then(|c| c.comparison.as_ref());
            let drift =
                row.drift_check().and_then(|c| c.comparison.as_ref()).map(|c| ulps(c.max_ulp)).unwrap_or_default();
            let _ = writeln!(
                out,
                "| {} | `{}/{}` | {} | {} | {}{} | {} | {} | {} | {} | {} |",
                if row.passed() { "✅" } else { "❌" },
                row.op,
                row.case,
                row.dtype,
                row.variant,
                row.output,
                if row.tolerance_override.is_some() { " (tol*)" } else { "" },
                c.map(|c| sci(c.max_abs)).unwrap_or_default(),
                c.map(|c| sci(c.max_rel)).unwrap_or_default(),
                c.map(|c| ulps(c.max_ulp)).unwrap_or_default(),
                c.map(|c| format!("{} of {}", c.mismatched, c.numel)).unwrap_or_default(),
                drift
            );
        }
        out.push_str("\n</details>\n");
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

fn ulps(u: u64) -> String {
    if u == u64::MAX {
        "nan".into()
    } else {
        u.to_string()
    }
}

fn xml(text: &str) -> String {
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
