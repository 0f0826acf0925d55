//! The `tch-parity` binary as users and CI systems run it: exit codes, report formats, the
//! report of an injected disagreement, and `regen`.

use rstest::rstest;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BCE: &str = "fixtures/binary/binary_cross_entropy.json";
/// A small family keeps each run of the binary fast; every fixture is checked (in-process) by
/// tests/parity.rs and by the gate in .ci/run.
const BINARY: &str = "fixtures/binary";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tch-parity")).args(args).current_dir(root()).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A copy of the BCE fixture in a fresh folder, to break or regenerate without touching the repo.
fn bce_copy() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("binary_cross_entropy.json");
    std::fs::copy(root().join(BCE), &path).unwrap();
    (dir, path)
}

#[test]
fn check_prints_one_line_per_op_then_the_verdict_and_exits_zero() {
    let out = run(&["check", "--fixtures", BINARY]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let header = stdout.lines().next().unwrap();
    for column in ["op", "compared", "cases", "rows", "passed", "failed", "worst ulp", "worst rel", "worst at"] {
        assert!(header.contains(column), "{header}");
    }
    // 3 ops, each compared with libtorch: 3 lines, not one per row. BCE: 174 rows in float32 and
    // float64 from 13 cases (their second-order rows included), 126 in float16 and bfloat16 from
    // the 10 cases recorded in them.
    let lines: Vec<&str> = stdout.lines().skip(1).take_while(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    let bce = lines.iter().find(|l| l.starts_with("binary_cross_entropy ")).expect("a BCE line");
    let cells: Vec<&str> = bce.split_whitespace().collect();
    assert_eq!(&cells[1..8], ["hand-written", "vs", "libtorch", "13", "300", "300", "0"], "{bce}");
    assert!(!stdout.contains("binary_cross_entropy/seed"), "no row lines by default");
    assert!(stdout.trim_end().lines().last().unwrap().starts_with("all agree: 590 rows from 24 cases"));
    // Piped, so no colour.
    assert!(!stdout.contains('\x1b'));
}

#[test]
fn check_with_rows_prints_every_row() {
    for flag in ["--rows", "-v"] {
        let stdout = text(&run(&["check", flag, "--fixtures", BINARY]).stdout);
        assert!(stdout.lines().next().unwrap().contains("max |Δ|"));
        assert_eq!(stdout.lines().filter(|l| l.starts_with("ok ")).count(), 590, "{flag}");
        // A row that passes as a known difference is marked as such: GradScaler's bfloat16 run.
        let stdout = text(&run(&["check", flag, "--fixtures", "fixtures/amp/grad_scaler.json"]).stdout);
        assert_eq!(stdout.lines().filter(|l| l.starts_with("known ")).count(), 1, "{flag}");
    }
}

#[test]
fn filters_select_op_and_dtype() {
    let out = run(&["check", "sigmoid", "--dtype", "float64", "--format", "json", "--fixtures", BINARY]);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = report["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r["op"] == "sigmoid" && r["dtype"] == "float64"));
}

#[test]
fn json_report_is_machine_readable() {
    let out = run(&["check", "--format", "json", "--fixtures", BINARY]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(report["summary"]["rows"].as_u64().unwrap() as usize, rows.len());
    assert_eq!((rows[0]["subject"].as_str(), rows[0]["reference"].as_str()), (Some("hand-written"), Some("libtorch")));
    let pairs: Vec<(&str, &str)> = rows[0]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["subject"].as_str().unwrap(), c["against"].as_str().unwrap()))
        .collect();
    assert_eq!(pairs, [("hand-written", "libtorch"), ("hand-written", "fixture"), ("libtorch", "fixture")]);
}

#[test]
fn junit_and_markdown_reports() {
    let junit = text(&run(&["check", "--format", "junit", "--fixtures", BINARY]).stdout);
    assert!(junit.starts_with("<?xml"));
    assert!(junit.contains("<testsuites name=\"tch-parity\"") && junit.contains("failures=\"0\""));
    assert_eq!(junit.matches("<testsuite ").count(), junit.matches("</testsuite>").count());

    let markdown = text(&run(&["check", "--format", "markdown", "--fixtures", BINARY]).stdout);
    assert!(markdown.starts_with("## ✅ tch-parity:"), "{markdown}");
    assert!(
        markdown.contains("| ✅ | `binary_cross_entropy` | hand-written vs libtorch | 13 | 300 | 300 | 0 |"),
        "{markdown}"
    );
    assert!(!markdown.contains("binary_cross_entropy/seed"), "rows are in JSON and JUnit, not in the summary");
}

#[test]
fn output_file_receives_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.xml");
    let out = run(&["check", "--format", "junit", "--output", file.to_str().unwrap(), "--fixtures", BINARY]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(std::fs::read_to_string(file).unwrap().contains("<testsuites"));
}

#[test]
fn an_injected_disagreement_exits_one_and_is_named_in_full() {
    let (_dir, path) = bce_copy();
    let original = std::fs::read_to_string(&path).unwrap();
    // The seed case's float32 `none` output, element 1: ln 10 recorded as 2.3025851.
    let needle = r#""output": {"shape": [2], "data": [2.302585, 2.3025851]}"#;
    assert!(original.contains(needle));
    std::fs::write(&path, original.replacen(needle, r#""output": {"shape": [2], "data": [2.302585, 2.5]}"#, 1))
        .unwrap();

    let out = run(&["check", "--fixtures", path.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let detail = stdout.split("Disagreements:").nth(1).expect("a disagreement section");
    assert!(detail.contains("binary_cross_entropy/seed [float32 none output]"), "{detail}");
    assert!(
        detail.contains(
            "hand-written vs fixture: 1 of 2 elements mismatched; worst at [1]: hand-written 2.3025851249694824, \
             fixture 2.5"
        ),
        "{detail}"
    );
    assert!(
        detail.contains(
            "libtorch vs fixture: 1 of 2 elements mismatched; worst at [1]: libtorch 2.3025851249694824, fixture 2.5"
        ),
        "{detail}"
    );
    assert!(stdout.contains("DISAGREEMENT: "));

    let markdown = text(&run(&["check", "--fixtures", path.to_str().unwrap(), "--format", "markdown"]).stdout);
    assert!(markdown.starts_with("## ❌"));
    let junit = text(&run(&["check", "--fixtures", path.to_str().unwrap(), "--format", "junit"]).stdout);
    // One row fails (with two failing checks in it).
    assert!(junit.contains("failures=\"1\"") && junit.contains("<failure message="), "{junit}");
}

#[test]
fn a_broken_fixture_exits_two_naming_file_case_and_field() {
    let (_dir, path) = bce_copy();
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, original.replacen(r#""data": [0.9, 0.1]"#, r#""data": [0.9, 0.1, 0.5]"#, 1)).unwrap();
    let out = run(&["check", "--fixtures", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("binary_cross_entropy.json: case 'seed': inputs.input.data: 3 values for shape [2]"),
        "{stderr}"
    );
}

#[rstest]
#[case::unknown_flag(&["check", "--no-such-flag"])]
#[case::unknown_format(&["check", "--format", "yaml"])]
#[case::unknown_dtype(&["check", "--dtype", "float8"])]
#[case::unknown_command(&["frobnicate"])]
#[case::no_matching_case(&["check", "no-such-case-anywhere"])]
#[case::missing_fixtures(&["check", "--fixtures", "/nonexistent"])]
fn usage_errors_exit_two(#[case] args: &[&str]) {
    let out = run(args);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(!out.stderr.is_empty());
}

#[test]
fn regen_twice_leaves_the_files_byte_identical() {
    let (_dir, path) = bce_copy();
    let before = std::fs::read(&path).unwrap();
    for _ in 0..2 {
        let out = run(&["regen", "--fixtures", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(text(&out.stdout).contains("every fixture is up to date"));
        assert_eq!(std::fs::read(&path).unwrap(), before);
    }
}

#[test]
fn regen_check_passes_on_repository_fixtures() {
    let out = run(&["regen", "--check", "--fixtures", BINARY]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
}

#[test]
fn regen_reports_changed_values_and_check_mode_writes_nothing() {
    let (_dir, path) = bce_copy();
    let original = std::fs::read_to_string(&path).unwrap();
    // The float32 value ln 10 = 2.3025851249694824 recorded as 2.4: far outside tolerance.
    let stale = original.replacen("2.3025851]", "2.4]", 1);
    std::fs::write(&path, &stale).unwrap();

    let out = run(&["regen", "--check", "--fixtures", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("seed: 1 of 52 values changed, by up to 408588 ulp"), "{}", text(&out.stdout));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), stale, "--check writes nothing");

    let out = run(&["regen", "--fixtures", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("rewritten"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
    assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
}

/// Bits that differ within tolerance (libtorch rounds differently on another CPU) are reported
/// and kept, so fixtures do not churn between machines; `--exact` records them.
#[test]
fn regen_keeps_rounding_differences_unless_exact() {
    let (_dir, path) = bce_copy();
    let original = std::fs::read_to_string(&path).unwrap();
    // float32 values near ln 10: 2.3025851249694824, then 2.3025853633880615, then
    // 2.3025856018066406: "2.3025856" is 2 ulp above the recorded one, within tolerance.
    let stale = original.replacen("2.3025851]", "2.3025856]", 1);
    std::fs::write(&path, &stale).unwrap();

    let out = run(&["regen", "--check", "--fixtures", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout)
        .contains("seed: 1 of 52 values differ on this machine by up to 2 ulp, within tolerance: kept"));
    let out = run(&["regen", "--fixtures", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), stale, "kept");

    let out = run(&["regen", "--exact", "--fixtures", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("rewritten"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), original);
}

#[test]
fn regen_records_a_new_case_written_without_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.json");
    std::fs::write(
        &path,
        r#"{"format": "tch-parity-fixture/1",
            "cases": [{"name": "mine", "source": "user", "op": "binary_cross_entropy_with_logits",
            "inputs": {"input": {"dtype": "float", "shape": [3], "data": [-2, 0, 2], "requires_grad": true},
                       "target": {"dtype": "float", "shape": [3], "data": [0, 0.5, 1]}}}]}"#,
    )
    .unwrap();
    let before = run(&["check", "--fixtures", path.to_str().unwrap()]);
    assert_eq!(before.status.code(), Some(1), "no recorded values yet");
    assert!(text(&before.stdout).contains("run `tch-parity regen`"));

    let out = run(&["regen", "--fixtures", path.to_str().unwrap()]);
    assert!(text(&out.stdout).contains("mine: recorded for the first time"));
    let after = run(&["check", "--fixtures", path.to_str().unwrap()]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after.stdout));
}

#[test]
fn list_names_every_loss_with_its_cases() {
    let out = run(&["list"]);
    let stdout = text(&out.stdout);
    for id in [
        "sigmoid",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
        "cross_entropy",
        "sgd",
        "adam",
        "adamw",
        "rmsprop",
        "adagrad",
    ] {
        assert!(stdout.lines().any(|l| l.starts_with(&format!("{id}  "))), "{id} missing:\n{stdout}");
    }
    assert!(stdout.contains("input-above-one [rejects]"));
}

/// The losses whose reference is PyTorch in Python: `check` compares them with the values the
/// fixture recorded from it (Python is not started) and says so; `check --live` runs Python; `--live`
/// where Python cannot be started falls back to the recordings, and the note names why.
#[test]
fn python_losses_are_checked_against_their_recordings_by_default_and_live_on_request() {
    // The table (when asked for) and the JSON report's rows.
    let check = |args: &[&str], python: Option<&str>, table: bool| -> (String, Vec<serde_json::Value>) {
        let run = |format: &str| {
            let mut command = Command::new(env!("CARGO_BIN_EXE_tch-parity"));
            command.args(["check", "--fixtures", "fixtures/focal", "--format", format]).args(args);
            if let Some(p) = python {
                command.env("TCH_PARITY_PYTHON_ENV", p);
            }
            let out = command.current_dir(root()).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
            out.stdout
        };
        let report: serde_json::Value = serde_json::from_slice(&run("json")).unwrap();
        let table = if table { text(&run("table")) } else { String::new() };
        (table, report["rows"].as_array().unwrap().clone())
    };
    // The rows with values (the error cases' rows check the refusal against the fixture's text).
    let value_rows = |rows: &[serde_json::Value]| -> Vec<serde_json::Value> {
        rows.iter().filter(|r| r["variant"] != "construction" && r["output"] != "rejects").cloned().collect()
    };
    let against = |row: &serde_json::Value| -> Vec<String> {
        row["checks"].as_array().unwrap().iter().map(|c| c["against"].as_str().unwrap().to_owned()).collect()
    };

    let (table, rows) = check(&[], None, true);
    assert!(table.contains("rows were checked against the recorded values only"), "{table}");
    assert!(table.contains("the values the fixture recorded from it stand in"), "{table}");
    assert!(table.contains("sigmoid_focal_loss  hand-written vs pytorch"), "{table}");
    let recorded = value_rows(&rows);
    assert!(recorded.len() > 200, "{} rows", recorded.len());
    for row in &recorded {
        assert_eq!(row["reference"], "pytorch", "{row}");
        assert!(row["note"].as_str().unwrap().contains("`check --live` runs PyTorch"), "{row}");
        assert_eq!(against(row), ["fixture", "pytorch"], "{row}");
    }

    let (table, rows) = check(&["--live"], Some("/nonexistent/python"), true);
    assert!(table.contains("cannot run /nonexistent/python"), "{table}");
    assert!(value_rows(&rows).iter().all(|r| r["note"].as_str().unwrap().contains("stand in")));

    // With Python, the same rows are checked live against torchvision, and against the fixture.
    // (JSON only: each run starts Python, seconds of importing torch.)
    let (_, rows) = check(&["--live"], None, false);
    let live = value_rows(&rows);
    assert_eq!(live.len(), recorded.len());
    for row in &live {
        assert_eq!(row["reference"], "pytorch", "{row}");
        assert!(row["note"].is_null(), "{row}");
        assert_eq!(against(row), ["pytorch", "fixture", "fixture"], "{row}");
    }
}

/// The optimizers libtorch lacks: `check` replays torch.optim's recorded runs and says so;
/// `check --live` runs torch.optim (no note); `--live` without Python falls back to the
/// recordings, and the note names why.
#[test]
fn torch_optim_runs_are_replayed_by_default_and_live_on_request() {
    let rows_of = |args: &[&str], python: Option<&str>| -> Vec<serde_json::Value> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_tch-parity"));
        command.args(["check", "--fixtures", "fixtures/optim/rprop.json", "--format", "json"]).args(args);
        if let Some(p) = python {
            command.env("TCH_PARITY_PYTHON_ENV", p);
        }
        let out = command.current_dir(root()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["rows"].as_array().unwrap().clone()
    };
    let note = |r: &serde_json::Value| r["note"].as_str().unwrap_or("").to_owned();
    let trajectory_rows = |rows: &[serde_json::Value]| -> Vec<serde_json::Value> {
        rows.iter().filter(|r| r["output"].as_str().unwrap().starts_with("param.")).cloned().collect()
    };

    let replayed = trajectory_rows(&rows_of(&[], None));
    assert!(!replayed.is_empty());
    assert!(replayed.iter().all(|r| note(r).contains("not run live") && note(r).contains("stands in")));
    let references: std::collections::BTreeSet<&str> =
        replayed.iter().map(|r| r["reference"].as_str().unwrap()).collect();
    assert_eq!(references.into_iter().collect::<Vec<_>>(), ["pytorch", "pytorch-foreach"]);

    let live = trajectory_rows(&rows_of(&["--live"], None));
    assert_eq!(live.len(), replayed.len());
    assert!(live.iter().all(|r| r["note"].is_null()), "{}", note(&live[0]));
    // A half-precision path that rounds in another order than the hand-written one is compared
    // over PyTorch's 7 steps, and the row's tolerance says so.
    let half = |r: &serde_json::Value| matches!(r["dtype"].as_str(), Some("float16" | "bfloat16"));
    let other_order = |r: &serde_json::Value| half(r) && r["reference"] == "pytorch-foreach";
    let widened = |r: &serde_json::Value| r["tolerance_override"].as_str().unwrap_or("").contains("first 7 steps");
    assert!(live.iter().all(|r| widened(r) == other_order(r)));

    let without_python = trajectory_rows(&rows_of(&["--live"], Some("/nonexistent/python")));
    assert!(
        without_python.iter().all(|r| note(r).contains("cannot run /nonexistent/python")),
        "{}",
        note(&without_python[0])
    );
}

#[test]
fn output_into_a_missing_folder_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no/such/folder/report.md");
    let out = run(&["check", "--format", "markdown", "--output", file.to_str().unwrap(), "--fixtures", BINARY]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot write"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing left behind");
}

#[test]
fn explain_shows_a_loss_case_element_by_element() {
    let out = run(&["explain", "binary_cross_entropy/log-clamp", "--dtype", "float32"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.contains("input: float [8], requires_grad"), "{stdout}");
    assert!(stdout.contains("== float32 none") && stdout.contains("== float32 sum"));
    assert!(stdout.contains("rtol 1.3e-6, atol 1e-5: torch.testing.assert_close's default for float32"));
    let header = stdout.lines().find(|l| l.trim_start().starts_with("element")).unwrap();
    for column in ["hand-written", "libtorch", "fixture", "ulp hand", "ulp fixture"] {
        assert!(header.contains(column), "{header}");
    }
    // The log clamp: ln 0 is clamped at −100, so element [1] (x = 0, t = 1) costs exactly 100.
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("[1]") && l.matches("100.0").count() == 3), "{stdout}");
}

#[test]
fn explain_shows_an_optimizer_case_step_by_step_and_an_error_case_by_message() {
    let stdout = text(&run(&["explain", "sgd/momentum/rosenbrock", "--dtype", "float32"]).stdout);
    assert!(stdout.contains("free-running/fused: hand-written against fused, difference in ulp after each step"));
    let buffer = stdout.lines().find(|l| l.trim_start().starts_with("momentum_buffer.xy")).unwrap();
    assert!(buffer.contains('▁') && buffer.contains("within tolerance at every step"), "{buffer}");

    let stdout = text(&run(&["explain", "adam/beta1-one", "--dtype", "float64"]).stdout);
    assert!(
        stdout.contains("expected: construction fails, the message containing \"Invalid beta parameter at index 0\"")
    );
    assert!(
        stdout.contains("hand-written: rejects: invalid argument: Invalid beta parameter at index 0: 1"),
        "{stdout}"
    );
}

#[test]
fn explain_with_an_unknown_or_ambiguous_name_lists_close_matches_and_exits_two() {
    let out = run(&["explain", "crossentropy/seed-one-hat"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("no case is named 'crossentropy/seed-one-hat'"), "{stderr}");
    assert!(stderr.lines().nth(1).unwrap().trim() == "cross_entropy/seed-one-hot", "{stderr}");

    let out = run(&["explain", "seed"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("several cases match 'seed'"));
}

/// `tch-parity check -v adam | head -1`: the reader goes away, and the program ends quietly. (Its
/// 175 KB cannot all fit in a pipe's 64 KB buffer before the reader leaves.)
#[test]
fn a_closed_pipe_ends_the_program_quietly() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_tch-parity"))
        .args(["check", "-v", "adam"])
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    assert!(first.contains("max |Δ|"), "{first}");
    // The reader is gone now; the rest of the table meets a closed pipe.
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}
