//! The conformance matrix: a subject's rows summarised per op × options × reduction (or
//! optimizer mode) × dtype, each cell agreeing, disagreeing (with its worst element or first
//! diverging step), disagreeing as a pinned finding, or unsupported; as a table, JSON, JUnit
//! XML or Markdown.

use super::Finding;
use crate::check::report::{failure_detail, xml};
use crate::check::{Report, Row};
use crate::dtype::DType;
use crate::fixture::FixtureFile;
use serde::Serialize;
use std::fmt::Write;

pub use crate::check::Format;

/// What a cell's rows say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Agrees,
    /// Disagrees as a pinned finding says it does.
    KnownFinding,
    Disagrees,
    Unsupported,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Agrees => "agrees",
            Status::KnownFinding => "finding",
            Status::Disagrees => "DISAGREES",
            Status::Unsupported => "unsupported",
        }
    }
}

/// One op × options × variant × dtype.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub op: String,
    /// The options the cases set, as written ("defaults" where none).
    pub options: String,
    /// The reduction, or the optimizer's mode and reference ("lockstep/cpp").
    pub variant: String,
    pub dtype: DType,
    pub status: Status,
    pub cases: usize,
    pub rows: usize,
    pub agreeing: usize,
    pub unsupported: usize,
    /// The first disagreement in full (pinned or not): case, output, worst element or first
    /// diverging step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The pinned finding, for a known disagreement.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Matrix {
    /// The implementation under test, with its version.
    pub subject: String,
    pub libtorch: String,
    pub cells: Vec<Cell>,
    /// Every row; those that agree, those that disagree as a pinned finding, and those
    /// unsupported.
    pub rows: usize,
    pub rows_agreeing: usize,
    pub rows_known: usize,
    pub rows_unsupported: usize,
}

impl Matrix {
    /// The cells of `report`'s rows, in the rows' order.
    pub fn of(
        subject: &str,
        files: &[FixtureFile],
        report: &Report,
        findings: &[Finding],
        pinned: &std::collections::HashMap<usize, String>,
    ) -> Matrix {
        let options_of = |row: &Row| -> String {
            let case = files.iter().flat_map(|f| &f.cases).find(|c| c.op == row.op && c.name == row.case);
            match case.map(|c| &c.options) {
                Some(options) if !options.is_empty() => {
                    options.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join(", ")
                }
                _ => "defaults".into(),
            }
        };
        let mut cells: Vec<Cell> = Vec::new();
        let mut cases: Vec<Vec<String>> = Vec::new();
        for (i, row) in report.rows.iter().enumerate() {
            let options = options_of(row);
            let at = cells.iter().position(|c| {
                c.op == row.op && c.options == options && c.variant == row.variant && c.dtype == row.dtype
            });
            let k = at.unwrap_or_else(|| {
                cells.push(Cell {
                    op: row.op.clone(),
                    options,
                    variant: row.variant.clone(),
                    dtype: row.dtype,
                    status: Status::Unsupported,
                    cases: 0,
                    rows: 0,
                    agreeing: 0,
                    unsupported: 0,
                    detail: None,
                    finding: None,
                    upstream: None,
                });
                cases.push(Vec::new());
                cells.len() - 1
            });
            let cell = &mut cells[k];
            if !cases[k].contains(&row.case) {
                cases[k].push(row.case.clone());
                cell.cases += 1;
            }
            cell.rows += 1;
            let status = if row.unsupported {
                cell.unsupported += 1;
                Status::Unsupported
            } else if !row.passed() {
                // A disagreement's detail replaces a finding's.
                if cell.status != Status::Disagrees {
                    cell.detail = Some(failure_detail(row).trim_end().to_owned());
                }
                Status::Disagrees
            } else if let Some(what) = &row.known_difference {
                let finding = findings.iter().find(|f| f.covers(row));
                if cell.finding.is_none() {
                    cell.finding = Some(what.clone());
                    cell.upstream = finding.and_then(|f| f.upstream).map(str::to_owned);
                    if cell.status != Status::Disagrees {
                        cell.detail = pinned.get(&i).cloned();
                    }
                }
                Status::KnownFinding
            } else {
                cell.agreeing += 1;
                Status::Agrees
            };
            cell.status = worse(cell.status, status, cell.rows == 1);
        }
        let rows = report.rows.len();
        let rows_unsupported = report.rows.iter().filter(|r| r.unsupported).count();
        let rows_agreeing =
            report.rows.iter().filter(|r| !r.unsupported && r.passed() && r.known_difference.is_none()).count();
        let rows_known = report.rows.iter().filter(|r| !r.unsupported && r.known_difference.is_some()).count();
        Matrix {
            subject: subject.to_owned(),
            libtorch: report.libtorch.clone(),
            cells,
            rows,
            rows_agreeing,
            rows_known,
            rows_unsupported,
        }
    }

    /// How many cells have `status`.
    pub fn count(&self, status: Status) -> usize {
        self.cells.iter().filter(|c| c.status == status).count()
    }

    /// Cells that agree.
    pub fn agreeing(&self) -> usize {
        self.count(Status::Agrees)
    }

    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Json => serde_json::to_string_pretty(self).expect("plain data") + "\n",
            Format::Junit => self.junit(),
            Format::Markdown => self.markdown(),
            Format::Table | Format::Html => self.table(),
        }
    }

    fn ops(&self) -> Vec<&str> {
        let mut ops: Vec<&str> = Vec::new();
        for cell in &self.cells {
            if !ops.contains(&cell.op.as_str()) {
                ops.push(&cell.op);
            }
        }
        ops
    }

    /// The verdict in a line: cells and rows by status.
    pub fn verdict(&self) -> String {
        format!(
            "{}: {} cells: {} agree, {} disagree as pinned findings, {} DISAGREE, {} unsupported ({} rows checked: {} \
             agree, {} as pinned findings; {} rows unsupported)",
            self.subject,
            self.cells.len(),
            self.count(Status::Agrees),
            self.count(Status::KnownFinding),
            self.count(Status::Disagrees),
            self.count(Status::Unsupported),
            self.rows - self.rows_unsupported,
            self.rows_agreeing,
            self.rows_known,
            self.rows_unsupported
        )
    }

    /// One line per op, then every disagreement and every finding, then the verdict.
    fn table(&self) -> String {
        let mut out = format!("conformance of {} against PyTorch (libtorch {})\n\n", self.subject, self.libtorch);
        let _ = writeln!(out, "{:<36} {:>7} {:>8} {:>9} {:>12}", "op", "agrees", "finding", "DISAGREES", "unsupported");
        for op in self.ops() {
            let of = |s: Status| self.cells.iter().filter(|c| c.op == op && c.status == s).count();
            let _ = writeln!(
                out,
                "{op:<36} {:>7} {:>8} {:>9} {:>12}",
                of(Status::Agrees),
                of(Status::KnownFinding),
                of(Status::Disagrees),
                of(Status::Unsupported)
            );
        }
        let disagreeing: Vec<&Cell> = self.cells.iter().filter(|c| c.status == Status::Disagrees).collect();
        if !disagreeing.is_empty() {
            out.push_str("\nDisagreements:\n");
            for cell in disagreeing {
                let _ = writeln!(out, "  {} [{}] {} {}", cell.op, cell.options, cell.variant, cell.dtype.name());
                for line in cell.detail.as_deref().unwrap_or("").lines() {
                    let _ = writeln!(out, "    {line}");
                }
            }
        }
        // Each finding once, with the cells it covers.
        let mut findings: Vec<(&str, Option<&str>, Vec<&Cell>)> = Vec::new();
        for cell in self.cells.iter().filter(|c| c.status == Status::KnownFinding) {
            let what = cell.finding.as_deref().unwrap_or("");
            match findings.iter_mut().find(|(w, _, _)| *w == what) {
                Some((_, _, cells)) => cells.push(cell),
                None => findings.push((what, cell.upstream.as_deref(), vec![cell])),
            }
        }
        if !findings.is_empty() {
            out.push_str("\nPinned findings (each passes as known while it shows):\n");
            for (what, upstream, cells) in findings {
                let upstream = upstream.map(|u| format!(" ({u})")).unwrap_or_default();
                let _ = writeln!(out, "  - {what}{upstream}");
                let _ = writeln!(
                    out,
                    "    {} cell(s): {}",
                    cells.len(),
                    cells
                        .iter()
                        .map(|c| format!("{} [{}] {} {}", c.op, c.options, c.variant, c.dtype.name()))
                        .collect::<Vec<_>>()
                        .join("; ")
                );
            }
        }
        let _ = writeln!(out, "\n{}", self.verdict());
        out
    }

    /// The verdict, one line per op, then every cell the subject ran (JSON and JUnit also hold
    /// the unsupported ones).
    fn markdown(&self) -> String {
        let mut out = format!("## Conformance of {} against PyTorch (libtorch {})\n\n", self.subject, self.libtorch);
        let _ = writeln!(out, "{}\n", self.verdict());
        out.push_str("| op | agrees | pinned finding | DISAGREES | unsupported |\n|---|--:|--:|--:|--:|\n");
        for op in self.ops() {
            let of = |s: Status| self.cells.iter().filter(|c| c.op == op && c.status == s).count();
            let counts = [Status::Agrees, Status::KnownFinding, Status::Disagrees, Status::Unsupported].map(of);
            let _ = writeln!(out, "| {op} | {} | {} | {} | {} |", counts[0], counts[1], counts[2], counts[3]);
        }
        out.push_str("\n| op | options | reduction / mode | dtype | result | rows | detail |\n");
        out.push_str("|---|---|---|---|---|--:|---|\n");
        for c in self.cells.iter().filter(|c| c.status != Status::Unsupported) {
            let detail = match c.status {
                Status::Disagrees => c.detail.as_deref().and_then(|d| d.lines().nth(1)).unwrap_or("").trim().to_owned(),
                Status::KnownFinding => c.finding.clone().unwrap_or_default(),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {} |",
                c.op,
                c.options.replace('|', "\\|"),
                c.variant,
                c.dtype.name(),
                c.status.name(),
                c.rows,
                detail.replace('|', "\\|")
            );
        }
        out
    }

    fn junit(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let failures = self.count(Status::Disagrees);
        let _ = writeln!(
            out,
            "<testsuites name=\"conform {}\" tests=\"{}\" failures=\"{failures}\">",
            xml(&self.subject),
            self.cells.len()
        );
        for op in self.ops() {
            let cells: Vec<&Cell> = self.cells.iter().filter(|c| c.op == op).collect();
            let failed = cells.iter().filter(|c| c.status == Status::Disagrees).count();
            let _ = writeln!(out, "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failed}\">", xml(op), cells.len());
            for c in cells {
                let name = format!("[{}] {} {}", c.options, c.variant, c.dtype.name());
                let _ = write!(out, "    <testcase classname=\"conform.{}\" name=\"{}\"", xml(op), xml(&name));
                match c.status {
                    Status::Agrees => out.push_str("/>\n"),
                    Status::Unsupported => {
                        out.push_str(">\n      <skipped message=\"unsupported\"/>\n    </testcase>\n")
                    }
                    Status::KnownFinding => {
                        let finding = c.finding.as_deref().unwrap_or("");
                        let _ = writeln!(
                            out,
                            ">\n      <system-out>pinned finding: {}</system-out>\n    </testcase>",
                            xml(finding)
                        );
                    }
                    Status::Disagrees => {
                        let detail = c.detail.as_deref().unwrap_or("");
                        let first = detail.lines().nth(1).unwrap_or("disagreement").trim();
                        let _ = writeln!(
                            out,
                            ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                            xml(first),
                            xml(detail)
                        );
                    }
                }
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// A cell's status once one more row is seen: a disagreement outweighs a finding, which
/// outweighs agreement, which outweighs unsupported (a cell whose cases are partly supported
/// shows what its supported ones gave).
fn worse(cell: Status, row: Status, first: bool) -> Status {
    let rank = |s: Status| match s {
        Status::Unsupported => 0,
        Status::Agrees => 1,
        Status::KnownFinding => 2,
        Status::Disagrees => 3,
    };
    if first || rank(row) > rank(cell) {
        row
    } else {
        cell
    }
}
