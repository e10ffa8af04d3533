//! The crate's layers (README "Project layout"): a top-level module imports only from its own
//! layer or below, and never in a cycle. Read from the `crate::…` paths of `src/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module and its layer, bottom up.
const LAYERS: [(&str, u8); 13] = [
    ("config", 0),
    ("clock", 0),
    ("metrics", 0),
    ("store", 1),
    ("oauth", 2),
    ("jwt", 2),
    ("net", 2),
    ("password", 2),
    ("state", 3),
    ("flows", 4),
    ("admin", 4),
    ("http", 5),
    ("cli", 6),
];

fn layer(module: &str) -> u8 {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l).unwrap_or_else(|| {
        panic!("top-level module `{module}` has no layer: add it to LAYERS and README's layout section")
    })
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
fn owner(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.trim_end_matches(".rs").to_string();
    (rel.components().count() > 1 || !matches!(first.as_str(), "lib" | "main")).then_some(first)
}

/// The top-level modules a piece of source names: `crate::x`, and `use crate::{x, y::…}`.
fn imports(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Only the first-level names of the group are modules; nested braces are their items.
            let (mut depth, mut start) = (0, true);
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && depth == 0 && !c.is_whitespace() => {
                        found.insert(ident(&group[j..]));
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(from) = owner(&src, &file) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        let to: Vec<String> = imports(&text).into_iter().filter(|m| *m != from).collect();
        edges.entry(from).or_default().extend(to);
    }
    edges
}

#[test]
fn every_import_between_top_level_modules_goes_down_or_sideways() {
    let mut upward = Vec::new();
    for (from, tos) in graph() {
        for to in tos {
            if layer(&to) > layer(&from) {
                upward.push(format!("{from} (layer {}) imports {to} (layer {})", layer(&from), layer(&to)));
            }
        }
    }
    assert!(upward.is_empty(), "imports must go down:\n{}", upward.join("\n"));
}

#[test]
fn top_level_modules_never_import_each_other_in_a_cycle() {
    let g = graph();
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == m) {
            let mut cycle = path[i..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if !done.insert(m.to_string()) {
            return None;
        }
        path.push(m.to_string());
        for next in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(cycle) = visit(m, &g, &mut Vec::new(), &mut done) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_import_reader_sees_grouped_and_inline_paths() {
    let text = "use crate::{flows::grants::{a, b}, oauth};\nlet x = crate::state::now();";
    let names: Vec<String> = imports(text).into_iter().collect();
    assert_eq!(names, ["flows", "oauth", "state"]);
}

#[test]
fn http_handlers_never_touch_the_store_directly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    rust_files(&dir, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains(".store."))
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "http/ must call flows, not the store: {offenders:?}");
}

#[test]
fn the_subject_of_a_token_is_decided_in_one_file() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let offenders: Vec<String> = files
        .iter()
        .filter(|f| !f.ends_with("oauth/subject.rs"))
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            ["\"@clients\"", "ends_with(\"@clients", "strip_suffix(\"@clients", "|{sub}\"", "\"{}|{}\""]
                .iter()
                .any(|p| text.contains(p))
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(offenders.is_empty(), "subject rules outside oauth/subject.rs: {offenders:?}");
}
