//! `cargo xtask test --tier unit` step `layers`: no import circle between the
//! modules of any crate in the workspace.
//!
//! Each `.rs` file under a crate's `src/` is a module (`a/b.rs` and
//! `a/b/mod.rs` are `a::b`; `x_tests.rs` and `tests.rs` are the test module of
//! `x` and of their folder). Every `crate::` and `super::` path in a file (in a
//! `use` or inline, grouped imports included) is an edge to the longest known
//! module it names. An edge between two modules counts between their ancestors
//! that are siblings (`attach::sriov` -> `ops` is `attach` -> `ops`), and a
//! circle is a strongly connected set of siblings: two modules of one parent
//! that reach each other.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// Circles that are known and not yet taken apart: the step fails on any
/// other, and on a listed one that is gone (so this list only shrinks).
const KNOWN: &[&str] = &[];

/// A module path within its crate, `[]` being the crate root.
type ModPath = Vec<String>;

/// The circles of one crate: each a set of sibling modules, as `a::b` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    pub krate: String,
    pub modules: Vec<String>,
}

impl std::fmt::Display for Circle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.krate, self.modules.join(" <-> "))
    }
}

/// The unit-tier step: fails naming every circle.
pub fn check() -> Result<()> {
    check_tree(None)
}

/// `cargo xtask layers [ROOT]`: fails naming every circle below `root`.
pub fn check_tree(root: Option<PathBuf>) -> Result<()> {
    let root = root.unwrap_or_else(crate::sh::workspace_root);
    let circles = workspace_circles(&root)?;
    for c in &circles {
        eprintln!("layers: import circle in {c}");
    }
    let (new, gone) = unexpected(&circles);
    for g in &gone {
        eprintln!("layers: {g} is listed as known but gone: drop it from KNOWN");
    }
    if new.is_empty() && gone.is_empty() {
        println!("layers: {} import circle(s), all listed as known", circles.len());
        return Ok(());
    }
    bail!("{} new import circle(s), {} known one(s) gone", new.len(), gone.len())
}

/// The circles not in [`KNOWN`], and the known ones not found.
fn unexpected(circles: &[Circle]) -> (Vec<String>, Vec<&'static str>) {
    let shown: Vec<String> = circles.iter().map(ToString::to_string).collect();
    let new = shown.iter().filter(|c| !KNOWN.contains(&c.as_str())).cloned().collect();
    let gone = KNOWN.iter().copied().filter(|k| !shown.iter().any(|c| c == k)).collect();
    (new, gone)
}

/// Every crate's `src/` below `root` (skipping build output and hidden folders).
pub fn workspace_circles(root: &Path) -> Result<Vec<Circle>> {
    let mut out = Vec::new();
    for src in crate_sources(root)? {
        let name = src
            .parent()
            .map_or_else(String::new, |p| p.strip_prefix(root).unwrap_or(p).display().to_string());
        out.extend(crate_circles(&name, &src)?);
    }
    Ok(out)
}

fn crate_sources(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    if dir.join("Cargo.toml").is_file() && dir.join("src").is_dir() {
        found.push(dir.join("src"));
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() && !name.starts_with('.') && name != "target" && name != "src" {
            found.extend(crate_sources(&path)?);
        }
    }
    Ok(found)
}

/// The circles among the modules of the crate whose sources are in `src`.
pub fn crate_circles(krate: &str, src: &Path) -> Result<Vec<Circle>> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    let modules: Vec<(ModPath, PathBuf)> =
        files.into_iter().map(|f| (module_of(src, &f), f)).collect();
    let known: BTreeSet<&ModPath> = modules.iter().map(|(m, _)| m).collect();
    // Sibling edges, grouped by parent.
    let mut edges: BTreeMap<ModPath, BTreeSet<(String, String)>> = BTreeMap::new();
    for (from, file) in &modules {
        let text = std::fs::read_to_string(file)?;
        for target in references(from, &text) {
            let Some(to) = longest_known(&known, &target) else { continue };
            if let Some((parent, a, b)) = sibling_edge(from, &to) {
                edges.entry(parent).or_default().insert((a, b));
            }
        }
    }
    let mut circles = Vec::new();
    for (parent, set) in edges {
        for scc in strongly_connected(&set) {
            let modules = scc.iter().map(|m| [parent.clone(), vec![m.clone()]].concat().join("::"));
            circles.push(Circle { krate: krate.to_owned(), modules: modules.collect() });
        }
    }
    Ok(circles)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The module a file holds (see the module docs for the naming rules).
fn module_of(src: &Path, file: &Path) -> ModPath {
    let rel = file.strip_prefix(src).unwrap_or(file);
    let mut parts: ModPath =
        rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "lib" | "main" | "mod" => {}
        _ => match last.strip_suffix("_tests") {
            Some("mod") => parts.push("tests".into()),
            Some(base) => parts.extend([base.to_owned(), "tests".into()]),
            None => parts.push(last),
        },
    }
    parts
}

/// The module paths a file names with `crate::` or `super::`, relative to the crate root.
fn references(from: &ModPath, text: &str) -> Vec<ModPath> {
    let code: String =
        text.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
        let before = code[..i].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        let (base, rest) = resolve_start(from, &code[i..]);
        for tail in expand(rest) {
            out.push([base.clone(), tail].concat());
        }
    }
    out
}

/// Where a `crate::`/`super::super::` path starts, and the text after its prefix.
fn resolve_start<'a>(from: &ModPath, mut rest: &'a str) -> (ModPath, &'a str) {
    if let Some(r) = rest.strip_prefix("crate::") {
        return (Vec::new(), r);
    }
    let mut base = from.clone();
    while let Some(r) = rest.strip_prefix("super::") {
        base.pop();
        rest = r;
    }
    (base, rest)
}

/// The paths of `a::b::{c, d::e}` style text: identifiers joined by `::`,
/// one level of braces expanded to its first segment of each item.
fn expand(rest: &str) -> Vec<ModPath> {
    let mut path = Vec::new();
    let mut s = rest;
    loop {
        let ident: String = s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        if ident.is_empty() {
            break;
        }
        s = &s[ident.len()..];
        path.push(ident);
        match s.strip_prefix("::") {
            Some(r) => s = r,
            None => return vec![path],
        }
    }
    let Some(group) = s.strip_prefix('{') else { return vec![path] };
    let inner = group.split('}').next().unwrap_or("");
    inner
        .split(',')
        .filter_map(|item| {
            let head: String = item
                .trim()
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let segs: Vec<String> =
                head.split("::").filter(|x| !x.is_empty()).map(str::to_owned).collect();
            (!segs.is_empty() && segs[0] != "self").then(|| [path.clone(), segs].concat())
        })
        .chain(std::iter::once(path.clone()))
        .collect()
}

fn longest_known(known: &BTreeSet<&ModPath>, target: &ModPath) -> Option<ModPath> {
    (0..=target.len()).rev().map(|n| target[..n].to_vec()).find(|p| known.contains(p))
}

/// The sibling edge `from` -> `to` stands for: (their common parent, from's
/// child of it, to's child of it); none between a module and its ancestor.
fn sibling_edge(from: &ModPath, to: &ModPath) -> Option<(ModPath, String, String)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    let a = from.get(common)?;
    let b = to.get(common)?;
    Some((from[..common].to_vec(), a.clone(), b.clone()))
}

/// The sets of nodes that reach each other (more than one node).
fn strongly_connected(edges: &BTreeSet<(String, String)>) -> Vec<Vec<String>> {
    let nodes: BTreeSet<&String> = edges.iter().flat_map(|(a, b)| [a, b]).collect();
    let reach = |start: &String| {
        let mut seen = BTreeSet::from([start.clone()]);
        let mut todo = vec![start.clone()];
        while let Some(n) = todo.pop() {
            for (_, b) in edges.iter().filter(|(a, _)| *a == n) {
                if seen.insert(b.clone()) {
                    todo.push(b.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> =
        nodes.iter().map(|n| (*n, reach(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for n in &nodes {
        if done.contains(*n) {
            continue;
        }
        let scc: Vec<String> = reaches[n]
            .iter()
            .filter(|m| reaches.get(m).is_some_and(|r| r.contains(*n)))
            .cloned()
            .collect();
        done.extend(scc.iter().cloned());
        if scc.len() > 1 {
            out.push(scc);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
    }

    #[test]
    fn finds_a_circle_through_inline_paths_and_groups() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            &[
                ("lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
                ("a/mod.rs", "pub mod x;\n"),
                ("a/x.rs", "fn f() { crate::b::g() }\n"),
                ("b.rs", "use crate::{c::Z, a::x};\n// crate::nothing::here\n"),
                ("c.rs", "use super::a;\n"),
            ],
        );
        let circles = crate_circles("k", dir.path()).expect("scan");
        assert_eq!(circles.len(), 1, "{circles:?}");
        assert_eq!(circles[0].modules, ["a", "b", "c"]);
    }

    #[test]
    fn siblings_in_a_folder_and_tests_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(
            dir.path(),
            &[
                ("lib.rs", "pub mod m;\n"),
                ("m/mod.rs", "pub mod p;\npub mod q;\n"),
                ("m/p.rs", "use super::q::T;\n"),
                ("m/q.rs", "fn f() {}\n"),
                ("m/q_tests.rs", "use super::super::p;\n"),
            ],
        );
        // q's test module names p: a test module of q is part of q.
        let circles = crate_circles("k", dir.path()).expect("scan");
        assert_eq!(
            circles.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["k: m::p <-> m::q"]
        );
        // Without the test module's import there is none.
        std::fs::write(dir.path().join("m/q_tests.rs"), "use super::T;\n").expect("write");
        assert!(crate_circles("k", dir.path()).expect("scan").is_empty());
    }

    #[test]
    fn the_workspace_has_no_import_circle_but_the_known() {
        let root = crate::sh::workspace_root();
        let circles = workspace_circles(&root).expect("scan");
        let (new, gone) = unexpected(&circles);
        assert!(new.is_empty(), "new import circles: {new:#?}");
        assert!(gone.is_empty(), "known circles gone, drop them from KNOWN: {gone:#?}");
    }
}
