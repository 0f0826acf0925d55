//! The tool itself under bad input and interruption: broken fixture files are errors naming
//! the file, an interrupted or concurrent regen never leaves a half-written fixture, a
//! read-only folder is a clear error, and a panic inside a libtorch call is a failed row, not
//! an aborted run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;
use tch::Tensor;
use tch_parity::catalog::LossCall;
use tch_parity::check::run::run_case;
use tch_parity::check::{load_path, Selection};
use tch_parity::fixture::DType;
use tch_parity::implementation::{LossFunction, Registry};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tool(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tch-parity"));
    c.args(args).current_dir(root());
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn expect_fixture_error(path: &Path, message: &str) {
    for command in ["check", "regen"] {
        let out: Output = tool(&[command, "--fixtures", path.to_str().unwrap()]).output().unwrap();
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert!(stderr.contains(&path.display().to_string()) && stderr.contains(message), "{command}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn truncated_corrupt_empty_and_wrong_schema_files_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(root().join("fixtures/binary/sigmoid.json")).unwrap();
    expect_fixture_error(&write(dir.path(), "truncated.json", &good[..good.len() / 3]), "not valid JSON");
    expect_fixture_error(&write(dir.path(), "empty.json", b""), "not valid JSON");
    expect_fixture_error(&write(dir.path(), "binary.json", &[0xff, 0xfe, 0x00, 0x9c, 0x80, 0xc3]), "cannot read");
    expect_fixture_error(
        &write(dir.path(), "schema.json", br#"{"format": "tch-parity-fixture/1", "cases": [{"name": 7}]}"#),
        "expected a string",
    );
    expect_fixture_error(&write(dir.path(), "other.json", br#"{"format": "something-else/2", "cases": []}"#), "format");
}

#[test]
fn a_huge_file_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.json");
    // Sparse: 100 MiB that take no disk.
    std::fs::File::create(&path).unwrap().set_len(100 << 20).unwrap();
    expect_fixture_error(&path, "larger than");
}

/// A copy of the binary family in a fresh folder with stale values (0.5 nudged wherever it is
/// followed by a comma), so that regen must rewrite every file; returns the folder and, per
/// file, its bytes now and the bytes a completed regen writes (found by running one on a
/// second copy).
/// A fixture file's path, its bytes before regen and after.
type Versions = Vec<(PathBuf, Vec<u8>, Vec<u8>)>;

fn stale_copy() -> (tempfile::TempDir, Versions) {
    let (dir, reference) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut names = Vec::new();
    for entry in std::fs::read_dir(root().join("fixtures/binary")).unwrap() {
        let source = entry.unwrap().path();
        let fresh = std::fs::read(&source).unwrap();
        let stale = text(&fresh).replace("0.5,", "0.50001,").into_bytes();
        assert_ne!(stale, fresh, "{} has nothing to make stale", source.display());
        let name = source.file_name().unwrap().to_owned();
        std::fs::write(dir.path().join(&name), &stale).unwrap();
        std::fs::write(reference.path().join(&name), &stale).unwrap();
        names.push((name, stale));
    }
    let done = tool(&["regen", "--fixtures", reference.path().to_str().unwrap()]).output().unwrap();
    assert_eq!(done.status.code(), Some(0), "{}", text(&done.stderr));
    let files = names
        .into_iter()
        .map(|(name, stale)| {
            let new = std::fs::read(reference.path().join(&name)).unwrap();
            assert_ne!(new, stale, "regen rewrites {name:?}");
            (dir.path().join(name), stale, new)
        })
        .collect();
    (dir, files)
}

#[test]
fn a_regen_killed_part_way_leaves_every_file_old_or_new() {
    for delay_ms in [30, 120, 300, 600] {
        let (dir, files) = stale_copy();
        let mut child = tool(&["regen", "--fixtures", dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        for (path, old, new) in &files {
            let now = std::fs::read(path).unwrap();
            assert!(
                now == *old || now == *new,
                "{} is neither old nor new after a kill at {delay_ms} ms",
                path.display()
            );
        }
        assert!(load_path(dir.path()).is_ok(), "every .json still loads after a kill at {delay_ms} ms");
    }
}

#[test]
fn two_regens_at_once_leave_every_file_new() {
    let (dir, files) = stale_copy();
    let spawn = || {
        tool(&["regen", "--fixtures", dir.path().to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    for (path, _, new) in &files {
        assert_eq!(std::fs::read(path).unwrap(), *new, "{}", path.display());
    }
}

/// Makes `dir` unwritable: `chattr +i` as root (root ignores permission bits), read-only
/// permissions otherwise. Undone on drop.
struct ReadOnly<'a>(&'a Path, bool);

impl<'a> ReadOnly<'a> {
    fn new(dir: &'a Path) -> Self {
        let root = Command::new("id").arg("-u").output().map(|o| text(&o.stdout).trim() == "0").unwrap_or(false);
        if root {
            let ok = Command::new("chattr").arg("+i").arg(dir).status().map(|s| s.success()).unwrap_or(false);
            assert!(
                ok,
                "chattr +i failed: this test needs a file system with the immutable attribute when run as root"
            );
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        }
        // The precondition, checked rather than assumed: the folder really refuses a new file.
        assert!(std::fs::write(dir.join("probe"), b"x").is_err(), "{} is still writable", dir.display());
        ReadOnly(dir, root)
    }
}

impl Drop for ReadOnly<'_> {
    fn drop(&mut self) {
        if self.1 {
            let _ = Command::new("chattr").arg("-i").arg(self.0).status();
        } else {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(self.0, std::fs::Permissions::from_mode(0o755));
        }
    }
}

#[test]
fn a_read_only_fixtures_folder_is_a_clear_error() {
    let (dir, files) = stale_copy();
    let _guard = ReadOnly::new(dir.path());
    let out = tool(&["regen", "--fixtures", dir.path().to_str().unwrap()]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write") && stderr.contains(&dir.path().display().to_string()), "{stderr}");
    for (path, old, _) in &files {
        assert_eq!(std::fs::read(path).unwrap(), *old, "{} changed", path.display());
    }
}

#[test]
fn fuzz_usage_errors_exit_two() {
    for args in
        [&["fuzz", "--op", "no_such_loss"][..], &["fuzz", "--seconds", "0"][..], &["fuzz", "--cases", "many"][..]]
    {
        let out = tool(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
    }
}

/// A sigmoid that panics inside a libtorch call (tch's panicking API raising a C++ error:
/// viewing 2 elements as 7).
fn panicking(call: &LossCall) -> Option<tch_parity::Result<Tensor>> {
    let LossCall::Sigmoid { input } = *call else { return None };
    Some(Ok(input.view([7])))
}

#[test]
fn a_panic_inside_libtorch_is_a_failed_row_and_the_other_cases_still_run() {
    let registry = Registry {
        subjects: vec![Box::new(LossFunction::new("panicking", panicking))],
        references: Registry::standard_references(),
    };
    let file = load_path(&root().join("fixtures/binary/sigmoid.json")).unwrap().remove(0);
    let mut rows = Vec::new();
    for case in &file.cases {
        rows.extend(run_case(&registry, "sigmoid.json", case, &Selection::default()));
    }
    // Two outputs (value and gradient) per case in each of the four dtypes, and the second-order
    // gradient in float32 and float64.
    assert_eq!(rows.len(), file.cases.len() * (DType::ALL.len() * 2 + 2), "every case and dtype still has its rows");
    for row in &rows {
        let check = row.reference_check().unwrap();
        assert!(!check.passed);
        let message = check.message.as_deref().unwrap_or_default();
        assert!(message.contains("panicked") && message.contains("shape '[7]' is invalid"), "{message}");
        // libtorch's own side and the fixture are unaffected.
        assert!(row.drift_check().unwrap().passed);
    }
}

#[test]
fn a_report_into_a_read_only_folder_is_a_clear_error_that_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let _guard = ReadOnly::new(dir.path());
    let out = tool(&["check", "sigmoid", "--format", "html", "--output", report.to_str().unwrap()]).output().unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write") && stderr.contains("report.html"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing half-written");
}
