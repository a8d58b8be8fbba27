//! `explore`, `merge` and `shrink`: parallel and sharded exploration gives
//! the serial result, shrunk scenarios reproduce their finding, saved
//! regressions replay first, and the commands' exit codes.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use faultline::explore::{Exploration, Options, Shard, explore};
use predicates::prelude::*;

fn faultline() -> Command {
    let mut cmd = Command::cargo_bin("faultline").expect("the faultline binary is built");
    cmd.timeout(Duration::from_secs(300)).env_remove("CI");
    cmd
}

fn bundled(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(rel)
}

fn explore_lib(
    path: &Path,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    shard: Option<Shard>,
) -> Exploration {
    explore_with(path, seeds, jobs, shard, false, 0)
}

fn explore_with(
    path: &Path,
    seeds: std::ops::Range<u64>,
    jobs: usize,
    shard: Option<Shard>,
    until_first: bool,
    round: usize,
) -> Exploration {
    let (loaded, setup) = common::load(path);
    let opts = Options {
        seeds,
        jobs,
        shard,
        until_first,
        swarm: true,
        round,
    };
    explore(&loaded, &setup, &opts, &|_| {})
}

/// A scenario a user might write: process-then-commit with chaos, wrongly
/// expecting exactly-once to hold.
const AT_LEAST_ONCE: &str = r#"
name = "process-then-commit under crashes, expecting exactly-once"
seed = 5

[topology]
brokers = 1
topics = [{ name = "t", partitions = 2 }]

[workload]
records = 40
keys = 4
rate_per_sec = 200

[[consumers]]
group = "g"
members = 2
handler = "process-then-commit"
auto_offset_reset = "earliest"
max_poll_records = 5
session_timeout_ms = 3000
heartbeat_interval_ms = 500

[faults]
window_ms = 3400

[faults.chaos]
consumer_crash = { probability = 0.05, restart_after_ms = [100, 500] }

[expect]
allow = ["idempotent"]
"#;

fn write_scenario(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, text).expect("write the scenario");
    p
}

#[test]
fn every_bundled_scenario_explores_identically_with_one_and_two_jobs_and_as_merged_shards() {
    for path in common::bundled() {
        // The long-run benchmark (100,000 records a seed) is the standard
        // scenario made longer; exploring it seven times over would make
        // the suite slow for no more coverage.
        if common::load(&path).1.spec().workload.records > 10_000 {
            continue;
        }
        let seeds = 0..12;
        let serial = explore_lib(&path, seeds.clone(), 1, None);
        assert_eq!(serial.runs, 12, "{}", path.display());
        // Default rounds, and rounds of 5 (so rounds end mid-range).
        for (jobs, round) in [(2, 0), (2, 5), (1, 5)] {
            let other = explore_with(&path, seeds.clone(), jobs, None, false, round);
            assert_eq!(
                serial,
                other,
                "{}: jobs {jobs} round {round}",
                path.display()
            );
        }
        let shards: Vec<Exploration> = (1..=3)
            .map(|k| explore_lib(&path, seeds.clone(), 2, Some(Shard { index: k, count: 3 })))
            .collect();
        assert_eq!(shards.iter().map(|s| s.runs).sum::<u64>(), 12);
        let merged = Exploration::merge(shards).expect("shards of one exploration merge");
        assert_eq!(serial, merged, "{}: merged shards", path.display());
    }
}

#[test]
fn until_first_stops_at_the_same_seed_whatever_the_jobs_and_rounds() {
    // A scenario whose first violation comes after a few clean seeds.
    let dir = tempfile::tempdir().unwrap();
    let path = write_scenario(dir.path(), "alo.toml", AT_LEAST_ONCE);
    let full = explore_lib(&path, 0..40, 1, None);
    let first = full.failures.first().expect("some seed fails").seed;
    assert!(
        first > 0,
        "the test needs clean seeds before the first failure"
    );
    let serial = explore_with(&path, 0..40, 1, None, true, 0);
    assert_eq!(serial.runs, first + 1);
    assert!(serial.stopped_early);
    assert_eq!(serial.failures.len(), 1);
    for (jobs, round) in [(2, 0), (2, 3), (1, 7)] {
        let other = explore_with(&path, 0..40, jobs, None, true, round);
        assert_eq!(serial, other, "jobs {jobs} round {round}");
    }
}

#[test]
fn merging_refuses_mismatched_or_repeated_shards() {
    let path = bundled("kafka/keyless-order.toml");
    let shard = |k, n, seeds: std::ops::Range<u64>| {
        explore_lib(&path, seeds, 1, Some(Shard { index: k, count: n }))
    };
    let a = shard(1, 2, 0..4);
    // Another range, the same shard twice, another split, an unsharded
    // result, another scenario.
    assert!(Exploration::merge(vec![a.clone(), shard(2, 2, 0..6)]).is_err());
    assert!(Exploration::merge(vec![a.clone(), a.clone()]).is_err());
    assert!(Exploration::merge(vec![a.clone(), shard(2, 3, 0..4)]).is_err());
    let whole = explore_lib(&path, 0..4, 1, None);
    assert!(Exploration::merge(vec![whole.clone(), whole.clone()]).is_err());
    assert!(Exploration::merge(vec![whole, a.clone()]).is_err());
    let other = explore_lib(
        &bundled("kafka/auto-commit.toml"),
        0..4,
        1,
        Some(Shard { index: 2, count: 2 }),
    );
    assert!(Exploration::merge(vec![a.clone(), other]).is_err());
    // Two of three shards stay a partial result.
    let partial = Exploration::merge(vec![shard(1, 3, 0..4), shard(3, 3, 0..4)]).unwrap();
    assert_eq!(partial.shards.len(), 2);
    // Merges nest: (1 + 3) + 2 is the whole.
    let all = Exploration::merge(vec![partial, shard(2, 3, 0..4)]).unwrap();
    assert!(all.shards.is_empty());
    assert_eq!(all, explore_lib(&path, 0..4, 1, None));
}

#[test]
fn cli_explore_finds_and_shrinks_commit_before_process_loss_from_seed_0() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x");
    faultline()
        .args(["explore", "--until-first", "--out"])
        .arg(&out)
        .arg(bundled("kafka/commit-before-process.toml"))
        .assert()
        .code(0)
        .stdout(
            predicate::str::contains("no-loss")
                .and(predicate::str::contains("(expected)   first: seed 0"))
                .and(predicate::str::contains("stopped at the first violation"))
                .and(predicate::str::contains("shrunk no-loss at seed 0")),
        );
    let x: Exploration =
        serde_json::from_str(&fs::read_to_string(out.join("explore.json")).unwrap()).unwrap();
    assert_eq!(x.runs, 1);
    assert!(x.stopped_early);
    let shrunk = out.join("shrunk/commit-before-process-no-loss-seed0.toml");
    let text = fs::read_to_string(&shrunk).expect("the shrunk scenario");
    let faults = text.matches("[[faults.timeline]]").count();
    assert!((1..=3).contains(&faults), "{faults} faults:\n{text}");
    // The shrunk scenario reproduces the loss; it expects it, so it passes.
    let report = dir.path().join("r");
    faultline()
        .arg("run")
        .arg(&shrunk)
        .arg("--out")
        .arg(&report)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no-loss        violated"));
}

#[test]
fn cli_explore_failure_saves_a_regression_that_replays_first_and_fails_until_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "alo.toml", AT_LEAST_ONCE);
    let regressions = dir.path().join("regressions");
    let out = dir.path().join("x");
    let first = faultline()
        .args(["explore", "--seeds", "0..16", "--save-regressions"])
        .arg(&regressions)
        .arg("--out")
        .arg(&out)
        .arg(&scenario)
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("exactly-once")
                .and(predicate::str::contains("UNEXPECTED"))
                .and(predicate::str::contains("--swarm"))
                .and(predicate::str::contains("saved as a regression")),
        );
    let stdout = String::from_utf8_lossy(&first.get_output().stdout).into_owned();
    let saved: Vec<PathBuf> = fs::read_dir(&regressions)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 1, "{stdout}");
    let text = fs::read_to_string(&saved[0]).unwrap();
    assert!(text.contains("fails until the bug is fixed"), "{text}");
    // The chaos became an explicit timeline: the file injects exactly the
    // faults it lists.
    assert!(!text.contains("[faults.chaos]"), "{text}");
    assert!(text.contains("[[faults.timeline]]"), "{text}");

    // The regression alone fails, with its finding.
    faultline()
        .arg("run")
        .arg(&saved[0])
        .arg("--out")
        .arg(dir.path().join("r"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("MISS exactly-once"));

    // The next exploration replays it before anything else.
    let again = faultline()
        .args([
            "explore",
            "--seeds",
            "100..101",
            "--no-shrink",
            "--save-regressions",
        ])
        .arg(&regressions)
        .arg("--out")
        .arg(dir.path().join("y"))
        .arg(&scenario)
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&again.get_output().stdout).into_owned();
    let replay = stdout
        .find("regression ")
        .expect("the regression was replayed");
    let explored = stdout.find("explored ").expect("then explored");
    assert!(replay < explored, "{stdout}");
    assert!(stdout.contains("FAILS (exactly-once)"), "{stdout}");
}

#[test]
fn regressions_of_same_named_scenarios_in_two_directories_are_both_kept() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite");
    for sub in ["a", "b"] {
        fs::create_dir_all(suite.join(sub)).unwrap();
        write_scenario(&suite.join(sub), "alo.toml", AT_LEAST_ONCE);
    }
    let regressions = dir.path().join("regressions");
    let explore = |out: &str| {
        faultline()
            .args(["explore", "--seeds", "0..16", "-q", "--save-regressions"])
            .arg(&regressions)
            .arg("--out")
            .arg(dir.path().join(out))
            .arg(&suite)
            .assert()
            .code(1);
        let mut saved: Vec<String> = fs::read_dir(&regressions)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        saved.sort();
        saved
    };
    let saved = explore("x");
    assert_eq!(saved.len(), 2, "one regression per scenario: {saved:?}");
    assert!(saved.iter().any(|n| n.ends_with("-2.toml")), "{saved:?}");
    // Finding the same failures again saves nothing new.
    assert_eq!(explore("y"), saved);
}

#[test]
fn cli_shards_merge_into_the_unsharded_result() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "alo.toml", AT_LEAST_ONCE);
    // Exit codes vary by shard (a shard may hold no failing seed).
    let run = |extra: &[&str], out: &str| {
        faultline()
            .args(["explore", "--seeds", "0..10", "--no-shrink", "-j", "2"])
            .args(extra)
            .arg("--out")
            .arg(dir.path().join(out))
            .arg(&scenario)
            .assert()
            .code(predicate::in_iter([0, 1]));
        dir.path().join(out).join("explore.json")
    };
    let whole = run(&[], "whole");
    let parts: Vec<PathBuf> = (1..=3)
        .map(|k| run(&["--shard", &format!("{k}/3")], &format!("s{k}")))
        .collect();
    let merged = dir.path().join("merged.json");
    faultline()
        .arg("merge")
        .args(&parts)
        .arg("--out")
        .arg(&merged)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("10 runs"));
    assert_eq!(
        fs::read_to_string(&whole).unwrap(),
        fs::read_to_string(&merged).unwrap()
    );
    // One shard alone is a partial summary that says so.
    faultline()
        .arg("merge")
        .arg(&parts[0])
        .assert()
        .stdout(predicate::str::contains("shard 1/3"));
    faultline()
        .args(["merge", "does-not-exist.json"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does-not-exist.json"));
}

#[test]
fn cli_shrink_from_a_result_json_writes_a_scenario_that_reproduces_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = write_scenario(dir.path(), "alo.toml", AT_LEAST_ONCE);
    let report = dir.path().join("r");
    // Find a failing seed with run --swarm through explore's output.
    let x = dir.path().join("x");
    faultline()
        .args(["explore", "--seeds", "0..16", "--no-shrink", "--out"])
        .arg(&x)
        .arg(&scenario)
        .assert()
        .code(1);
    let found: Exploration =
        serde_json::from_str(&fs::read_to_string(x.join("explore.json")).unwrap()).unwrap();
    let seed = found.failures[0].seed.to_string();
    faultline()
        .args(["run", "--swarm", "--seed", &seed, "--out"])
        .arg(&report)
        .arg(&scenario)
        .assert()
        .code(1);
    let shrunk_dir = dir.path().join("shrunk");
    let out = faultline()
        .arg("shrink")
        .arg(report.join("result.json"))
        .arg("--out")
        .arg(&shrunk_dir)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("shrunk exactly-once at seed"));
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let file = shrunk_dir.join(format!("alo-exactly-once-seed{seed}.toml"));
    assert!(file.is_file(), "{stdout}");
    faultline()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(dir.path().join("r2"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("MISS exactly-once"));
    // Shrinking the explore.json picks the same first failure.
    faultline()
        .arg("shrink")
        .arg(x.join("explore.json"))
        .arg("--out")
        .arg(dir.path().join("shrunk2"))
        .assert()
        .code(0);
    assert_eq!(
        fs::read_to_string(&file).unwrap(),
        fs::read_to_string(dir.path().join("shrunk2").join(file.file_name().unwrap())).unwrap()
    );
}

#[test]
fn cli_shrink_of_a_passing_seed_or_bad_input_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    faultline()
        .args(["shrink", "--out"])
        .arg(dir.path())
        .arg(bundled("kafka/idempotent-inbox.toml"))
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nothing to shrink"));
    // An invalid scenario gets the diagnostics `run` gives, not a dump.
    let invalid = write_scenario(
        dir.path(),
        "invalid.toml",
        &AT_LEAST_ONCE.replace("members = 2", "members = 0"),
    );
    faultline()
        .args(["shrink", "--seed", "1"])
        .arg(&invalid)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid.toml:").and(predicate::str::contains("members")))
        .stderr(predicate::str::contains("Problem {").not());
    let bad = write_scenario(dir.path(), "bad.json", "{\"hello\": 1}");
    faultline()
        .arg("shrink")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("neither a result.json"));
    faultline()
        .args(["shrink", "--invariant", "no-such"])
        .arg(bundled("kafka/idempotent-inbox.toml"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no-loss"));
}

#[test]
fn cli_explore_usage_errors_exit_2() {
    let s = bundled("kafka/keyless-order.toml");
    for args in [
        vec!["--seeds", "5..5"],
        vec!["--seeds", "x..9"],
        vec!["--shard", "0/3"],
        vec!["--shard", "4/3"],
        vec!["--shard", "two"],
        vec!["-j", "0"],
    ] {
        faultline()
            .arg("explore")
            .args(&args)
            .arg(&s)
            .assert()
            .code(2);
    }
}

#[test]
fn cli_seed_from_git_shifts_the_range_and_prints_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = bundled("kafka/keyless-order.toml");
    let out = faultline()
        .current_dir(dir.path())
        .env("GITHUB_SHA", "000000030123456789abcdef0123456789abcdef")
        .args([
            "explore",
            "--seed-from-git",
            "--seeds",
            "0..2",
            "--no-shrink",
            "--out",
        ])
        .arg(dir.path().join("x"))
        .arg(&s)
        .assert()
        .code(0);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    // 0x00000003 << 20
    let start = 3u64 << 20;
    assert!(
        stdout.contains(&format!("--seeds {start}..{}", start + 2)),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("seeds {start}..{}", start + 2)),
        "{stdout}"
    );
}
