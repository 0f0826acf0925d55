//! Gives every binary, test and bench of this crate an rpath to the libtorch that torch-sys
//! linked against (so nothing needs LD_LIBRARY_PATH), records libtorch's version, and compiles
//! the C++ shim (src/ffi/*.cpp) against the same libtorch headers.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys did not report its libtorch folder (DEP_TCH_LIBTORCH_LIB)");
    // The real folder, not the .libtorch link inside the clone that LIBTORCH may name.
    let lib = std::fs::canonicalize(&lib).unwrap_or_else(|_| PathBuf::from(&lib));
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());

    let version = libtorch_version(&lib).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TCH_PARITY_LIBTORCH_VERSION={version}");

    compile_shim(&lib);
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

fn compile_shim(lib: &Path) {
    let sources = ["src/ffi/shim.cpp", "src/ffi/autograd.cpp", "src/ffi/sleef.cpp"];
    for source in sources.iter().chain(&["src/ffi/message.h"]) {
        println!("cargo:rerun-if-changed={source}");
    }
    let root = lib.parent().expect("libtorch's lib folder has a parent");
    // torch-sys builds its own wrapper with the same flags; the ABI default matches its.
    let abi = std::env::var("LIBTORCH_CXX11_ABI").unwrap_or_else(|_| "1".to_owned());
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .flag("-std=c++17")
        .flag(format!("-D_GLIBCXX_USE_CXX11_ABI={abi}"))
        .flag("-DGLOG_USE_GLOG_EXPORT");
    // libtorch's at::parallel_for is a header template: compiled here without OpenMP it would
    // run every chunk on the calling thread. With the OpenMP runtime libtorch ships (pip's
    // torch/lib/libgomp.so.1), the shim's parallel loops run on libtorch's own worker threads,
    // and that one runtime is linked (two OpenMP runtimes in a process would each spin).
    let gomp = lib.join("libgomp.so.1");
    if gomp.exists() {
        build.flag("-fopenmp").flag("-DAT_PARALLEL_OPENMP=1");
        println!("cargo:rustc-link-arg={}", gomp.display());
    }
    build.files(sources).compile("tch_parity_shim");
    for name in ["torch_cpu", "torch", "c10"] {
        println!("cargo:rustc-link-lib={name}");
    }
    println!("cargo:rustc-link-search=native={}", lib.display());
}
