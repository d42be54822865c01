//! The folder tree is the architecture: each module of the library imports only modules below
//! it, so there is no circle and the vocabulary (`result`) is a leaf. The layers, lowest first,
//! as the README's layout table lists them.

use std::path::Path;

use crate::helpers::walk;

const LAYERS: [&[&str]; 11] = [
    &["result"],
    &["bounds", "payment_id", "clock", "credential", "ownership"],
    &["retry"],
    &["gateway"],
    &["audit", "cache"],
    &["config"],
    &["check", "remote"],
    &["feed", "build", "explain", "fill"],
    &["reconcile"],
    &["serve"],
    &["contract"],
];

fn layer(module: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&module))
        .unwrap_or_else(|| panic!("src/{module} is in no layer; add it to LAYERS and the README"))
}

/// The top-level module a file of `src/` belongs to (`src/check/route.rs` → `check`).
fn module_of(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_string_lossy();
    let name = first.strip_suffix(".rs").unwrap_or(&first).to_owned();
    (!matches!(name.as_str(), "lib" | "main" | "cli")).then_some(name)
}

#[test]
fn library_modules_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut upward = Vec::new();
    let mut files = 0;
    for file in walk(&src) {
        let relative = file.strip_prefix(&src).unwrap();
        let Some(module) = module_of(relative) else {
            continue;
        };
        files += 1;
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let used: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if used.is_empty() || used == module {
                    continue;
                }
                if layer(&used) >= layer(&module) {
                    upward.push(format!(
                        "src/{}:{}: {module} uses {used}",
                        relative.display(),
                        number + 1
                    ));
                }
            }
        }
    }
    assert!(files > 20, "only {files} library files found");
    assert!(
        upward.is_empty(),
        "imports that point up or sideways:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_checker_names_no_gateway() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files: Vec<_> = walk(&src.join("check"));
    files.extend(walk(&src.join("retry")));
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap().to_ascii_lowercase();
        for name in ["ledger", "stripe", "plaid"] {
            assert!(
                !text.contains(name),
                "{} names the gateway {name}",
                file.display()
            );
        }
    }
}
