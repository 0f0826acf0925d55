//! The `tch-parity` command line: `check`, `regen`, `fuzz` and `list`. A thin layer: it parses
//! arguments, calls the library, prints, and maps outcomes to exit codes.

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use tch_parity::catalog::{LOSSES, OBJECTIVES, OPTIMIZERS};
use tch_parity::check::report::Style;
use tch_parity::check::{self, Format, Selection};
use tch_parity::fixture::{self, DType, FixtureFile};
use tch_parity::fuzz;
use tch_parity::implementation::Registry;
use tch_parity::options::OptionSpec;
use tch_parity::record::{self, CaseChange};
use tch_parity::reference::LIBTORCH_VERSION;

/// Exit codes: a disagreement is not the same failure as a broken command line or fixture.
const EXIT_DISAGREEMENT: u8 = 1;
const EXIT_USAGE: u8 = 2;

#[derive(Parser)]
#[command(name = "tch-parity", version, about = "Hand-written losses and optimizers checked against libtorch")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Filter {
    /// Run only cases whose op id equals, or whose name contains, one of these.
    filters: Vec<String>,
    /// Run only this dtype (repeatable).
    #[arg(long = "dtype")]
    dtypes: Vec<DTypeArg>,
    /// A fixture file or folder.
    #[arg(long, default_value_os_t = default_fixtures())]
    fixtures: PathBuf,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum DTypeArg {
    Float32,
    Float64,
    Float16,
    Bfloat16,
}

impl From<DTypeArg> for DType {
    fn from(d: DTypeArg) -> DType {
        match d {
            DTypeArg::Float32 => DType::Float32,
            DTypeArg::Float64 => DType::Float64,
            DTypeArg::Float16 => DType::Float16,
            DTypeArg::Bfloat16 => DType::BFloat16,
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Compare the hand-written implementations with their live references (libtorch, or PyTorch
    /// in Python where libtorch has no op) and with the recorded fixtures.
    Check {
        #[command(flatten)]
        filter: Filter,
        /// table, json, junit, markdown or html.
        #[arg(long, default_value = "table")]
        format: Format,
        /// Write the report here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// List every row in the table, not one line per op.
        #[arg(long, short = 'v')]
        rows: bool,
        /// Run PyTorch in Python where it is the reference (the losses libtorch has no op for,
        /// torch.optim for the optimizers libtorch lacks) instead of comparing with what the
        /// fixtures recorded from it (slower; shows drift in the recordings).
        #[arg(long)]
        live: bool,
        /// Also audit accuracy: each loss row below float64 against the reference's float64
        /// result, both sides' error in ulps (a table, and "accuracy" in the JSON report).
        #[arg(long)]
        accuracy: bool,
        /// Also check every float64 gradient, first and second order, against central
        /// differences of each side's own forward, as torch.autograd.gradcheck and
        /// gradgradcheck do (eps 1e-6, atol 1e-5, rtol 1e-3; a few seconds more). CI sets it.
        #[arg(long)]
        calculus: bool,
        /// Also run every loss case with its inputs as views that are not contiguous
        /// (transposed, a strided slice, expanded with stride 0): the hand-written side must give
        /// the contiguous run's values bit for bit. CI sets it.
        #[arg(long)]
        layouts: bool,
    },
    /// Record the fixtures' expected values again from the live references.
    Regen {
        #[command(flatten)]
        filter: Filter,
        /// Write nothing; fail if regenerating would change any file.
        #[arg(long)]
        check: bool,
        /// Record this machine's values bit for bit, also where they differ from the recorded
        /// ones only within tolerance (by default those are kept, so fixtures do not churn
        /// between CPUs).
        #[arg(long)]
        exact: bool,
    },
    /// Random cases for every loss and optimizer, hand-written against libtorch; disagreements
    /// are shrunk and written out as fixtures.
    Fuzz {
        /// Replays a run exactly (default: a new seed, printed).
        #[arg(long)]
        seed: Option<u64>,
        /// At most this many cases.
        #[arg(long, default_value_t = 1000)]
        cases: u64,
        /// At most this many seconds.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Only these loss or optimizer ids (repeatable).
        #[arg(long = "op")]
        ops: Vec<String>,
        /// Where shrunk disagreements are written as fixture files.
        #[arg(long, default_value_os_t = default_fixtures().join("fuzz"))]
        out: PathBuf,
    },
    /// One case in depth: inputs, options, each implementation's values beside the fixture's with
    /// their distance in ulp, the tolerance and why; for an optimizer, the difference per step.
    Explain {
        /// The case: `op/name`, its name, or part of it (close matches are listed otherwise).
        case: String,
        /// Only this dtype (repeatable).
        #[arg(long = "dtype")]
        dtypes: Vec<DTypeArg>,
        /// A fixture file or folder.
        #[arg(long, default_value_os_t = default_fixtures())]
        fixtures: PathBuf,
    },
    /// Check another framework's losses and optimizers against PyTorch on the same fixtures and
    /// live references as `check`: a matrix of op × options × reduction × dtype, each cell
    /// agreeing, disagreeing (worst element, first diverging step) or unsupported. Pinned
    /// findings pass as known; a new disagreement, or a finding that no longer shows, fails.
    Conform {
        /// candle (candle-nn 0.11) or burn (0.22, the Flex CPU backend with autodiff); the binary
        /// must be built with the cargo feature of that name.
        framework: Framework,
        /// Run only cases whose op id equals, or whose name contains, one of these.
        filters: Vec<String>,
        /// table, json, junit or markdown.
        #[arg(long, default_value = "table")]
        format: Format,
        /// Write the matrix here instead of standard output.
        #[arg(long)]
        output: Option<PathBuf>,
        /// A fixture file or folder.
        #[arg(long, default_value_os_t = default_fixtures())]
        fixtures: PathBuf,
    },
    /// List every loss and optimizer, its inputs, options and cases.
    List {
        #[arg(long, default_value_os_t = default_fixtures())]
        fixtures: PathBuf,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Framework {
    Candle,
    Burn,
}

/// The project's fixtures, named relative to the working directory when run from the project.
fn default_fixtures() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match std::env::current_dir() {
        Ok(cwd) if cwd == root => PathBuf::from("fixtures"),
        _ => root.join("fixtures"),
    }
}

impl Filter {
    fn selection(&self) -> Selection {
        let dtypes = self.dtypes.iter().map(|&d| DType::from(d)).collect();
        Selection { filters: self.filters.clone(), dtypes, ..Default::default() }
    }
}

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
    // Fixture tensors are small: libtorch never splits their work across threads, but its idle
    // OpenMP workers spin between ops, taking the core that PyTorch's start-up (the Python
    // reference, started with the run) needs. Values do not depend on it (regen --check agrees
    // bit for bit either way).
    tch::set_num_threads(1);
    match cli.command {
        Command::Check { filter, format, output, rows, live, accuracy, calculus, layouts } => {
            check(&filter, format, output, rows, (live, accuracy), (calculus, layouts))
        }
        Command::Regen { filter, check, exact } => regen(&filter, check, exact),
        Command::List { fixtures } => list(&fixtures),
        Command::Conform { framework, filters, format, output, fixtures } => {
            conform(framework, &filters, format, output, &fixtures)
        }
        Command::Explain { case, dtypes, fixtures } => explain(&case, &dtypes, &fixtures),
        Command::Fuzz { seed, cases, seconds, ops, out } => fuzz(seed, cases, seconds, &ops, &out),
    }
}

fn load(path: &std::path::Path) -> Result<Vec<FixtureFile>, ExitCode> {
    check::load_path(path).map_err(|e| {
        eprintln!("tch-parity: fixture error: {e}");
        ExitCode::from(EXIT_USAGE)
    })
}

fn check(
    filter: &Filter,
    format: Format,
    output: Option<PathBuf>,
    rows: bool,
    (live, accuracy): (bool, bool),
    (calculus, layouts): (bool, bool),
) -> ExitCode {
    let files = match load(&filter.fixtures) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let selection = Selection { calculus, layouts, ..filter.selection() };
    let registry = if live { Registry::live() } else { Registry::standard() };
    let mut report = check::check(&registry, &files, &selection);
    if accuracy {
        // The audit evaluates each reference in float64 at inputs no fixture recorded: PyTorch in
        // Python runs for the losses libtorch has no op for.
        report.accuracy = check::accuracy::audit(&Registry::live(), &files, &selection);
    }
    if report.rows.is_empty() {
        eprintln!("tch-parity: no case matches {:?} in {}", filter.filters, filter.fixtures.display());
        return ExitCode::from(EXIT_USAGE);
    }
    // Colour only on a terminal, and never where NO_COLOR is set (no-color.org).
    let color = output.is_none() && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let text = report.render_with(format, Style { rows, color });
    match output {
        Some(path) => {
            // Atomic: a missing folder or a read-only place is an error, and nothing half-written
            // is left behind.
            if let Err(e) = fixture::write::write_atomic(&path, &text) {
                eprintln!("tch-parity: cannot write {}: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
            eprint!("{}", report.summary_line().trim_start());
        }
        None => print!("{text}"),
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DISAGREEMENT)
    }
}

fn conform(
    framework: Framework,
    filters: &[String],
    format: Format,
    output: Option<PathBuf>,
    fixtures: &std::path::Path,
) -> ExitCode {
    let files = match load(fixtures) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let outcome = match framework {
        #[cfg(feature = "candle")]
        Framework::Candle => {
            use tch_parity::conformance::candle;
            tch_parity::conformance::conform(candle::Candle, &files, filters, candle::FINDINGS)
        }
        Framework::Burn => match tch_parity::conformance::worker::Worker::burn() {
            Ok(worker) => {
                use tch_parity::conformance::burn_findings;
                tch_parity::conformance::conform(worker, &files, filters, burn_findings::FINDINGS)
            }
            Err(e) => {
                eprintln!("tch-parity: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        #[cfg(not(feature = "candle"))]
        Framework::Candle => {
            eprintln!(
                "tch-parity: this binary was built without the `candle` feature; run scripts/conform candle \
                 (or cargo run --features candle -- conform candle)"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if outcome.report.rows.is_empty() {
        eprintln!("tch-parity: no case matches {filters:?} in {}", fixtures.display());
        return ExitCode::from(EXIT_USAGE);
    }
    let text = outcome.matrix.render(format);
    match output {
        Some(path) => {
            if let Err(e) = fixture::write::write_atomic(&path, &text) {
                eprintln!("tch-parity: cannot write {}: {e}", path.display());
                return ExitCode::from(EXIT_USAGE);
            }
            eprintln!("{}", outcome.matrix.verdict());
        }
        None => print!("{text}"),
    }
    if outcome.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DISAGREEMENT)
    }
}

fn explain(query: &str, dtypes: &[DTypeArg], fixtures: &std::path::Path) -> ExitCode {
    let files = match load(fixtures) {
        Ok(files) => files,
        Err(code) => return code,
    };
    match check::explain::find(&files, query) {
        Ok((file, case)) => {
            let selection =
                Selection { dtypes: dtypes.iter().map(|&d| DType::from(d)).collect(), ..Default::default() };
            print!("{}", check::explain::explain(&Registry::standard(), file, case, &selection.dtypes()));
            ExitCode::SUCCESS
        }
        Err(close) => {
            let what = if close.len() > 1 && close.iter().all(|c| c.contains(query)) {
                "several cases match"
            } else {
                "no case is named"
            };
            eprintln!("tch-parity: {what} '{query}'; did you mean one of these?");
            for name in close {
                eprintln!("  {name}");
            }
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn regen(filter: &Filter, dry_run: bool, exact: bool) -> ExitCode {
    let files = match load(&filter.fixtures) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let selection = filter.selection();
    if !selection.dtypes.is_empty() {
        eprintln!("tch-parity: regen records every dtype of a case; --dtype is not accepted here");
        return ExitCode::from(EXIT_USAGE);
    }
    let (mut rewritten, mut problems, mut io_errors) = (0, 0, 0);
    let selected = |case: &fixture::Case| selection.selects(case);
    let registry = Registry::live();
    // Python computes the torch.optim runs of every file while the files are recorded in turn.
    check::run::prepare(&registry, &files, &selection, &DType::ALL);
    let total = files.iter().flat_map(|f| &f.cases).filter(|c| selection.selects(c)).count() as u64;
    let mut progress = Progress::new("regen", total);
    let mut done = 0;
    for file in files.iter().filter(|f| f.cases.iter().any(|c| selection.selects(c))) {
        let result = record::regen_file(&registry, file, &selected, dry_run, exact);
        done += file.cases.iter().filter(|c| selection.selects(c)).count() as u64;
        progress.set(done);
        let result = match result {
            Ok(result) => result,
            Err(list) => {
                for p in list {
                    eprintln!("tch-parity: {p}");
                    problems += 1;
                    io_errors += usize::from(p.io);
                }
                continue;
            }
        };
        let verb = match (result.rewritten, dry_run) {
            (false, _) => "unchanged",
            (true, false) => "rewritten",
            (true, true) => "would change",
        };
        println!("{}: {verb}", file.path.display());
        for (case, change) in &result.cases {
            match change {
                CaseChange::Unchanged => {}
                CaseChange::Recorded => println!("  {case}: recorded for the first time"),
                CaseChange::Changed { values, of, max_ulp } => {
                    println!("  {case}: {values} of {of} values changed, by up to {max_ulp} ulp")
                }
                CaseChange::Rounding { values, of, max_ulp } => println!(
                    "  {case}: {values} of {of} values differ on this machine by up to {max_ulp} ulp, \
                     within tolerance: kept (--exact records them)"
                ),
                CaseChange::Restructured(why) => println!("  {case}: {why}"),
            }
        }
        if result.rewritten {
            rewritten += 1;
        }
    }
    progress.finish();
    if problems > 0 {
        eprintln!("tch-parity: regen found {problems} problem(s); nothing was written for the files concerned");
        // A file that cannot be written is not a disagreement with libtorch.
        return ExitCode::from(if io_errors > 0 { EXIT_USAGE } else { EXIT_DISAGREEMENT });
    }
    match (rewritten, dry_run) {
        (0, _) => {
            println!("regen: every fixture is up to date (libtorch {})", LIBTORCH_VERSION);
            ExitCode::SUCCESS
        }
        (n, true) => {
            println!("regen --check: {n} file(s) would change; run `tch-parity regen` and review the diff");
            ExitCode::from(EXIT_DISAGREEMENT)
        }
        (n, false) => {
            println!("regen: rewrote {n} file(s) from libtorch {}", LIBTORCH_VERSION);
            ExitCode::SUCCESS
        }
    }
}

fn fuzz(seed: Option<u64>, cases: u64, seconds: f64, ops: &[String], out: &std::path::Path) -> ExitCode {
    if let Some(bad) = ops.iter().find(|o| tch_parity::catalog::find(o).is_none()) {
        eprintln!("tch-parity: unknown op '{bad}' (see `tch-parity list`)");
        return ExitCode::from(EXIT_USAGE);
    }
    if seconds.is_nan() || seconds <= 0.0 {
        eprintln!("tch-parity: --seconds must be positive");
        return ExitCode::from(EXIT_USAGE);
    }
    let seed = seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    });
    println!("fuzz: seed {seed} (replay with --seed {seed})");
    let started = std::time::Instant::now();
    let deadline = started + std::time::Duration::from_secs_f64(seconds);
    let mut progress = Progress::new("fuzz", cases);
    let summary = fuzz::run(&Registry::live(), seed, cases, deadline, ops, &mut |done| progress.set(done));
    progress.finish();
    let elapsed = started.elapsed().as_secs_f64();
    for (op, n) in &summary.per_op {
        println!("  {op}: {n} cases");
    }
    for finding in &summary.findings {
        println!("DISAGREEMENT {} (case {}): {}", finding.op, finding.case_index, finding.message);
        if let Some(case) = &finding.case {
            let path = out.join(format!("{}-{}.json", finding.op, case.name));
            let file = FixtureFile { path: path.clone(), cases: vec![case.clone()] };
            let written = std::fs::create_dir_all(out)
                .and_then(|_| fixture::write::write_atomic(&path, &fixture::write::to_text(&file)));
            match written {
                Ok(()) => println!(
                    "  shrunk and written to {}; `tch-parity regen {}` records libtorch's values",
                    path.display(),
                    case.name
                ),
                Err(e) => eprintln!("  cannot write {}: {e}", path.display()),
            }
        } else {
            println!("  replay: tch-parity fuzz --seed {seed} --op {} --cases {}", finding.op, finding.case_index + 1);
        }
    }
    let verdict = if summary.findings.is_empty() { "no disagreement" } else { "DISAGREEMENTS" };
    println!(
        "fuzz: {verdict}: {} cases in {elapsed:.1} s, {} disagreements (seed {seed})",
        summary.cases,
        summary.findings.len()
    );
    if summary.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DISAGREEMENT)
    }
}

fn print_cases(files: &[FixtureFile], op: &str) {
    let cases: Vec<String> = files
        .iter()
        .flat_map(|f| f.cases.iter())
        .filter(|c| c.op == op)
        .map(|c| match c.outcome {
            fixture::Outcome::Rejects(_) => format!("{} [rejects]", c.name),
            _ => c.name.clone(),
        })
        .collect();
    println!("  cases ({}): {}", cases.len(), cases.join(", "));
}

fn print_options(options: &[OptionSpec]) {
    if !options.is_empty() {
        let options: Vec<String> =
            options.iter().map(|o| format!("{}={} ({})", o.name, o.default, o.doc.trim_end_matches('.'))).collect();
        println!("  options: {}", options.join(", "));
    }
}

fn list(fixtures: &std::path::Path) -> ExitCode {
    let files = match load(fixtures) {
        Ok(files) => files,
        Err(code) => return code,
    };
    let registry = Registry::standard();
    for spec in LOSSES {
        println!("{}  {}", spec.id, spec.summary);
        let inputs: Vec<String> =
            spec.inputs.iter().map(|s| format!("{}{}", s.name, if s.required { "" } else { "?" })).collect();
        println!("  inputs:  {}", inputs.join(", "));
        print_options(&spec.option_specs());
        let reductions: Vec<&str> = spec.reductions().iter().map(|r| r.name()).collect();
        println!("  reductions: {}", reductions.join(", "));
        let reference = match spec.reference {
            tch_parity::catalog::Reference::Libtorch => "libtorch".to_owned(),
            tch_parity::catalog::Reference::Python(function) => format!("PyTorch in Python ({function})"),
        };
        println!("  reference: {reference}");
        print_cases(&files, spec.id);
        println!();
    }
    for spec in OPTIMIZERS {
        println!("{}  {}", spec.id, spec.summary);
        print_options(&spec.option_specs());
        // Which references implement the defaults, and the defaults with maximize.
        let defaults = (spec.configure)(&[]).expect("the defaults are valid");
        let maximizing = (spec.configure)(&[("maximize".into(), tch_parity::options::OptionValue::Bool(true))]).ok();
        let params = [tch::Tensor::zeros([1, 1], tch::kind::FLOAT_CPU)];
        let paths = |groups: &[tch_parity::optim::OptimizerOptions]| {
            let given = tch_parity::implementation::RunGradients::Given(&[]);
            let run = tch_parity::implementation::OptimizerRun::new(spec.id, groups, &params, &["x"], &[0], 0, given);
            let names: Vec<&str> =
                registry.references.iter().filter(|r| r.has_optimizer(&run)).map(|r| r.name()).collect();
            if names.is_empty() {
                "none".to_owned()
            } else {
                names.join(", ")
            }
        };
        match maximizing {
            Some(m) => println!("  references: {} (with maximize: {})", paths(&[defaults]), paths(&[m])),
            None => println!("  references: {}", paths(&[defaults])),
        }
        print_cases(&files, spec.id);
        println!();
    }
    for spec in tch_parity::catalog::SCHEDULERS {
        println!("{}  torch.optim.lr_scheduler.{}: {}", spec.id, spec.torch_name, spec.summary);
        println!("  options: {}", (spec.defaults)());
        let references = if spec.cpp {
            "libtorch's C++ scheduler (live), PyTorch in Python (recorded; live with --live)"
        } else {
            "PyTorch in Python (recorded; live with --live)"
        };
        println!("  references: {references}");
        print_cases(&files, spec.id);
        let attached: Vec<String> = files
            .iter()
            .flat_map(|f| f.cases.iter())
            .filter(|c| c.trajectory().and_then(|t| t.scheduler.as_ref()).is_some_and(|s| s["op"] == spec.id))
            .map(|c| c.name.clone())
            .collect();
        println!("  attached to an optimizer ({}): {}", attached.len(), attached.join(", "));
        println!();
    }
    for spec in tch_parity::catalog::CLIPPING {
        println!("{}  {}: {}", spec.id, spec.torch_name, spec.summary);
        print_options(&(spec.options.specs)());
        println!(
            "  references: libtorch's C++ torch::nn::utils (live), PyTorch in Python (recorded; live with --live)"
        );
        print_cases(&files, spec.id);
        println!();
    }
    println!("objectives for the optimizer cases:");
    for o in OBJECTIVES {
        println!("  {}  {} (parameters: {}; data: {})", o.id, o.summary, o.params.join(", "), o.data.join(", "));
    }
    ExitCode::SUCCESS
}

/// Piped into `head`, the program ends quietly when the reader goes away (exit 141, as a Unix
/// tool killed by SIGPIPE), instead of reporting a panic from `print!`. SIGPIPE itself stays
/// ignored (Rust's default), so the Python reference's pipe reports errors rather than killing
/// the process.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.starts_with("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}

/// Progress on standard error: a bar with the count, the rate and the time left on a terminal;
/// elsewhere (CI logs, pipes) a plain line every ten seconds.
enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { what: &'static str, total: u64, started: std::time::Instant, last: std::time::Instant, done: u64 },
}

impl Progress {
    fn new(what: &'static str, total: u64) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{prefix} {bar:30} {pos}/{len} cases, {rate}, about {eta} left",
            )
            .expect("a valid template")
            .with_key("rate", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.0}/s", state.per_sec());
            });
            bar.set_style(style);
            bar.set_prefix(what);
            Progress::Bar(bar)
        } else {
            let now = std::time::Instant::now();
            Progress::Lines { what, total, started: now, last: now, done: 0 }
        }
    }

    fn set(&mut self, n: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(n),
            Progress::Lines { what, total, started, last, done } => {
                *done = n;
                if last.elapsed().as_secs_f64() >= 10.0 {
                    *last = std::time::Instant::now();
                    let rate = n as f64 / started.elapsed().as_secs_f64();
                    let left = (*total - n.min(*total)) as f64 / rate.max(1e-9);
                    eprintln!("{what}: {n} of {total} cases, {rate:.0}/s, about {left:.0} s left");
                }
            }
        }
    }

    fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
