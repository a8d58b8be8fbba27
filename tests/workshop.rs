//! The workshop suite (`scenarios/workshop/`): every broken chapter shows
//! its failure and every fixed chapter holds, for every seed in a range;
//! and the chapters' reports kept in `reports/workshop/` are regenerated
//! byte for byte, which proves reports reproduce across machines.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::load;
use faultline::setup::Expect;

/// Seeds every chapter is tried with.
const SEEDS: std::ops::Range<u64> = 0..40;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn chapters() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(root().join("scenarios/workshop"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_chapter_comes_as_a_broken_setup_and_its_fix() {
    let names: BTreeSet<String> = chapters()
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() >= 8, "{names:?}");
    for n in &names {
        let (stem, kind) = n.rsplit_once('-').unwrap();
        let twin = match kind {
            "broken" => format!("{stem}-fixed"),
            "fixed" => format!("{stem}-broken"),
            _ => panic!("{n}: a chapter file ends in -broken or -fixed"),
        };
        assert!(names.contains(&twin), "{n} has no {twin}");
    }
}

#[test]
fn broken_chapters_fail_and_fixed_chapters_pass_for_every_seed() {
    let mut wrong = Vec::new();
    for path in chapters() {
        let (_, setup) = load(&path);
        let broken = path.to_string_lossy().ends_with("-broken.toml");
        let shown: Vec<_> = faultline::Invariant::ALL
            .iter()
            .copied()
            .filter(|&i| setup.expectation(i) == Expect::Violate)
            .collect();
        // A broken chapter demonstrates something; a fix holds everything.
        assert_eq!(broken, !shown.is_empty(), "{}", path.display());
        for seed in SEEDS {
            let run = faultline::run(&setup, seed);
            let checked = &run.checked;
            let ok = if broken {
                run.verdict.pass && shown.iter().all(|&i| checked.violated(i))
            } else {
                run.verdict.pass
                    && faultline::Invariant::ALL
                        .iter()
                        .all(|&i| !checked.violated(i))
            };
            if !ok {
                wrong.push(format!("faultline run {} --seed {seed}", path.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "chapters that did not show their lesson:\n{}",
        wrong.join("\n")
    );
}

fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn the_kept_workshop_reports_are_regenerated_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("workshop");
    Command::cargo_bin("faultline")
        .unwrap()
        .current_dir(root())
        .args(["run", "scenarios/workshop", "-q", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let kept = root().join("reports/workshop");
    let regenerate = "cargo run --release -- run scenarios/workshop -q --out reports/workshop";
    let (old, new) = (files_under(&kept), files_under(&out));
    assert_eq!(
        old, new,
        "the set of report files changed; regenerate with `{regenerate}`"
    );
    let differ: Vec<String> = old
        .iter()
        .filter(|f| fs::read(kept.join(f)).unwrap() != fs::read(out.join(f)).unwrap())
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        differ.is_empty(),
        "these reports differ from reports/workshop/ (if the change is intended, regenerate with `{regenerate}`):\n{}",
        differ.join("\n")
    );
}
