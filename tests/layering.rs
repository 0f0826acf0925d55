//! The layers of `src/` depend only downwards. Each top-level module belongs to a layer; a
//! `crate::module` path in a module's code (comments aside) is an edge, and an edge to a layer
//! above, or across to another module of the same layer, fails with the file and line.

use std::path::{Path, PathBuf};

/// Bottom first. README "Layout" shows the same tree.
const LAYERS: &[&[&str]] = &[
    &["error", "dtype", "options"],
    &["ffi"],
    &["loss", "optim"],
    &["train"],
    &["reference"],
    &["catalog"],
    &["implementation"],
    &["fixture"],
    &["check"],
    &["record"],
    &["fuzz"],
    &["conformance"],
];

/// What lib.rs re-exports at the crate root, and the module each comes from.
const ROOT_ITEMS: &[(&str, &str)] = &[("Error", "error"), ("Result", "error"), ("Reduction", "loss")];

fn layer_of(module: &str) -> Option<usize> {
    let module = ROOT_ITEMS.iter().find(|(item, _)| *item == module).map_or(module, |(_, m)| m);
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The module a root item comes from, or the module itself.
fn home(name: &str) -> &str {
    ROOT_ITEMS.iter().find(|(item, _)| *item == name).map_or(name, |(_, m)| m)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs and main.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(name) => Some(name.to_owned()),
        None => Some(first),
    }
}

/// Every `crate::name` in `line`, comments removed.
fn crate_paths(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    code.match_indices("crate::")
        .filter(|(at, _)| !code[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .map(|(at, m)| code[at + m.len()..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect())
        .collect()
}

#[test]
fn every_module_of_src_depends_only_on_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    let mut edges = 0;
    for file in &files {
        let Some(module) = module_of(&src, file) else { continue };
        let from = layer_of(&module).unwrap_or_else(|| panic!("src/{module} is in no layer: add it to LAYERS"));
        for (n, line) in std::fs::read_to_string(file).unwrap().lines().enumerate() {
            for target in crate_paths(line) {
                if home(&target) == module {
                    continue;
                }
                edges += 1;
                let to = layer_of(&target)
                    .unwrap_or_else(|| panic!("{}:{}: crate::{target} is in no layer", file.display(), n + 1));
                if to >= from {
                    let why = if to == from { "beside it" } else { "above it" };
                    violations.push(format!("{}:{}: {module} uses {target}, {why}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(edges > 50, "only {edges} edges found: is the scan broken?");
    assert!(violations.is_empty(), "dependencies that do not point down:\n{}", violations.join("\n"));
}

#[test]
fn the_scan_sees_an_upward_edge() {
    assert_eq!(crate_paths("use crate::check::run; // crate::fuzz in a comment"), vec!["check"]);
    assert_eq!(crate_paths("$crate::options::Options"), vec!["options"]);
    assert!(crate_paths("tch_parity_crate::x").is_empty());
    assert!(layer_of("fuzz") > layer_of("loss"));
}
