//! Embeds `fixtures/` into the binary so `paystat demo` and `paystat mock serve` work from any
//! folder, writes one contract test per scenario file, and tells cargo to rebuild when a
//! fixture is added, so the contract tests pick it up with no Rust change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    version();
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("fixtures");
    println!("cargo::rerun-if-changed={}", root.display());
    let mut files = Vec::new();
    collect(&root, &mut files);
    files.sort();
    let mut out = String::from(
        "/// Every file under `fixtures/`, by path relative to it.\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for file in &files {
        let relative = file.strip_prefix(&root).unwrap();
        let relative = relative
            .to_str()
            .expect("fixture paths are UTF-8")
            .replace('\\', "/");
        writeln!(
            out,
            "    ({relative:?}, include_bytes!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    out.push_str("];\n");
    std::fs::write(dest.join("fixtures.rs"), out).unwrap();
    // The diagnosis rules are built into every paystat (the core, not only the contract tools).
    let mut rules = String::from(
        "/// Every rule file under `fixtures/rules/`, by file name.\npub static FILES: &[(&str, &[u8])] = &[\n",
    );
    for file in files.iter().filter(|f| f.starts_with(root.join("rules"))) {
        let name = file
            .file_name()
            .unwrap()
            .to_str()
            .expect("rule file names are UTF-8");
        writeln!(
            rules,
            "    ({name:?}, include_bytes!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    rules.push_str("];\n");
    std::fs::write(dest.join("rules.rs"), rules).unwrap();
    std::fs::write(
        dest.join("scenario_tests.rs"),
        scenario_tests(&root, &files),
    )
    .unwrap();
}

/// `paystat --version`: the package version, and the git commit when built from a checkout.
fn version() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let git = manifest.join(".git");
    if git.exists() {
        println!("cargo::rerun-if-changed={}", git.join("HEAD").display());
        println!("cargo::rerun-if-changed={}", git.join("refs").display());
    }
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&manifest)
        .output()
        .ok()
        .filter(|o| o.status.success() && git.exists())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let version = std::env::var("CARGO_PKG_VERSION").unwrap();
    let long = match commit {
        Some(commit) => format!("{version} (git {commit})"),
        None => version,
    };
    println!("cargo::rustc-env=PAYSTAT_VERSION={long}");
}

/// The folders of the diagnosis rules and of the reconciliation scenarios, which are not
/// per-payment scenarios (`tests/contract/reconcile.rs` plays the latter).
const NOT_SCENARIOS: [&str; 2] = ["rules", "reconcile"];

/// One contract test per scenario file, named after it (`ledger::status_completed`), for
/// `tests/contract/scenarios.rs` to include: adding a fixture adds a test with no Rust change,
/// and no test's name shifts when another file is added.
fn scenario_tests(root: &Path, files: &[PathBuf]) -> String {
    let mut by_gateway: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for file in files {
        let relative = file.strip_prefix(root).unwrap();
        let mut parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let Some(name) = parts
            .pop()
            .and_then(|n| n.strip_suffix(".toml").map(str::to_owned))
        else {
            continue;
        };
        if parts.len() != 1 || NOT_SCENARIOS.contains(&parts[0].as_str()) {
            continue;
        }
        by_gateway.entry(parts.remove(0)).or_default().push(name);
    }
    let mut out = String::new();
    for (gateway, names) in by_gateway {
        writeln!(out, "mod {} {{", ident(&gateway)).unwrap();
        for name in names {
            writeln!(
                out,
                "    #[tokio::test]\n    async fn {}() {{\n        super::run({:?}).await;\n    }}",
                ident(&name),
                format!("{gateway}/{name}.toml")
            )
            .unwrap();
        }
        out.push_str("}\n");
    }
    out
}

/// A file name as a Rust identifier: anything but letters, digits and `_` becomes `_`.
fn ident(name: &str) -> String {
    let mut ident: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if ident.starts_with(|c: char| c.is_ascii_digit()) {
        ident.insert(0, '_');
    }
    ident
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            println!("cargo::rerun-if-changed={}", path.display());
            collect(&path, files);
        } else if path.extension().is_some_and(|e| e == "toml" || e == "json") {
            println!("cargo::rerun-if-changed={}", path.display());
            files.push(path);
        }
    }
}
