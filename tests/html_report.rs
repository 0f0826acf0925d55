//! The HTML report in a real browser: headless Chromium (Debian's package; `.ci/run` installs it)
//! opens the file, takes a screenshot, and reports where the first failure sits. The page must
//! have rendered (not a blank page) and show the failure on the first screen, before any passing
//! row. Skipped, saying so, only where no browser can be found.

use std::path::{Path, PathBuf};
use std::process::Command;
use tch_parity::check::{check, load_path, Format, Selection};
use tch_parity::implementation::Registry;

const WIDTH: u32 = 1280;
const HEIGHT: u32 = 900;

fn browser() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let out = Command::new("which").arg(name).output().ok()?;
        out.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    })
}

/// Chromium as the probe runs it here: headless, no sandbox (root), no background network.
fn chromium(browser: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        .args(args)
        .output()
        .expect("the browser runs")
}

#[test]
fn the_html_report_renders_and_shows_a_failure_before_any_passing_row() {
    let Some(browser) = browser() else {
        eprintln!("skipped: no browser found (install Debian's chromium: apt-get install chromium; .ci/run does)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // A disagreement injected into a copy of the BCE fixture, beside every SGD case.
    let bce = std::fs::read_to_string(root.join("fixtures/binary/binary_cross_entropy.json")).unwrap();
    let needle = r#""output": {"shape": [2], "data": [2.302585, 2.3025851]}"#;
    assert!(bce.contains(needle));
    let broken = bce.replacen(needle, r#""output": {"shape": [2], "data": [2.302585, 2.5]}"#, 1);
    std::fs::write(dir.path().join("binary_cross_entropy.json"), broken).unwrap();
    std::fs::copy(root.join("fixtures/optim/sgd.json"), dir.path().join("sgd.json")).unwrap();
    let files = load_path(dir.path()).unwrap();
    let report = check(&Registry::standard(), &files, &Selection::default());
    assert!(!report.passed());
    let page = dir.path().join("report.html");
    std::fs::write(&page, report.render(Format::Html)).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch (SVG's xmlns names a namespace, it is not fetched).
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import", "<link"] {
        assert!(!html.contains(fetch), "{fetch}");
    }
    assert!(html.matches("<svg").count() > 20, "charts for every op and optimizer case");

    let url = format!("file://{}", page.display());
    let profile = dir.path().join("profile");
    let shot = dir.path().join("shot.png");
    let out = chromium(&browser, &profile, &[&format!("--screenshot={}", shot.display()), &url]);
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&out.stderr));

    // Rendered: the first screen is not blank (many colours, much ink).
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let channels = info.line_size / info.width as usize;
    let (mut colours, mut ink) = (std::collections::HashSet::new(), 0usize);
    for p in pixels[..info.buffer_size()].chunks(channels) {
        colours.insert((p[0], p[1], p[2]));
        ink += usize::from(p[0] < 200 || p[1] < 200 || p[2] < 200);
    }
    let total = (info.width * info.height) as usize;
    assert!(colours.len() > 50 && ink * 100 > total, "{} colours, {ink} of {total} pixels inked", colours.len());

    // The first failure is on the first screen, and comes before the summary of passing ones.
    let dom = chromium(&browser, &profile, &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&dom.stdout);
    let top: i64 = dom
        .split("data-first-failure-top=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .expect("the page reports where its first failure is");
    assert!((0..i64::from(HEIGHT) - 50).contains(&top), "first failure at {top} px");
    assert!(dom.find("class=\"failure\"").unwrap() < dom.find("<h2>Per op</h2>").unwrap());
}
