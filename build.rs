//! Gives every binary, test and bench of this crate an rpath to the libtorch that torch-sys
//! linked against, so nothing needs LD_LIBRARY_PATH, and records libtorch's version.
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch folder (DEP_TCH_LIBTORCH_LIB)");
    // The real folder, not the .libtorch link inside the clone that LIBTORCH may name.
    let lib = std::fs::canonicalize(&lib).map(|p| p.display().to_string()).unwrap_or(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");

    let version = libtorch_version(Path::new(&lib)).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TCH_PARITY_LIBTORCH_VERSION={version}");
}

/// A pip-installed torch has `version.py` beside `lib/`; a libtorch archive has `build-version`.
fn libtorch_version(lib: &Path) -> Option<String> {
    let root = lib.parent()?;
    println!("cargo:rerun-if-changed={}", root.join("version.py").display());
    if let Ok(text) = std::fs::read_to_string(root.join("build-version")) {
        return Some(text.trim().to_owned());
    }
    let text = std::fs::read_to_string(root.join("version.py")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_owned())
}
