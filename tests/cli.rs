//! The `faultline` command line, end to end through the real binary: what
//! `run`, `replay` and `bench` write and print, and their exit codes
//! (0 every expectation met, 1 an expectation not met, 2 bad input or
//! usage).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The six invariants, in report order.
const INVARIANTS: [&str; 6] = [
    "no-loss",
    "exactly-once",
    "per-key-order",
    "idempotent",
    "liveness",
    "no-panic",
];

/// A bundled scenario file.
fn bundled(rel: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(rel);
    assert!(p.is_file(), "bundled scenario {} is missing", p.display());
    p
}

/// The `faultline` binary, with a timeout so a hang fails the test.
fn faultline() -> Command {
    let mut cmd = Command::cargo_bin("faultline").expect("the faultline binary is built");
    cmd.timeout(Duration::from_secs(120));
    cmd
}

fn read_json(path: &Path) -> Value {
    let text =
        fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: cannot read: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}\n{text}", path.display()))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `name = ".."` of a scenario file.
fn scenario_name(path: &Path) -> String {
    let table: toml::Table = fs::read_to_string(path)
        .unwrap()
        .parse()
        .expect("a bundled scenario is valid TOML");
    table["name"].as_str().expect("name is a string").to_owned()
}

/// Replaces exactly one occurrence of `from` in `text`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "expected exactly one {from:?} in the scenario text"
    );
    text.replacen(from, to, 1)
}

/// process-then-commit.toml with its `[expect]` wrongly saying that
/// exactly-once holds (it is violated on every seed).
fn wrongly_expecting_exactly_once() -> String {
    let text = fs::read_to_string(bundled("kafka/process-then-commit.toml")).unwrap();
    replace_once(
        &text,
        "violate = [\"exactly-once\", \"idempotent\"]",
        "hold = [\"exactly-once\"]\nviolate = [\"idempotent\"]",
    )
}

/// Checks every line of a history.jsonl; returns the number of lines.
fn check_history(bytes: &[u8]) -> usize {
    let text = std::str::from_utf8(bytes).expect("history.jsonl is UTF-8");
    assert!(text.ends_with('\n'), "history.jsonl ends with a newline");
    let mut last_t = 0u64;
    let mut n = 0usize;
    for (k, line) in text.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("history line {k} is not JSON ({e}): {line}"));
        let obj = v
            .as_object()
            .unwrap_or_else(|| panic!("history line {k} is not an object: {line}"));
        assert_eq!(
            obj.get("i").and_then(Value::as_u64),
            Some(k as u64),
            "history line {k}: `i` is not {k}: {line}"
        );
        let t = obj
            .get("t_us")
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("history line {k}: no integer `t_us`: {line}"));
        assert!(
            t >= last_t,
            "history line {k}: t_us went back from {last_t} to {t}"
        );
        last_t = t;
        let ty = obj
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("history line {k}: no string `type`: {line}"));
        assert!(
            !ty.is_empty() && ty.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "history line {k}: `type` {ty:?} is not kebab-case"
        );
        n += 1;
    }
    assert!(n > 0, "history.jsonl is empty");
    n
}

// ----- run: a passing scenario -----

#[test]
fn run_passing_scenario_writes_result_and_history() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let scenario = bundled("kafka/commit-before-process.toml");

    faultline()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("PASS  "))
        .stdout(predicate::str::contains("(seed 1)"))
        .stdout(predicate::str::contains(format!(
            "report: {}",
            out.join("report.html").display()
        )))
        .stdout(predicate::str::contains("reproduce:").not())
        .stderr(predicate::str::is_empty());

    // Exactly these files, nothing else.
    let mut written: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "history.jsonl",
            "junit.xml",
            "report.html",
            "result.json",
            "summary.md"
        ]
    );

    let r = read_json(&out.join("result.json"));
    assert_eq!(r["schema_version"], 1);
    assert_eq!(r["faultline_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(r["scenario"]["name"], scenario_name(&scenario).as_str());
    assert_eq!(
        r["scenario"]["path"],
        scenario.display().to_string().as_str()
    );
    let source = fs::read(&scenario).unwrap();
    assert_eq!(r["scenario"]["digest"], sha256_hex(&source).as_str());
    assert_eq!(
        r["scenario_source"].as_str().unwrap().as_bytes(),
        &source[..]
    );
    assert_eq!(r["seed"], 1, "the file's seed");
    assert_eq!(r["verdict"], "pass");
    assert_eq!(
        r["replay"],
        format!("faultline run {} --seed 1", scenario.display()).as_str()
    );

    // One expectation per invariant, in order; this scenario demonstrates
    // a violation of no-loss and expects the rest to hold.
    let exps = r["expectations"]
        .as_array()
        .expect("expectations is an array");
    let names: Vec<&str> = exps
        .iter()
        .map(|e| e["invariant"].as_str().unwrap())
        .collect();
    assert_eq!(names, INVARIANTS);
    for e in exps {
        assert_eq!(e["met"], true, "{e}");
        if e["invariant"] == "no-loss" {
            assert_eq!(e["expect"], "violate", "{e}");
            assert_eq!(e["outcome"], "violated", "{e}");
            assert!(e["violations"].as_u64().unwrap() > 0, "{e}");
        } else {
            assert_eq!(e["expect"], "hold", "{e}");
            assert_eq!(e["outcome"], "held", "{e}");
            assert_eq!(e["violations"], 0, "{e}");
        }
    }
    // The violation it demonstrates is reported as findings.
    let findings = r["findings"].as_array().unwrap();
    assert!(!findings.is_empty());
    assert!(findings.iter().all(|f| f["invariant"] == "no-loss"));

    // history.jsonl: well formed, and the digest is its SHA-256.
    let history = fs::read(out.join("history.jsonl")).unwrap();
    let lines = check_history(&history);
    let digest = r["history_digest"].as_str().unwrap();
    assert_eq!(digest.len(), 64);
    assert_eq!(digest, sha256_hex(&history));
    assert_eq!(r["stats"]["history_events"], lines as u64);
}

#[test]
fn run_seed_flag_overrides_the_files_seed() {
    let tmp = tempfile::tempdir().unwrap();
    let scenario = bundled("kafka/commit-before-process.toml");
    let run = |seed: Option<&str>, dir: &str| {
        let out = tmp.path().join(dir);
        let mut cmd = faultline();
        cmd.arg("run").arg(&scenario).arg("--out").arg(&out);
        if let Some(s) = seed {
            cmd.args(["--seed", s]);
        }
        let assert = cmd.assert().code(0);
        (read_json(&out.join("result.json")), assert)
    };

    let (r, a) = run(Some("42"), "s42");
    a.stdout(predicate::str::contains("(seed 42)"));
    assert_eq!(r["seed"], 42);
    assert!(
        r["replay"].as_str().unwrap().ends_with(" --seed 42"),
        "{}",
        r["replay"]
    );

    // The largest seed is accepted as is.
    let (r, _) = run(Some("18446744073709551615"), "smax");
    assert_eq!(r["seed"], u64::MAX);

    // Without --seed the file's seed (1) is used, and the history differs.
    let (r1, _) = run(None, "s1");
    assert_eq!(r1["seed"], 1);
    let (r42, _) = run(Some("42"), "s42b");
    assert_ne!(
        r1["history_digest"], r42["history_digest"],
        "the seed must matter"
    );
}

// ----- run: a failing scenario -----

#[test]
fn run_failing_scenario_exits_1_with_finding_and_reproduce_command() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("fail.toml"),
        wrongly_expecting_exactly_once(),
    )
    .unwrap();

    let assert = faultline()
        .current_dir(tmp.path())
        .args(["run", "fail.toml", "--out", "out"])
        .assert()
        .code(1)
        .stderr(predicate::str::is_empty());
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();

    assert!(stdout.starts_with("FAIL  fail.toml (seed 1)"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_start().starts_with("MISS exactly-once")
                && l.ends_with("expected: hold")),
        "the missed expectation is marked:\n{stdout}"
    );
    // The expectations that were met are still marked ok.
    assert!(stdout.contains("ok   idempotent"), "{stdout}");
    assert!(
        stdout.contains("      reproduce: faultline run fail.toml --seed 1\n"),
        "{stdout}"
    );
    assert!(stdout.contains("report: out/report.html"), "{stdout}");

    let r = read_json(&tmp.path().join("out/result.json"));
    assert_eq!(r["verdict"], "fail");
    assert_eq!(r["replay"], "faultline run fail.toml --seed 1");
    let exactly_once = r["expectations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["invariant"] == "exactly-once")
        .unwrap();
    assert_eq!(exactly_once["expect"], "hold");
    assert_eq!(exactly_once["outcome"], "violated");
    assert_eq!(exactly_once["met"], false);
    // The first exactly-once finding is printed: its summary and its
    // explanation.
    let finding = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["invariant"] == "exactly-once")
        .expect("an exactly-once finding");
    let summary = finding["summary"].as_str().unwrap();
    assert!(summary.contains("was applied 2 times"), "{summary}");
    assert!(stdout.contains(&format!("      - {summary}\n")), "{stdout}");
    for line in finding["explanation"].as_array().unwrap() {
        assert!(
            stdout.contains(line.as_str().unwrap()),
            "{line} not in\n{stdout}"
        );
    }
}

#[test]
fn the_reproduce_command_reproduces_the_failing_run() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("fail.toml"),
        wrongly_expecting_exactly_once(),
    )
    .unwrap();

    let assert = faultline()
        .current_dir(tmp.path())
        .args([
            "run",
            "fail.toml",
            "--seed",
            "7",
            "--out",
            "first",
            "--quiet",
        ])
        .assert()
        .code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    // --quiet still prints failures.
    assert!(stdout.starts_with("FAIL  fail.toml (seed 7)"), "{stdout}");
    let line = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("reproduce: "))
        .expect("a reproduce line");
    assert_eq!(line, "faultline run fail.toml --seed 7");

    // Run exactly that command (after the program name), into another
    // directory: the same history, byte for byte.
    let args: Vec<&str> = line.split(' ').skip(1).collect();
    faultline()
        .current_dir(tmp.path())
        .args(&args)
        .args(["--out", "second"])
        .assert()
        .code(1);
    let first = fs::read(tmp.path().join("first/history.jsonl")).unwrap();
    let second = fs::read(tmp.path().join("second/history.jsonl")).unwrap();
    assert!(
        first == second,
        "the reproduce command gave another history"
    );
}

// ----- replay -----

#[test]
fn replay_confirms_a_recorded_result_and_rejects_a_tampered_one() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let scenario = bundled("kafka/commit-before-process.toml");
    faultline()
        .arg("run")
        .arg(&scenario)
        .args(["--seed", "3", "--out"])
        .arg(&out)
        .assert()
        .code(0);
    let result = out.join("result.json");
    let recorded = read_json(&result);
    let digest = recorded["history_digest"].as_str().unwrap().to_owned();

    // The recorded result replays: digest and verdict match.
    faultline()
        .arg("replay")
        .arg(&result)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("history digest matches"))
        .stdout(predicate::str::contains(&digest))
        .stdout(predicate::str::contains("with seed 3"))
        .stdout(predicate::str::contains("verdict pass"));

    // replay --out writes the replayed run: the same bytes.
    let again = tmp.path().join("again");
    faultline()
        .arg("replay")
        .arg(&result)
        .arg("--out")
        .arg(&again)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("history digest matches"));
    assert!(
        fs::read(out.join("history.jsonl")).unwrap()
            == fs::read(again.join("history.jsonl")).unwrap()
    );
    assert_eq!(
        fs::read(out.join("result.json")).unwrap(),
        fs::read(again.join("result.json")).unwrap()
    );

    // A tampered digest does not replay.
    let mut tampered = recorded.clone();
    tampered["history_digest"] = Value::from("0".repeat(64));
    let tampered_path = tmp.path().join("tampered.json");
    fs::write(
        &tampered_path,
        serde_json::to_string_pretty(&tampered).unwrap(),
    )
    .unwrap();
    faultline()
        .arg("replay")
        .arg(&tampered_path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("DIFFERENT"))
        .stdout(predicate::str::contains(format!(
            "recorded digest {}",
            "0".repeat(64)
        )))
        .stdout(predicate::str::contains(format!(
            "replayed digest {digest}"
        )));

    // A tampered verdict does not replay either.
    let mut tampered = recorded.clone();
    tampered["verdict"] = Value::from("fail");
    fs::write(&tampered_path, serde_json::to_string(&tampered).unwrap()).unwrap();
    faultline()
        .arg("replay")
        .arg(&tampered_path)
        .assert()
        .code(1)
        .stdout(predicate::str::contains("DIFFERENT"));
}

#[test]
fn replay_of_a_failing_run_reproduces_the_failure() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("fail.toml"),
        wrongly_expecting_exactly_once(),
    )
    .unwrap();
    faultline()
        .current_dir(tmp.path())
        .args(["run", "fail.toml", "--out", "out"])
        .assert()
        .code(1);
    // Reproducing the recorded failure is a successful replay.
    faultline()
        .current_dir(tmp.path())
        .args(["replay", "out/result.json"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("history digest matches"))
        .stdout(predicate::str::contains("verdict fail"));
}

#[test]
fn replay_of_bad_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let not_json = tmp.path().join("result.json");
    fs::write(&not_json, "this is not json\n").unwrap();
    faultline()
        .arg("replay")
        .arg(&not_json)
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("not a faultline result.json"))
        .stderr(predicate::str::contains("panicked").not());

    // JSON, but not a result.
    fs::write(&not_json, "{\"schema_version\": 1}\n").unwrap();
    faultline()
        .arg("replay")
        .arg(&not_json)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a faultline result.json"));

    // A file that does not exist.
    faultline()
        .arg("replay")
        .arg(tmp.path().join("missing.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read the result"));
}

#[test]
fn replay_refuses_another_schema_version() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    faultline()
        .arg("run")
        .arg(bundled("kafka/commit-before-process.toml"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(0);
    let mut r = read_json(&out.join("result.json"));
    r["schema_version"] = Value::from(2);
    let path = tmp.path().join("v2.json");
    fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
    faultline()
        .arg("replay")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "schema_version 2 is not supported",
        ));
}

// ----- run: a directory -----

/// A suite directory: one scenario at the top, one in a subdirectory,
/// and a file that is not a scenario.
fn suite(root: &Path) -> PathBuf {
    let dir = root.join("suite");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::copy(
        bundled("kafka/commit-before-process.toml"),
        dir.join("a.toml"),
    )
    .unwrap();
    fs::copy(
        bundled("kafka/dedup-after-effect.toml"),
        dir.join("sub/b.toml"),
    )
    .unwrap();
    fs::write(dir.join("README.md"), "not a scenario\n").unwrap();
    dir
}

fn assert_results(out: &Path, rels: &[&str]) {
    for rel in rels {
        for f in [
            "result.json",
            "history.jsonl",
            "report.html",
            "summary.md",
            "junit.xml",
        ] {
            let p = out.join(rel).join(f);
            assert!(p.is_file(), "{} was not written", p.display());
        }
    }
}

#[test]
fn run_directory_writes_one_report_per_scenario() {
    let tmp = tempfile::tempdir().unwrap();
    suite(tmp.path());
    let assert = faultline()
        .current_dir(tmp.path())
        .args(["run", "suite", "--out", "out"])
        .assert()
        .code(0)
        .stderr(predicate::str::is_empty());
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("PASS  suite/a.toml (seed 1)"), "{stdout}");
    assert!(
        stdout.contains("PASS  suite/sub/b.toml (seed 1)"),
        "{stdout}"
    );
    assert!(stdout.contains("report: out/a/report.html"), "{stdout}");
    assert!(stdout.contains("report: out/sub/b/report.html"), "{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("2 scenarios: 2 passed, 0 failed, 0 invalid"),
        "{stdout}"
    );

    // The output mirrors the relative paths, without the extension.
    let out = tmp.path().join("out");
    assert_results(&out, &["a", "sub/b"]);
    let mut top: Vec<String> = fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, ["a", "index.html", "junit.xml", "sub", "summary.md"]);
    assert!(stdout.contains("index: out/index.html"), "{stdout}");
    let index = fs::read_to_string(out.join("index.html")).unwrap();
    assert!(index.contains(r#"href="a/report.html""#), "{index}");
    assert!(index.contains(r#"href="sub/b/report.html""#), "{index}");
    let junit = fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(
        junit.contains(r#"tests="2""#) && junit.contains(r#"failures="0""#),
        "{junit}"
    );
    let a = read_json(&out.join("a/result.json"));
    assert_eq!(a["scenario"]["path"], "suite/a.toml");
    let b = read_json(&out.join("sub/b/result.json"));
    assert_eq!(b["scenario"]["path"], "suite/sub/b.toml");
    assert_eq!(
        b["scenario"]["name"],
        scenario_name(&bundled("kafka/dedup-after-effect.toml")).as_str()
    );
}

#[test]
fn run_directory_quiet_prints_only_the_tally_when_all_pass() {
    let tmp = tempfile::tempdir().unwrap();
    suite(tmp.path());
    faultline()
        .current_dir(tmp.path())
        .args(["run", "suite", "--out", "out", "-q"])
        .assert()
        .code(0)
        .stdout("2 scenarios: 2 passed, 0 failed, 0 invalid\n");
    assert_results(&tmp.path().join("out"), &["a", "sub/b"]);
}

#[test]
fn run_directory_with_a_failing_scenario_exits_1() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = suite(tmp.path());
    fs::write(
        dir.join("sub/c-fail.toml"),
        wrongly_expecting_exactly_once(),
    )
    .unwrap();
    let assert = faultline()
        .current_dir(tmp.path())
        .args(["run", "suite", "--out", "out", "--quiet"])
        .assert()
        .code(1);
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(
        stdout.contains("FAIL  suite/sub/c-fail.toml (seed 1)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("reproduce: faultline run suite/sub/c-fail.toml --seed 1"),
        "{stdout}"
    );
    assert!(!stdout.contains("PASS"), "--quiet hides passes:\n{stdout}");
    assert_eq!(
        stdout.lines().last(),
        Some("3 scenarios: 2 passed, 1 failed, 0 invalid"),
        "{stdout}"
    );
    assert_results(&tmp.path().join("out"), &["a", "sub/b", "sub/c-fail"]);
}

#[test]
fn run_directory_with_an_invalid_scenario_exits_2_and_runs_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = suite(tmp.path());
    fs::write(
        dir.join("sub/broken.toml"),
        "name = \"broken\"\n[topology\n",
    )
    .unwrap();
    fs::write(
        dir.join("sub/c-fail.toml"),
        wrongly_expecting_exactly_once(),
    )
    .unwrap();
    let assert = faultline()
        .current_dir(tmp.path())
        .args(["run", "suite", "--out", "out"])
        .assert()
        // Bad input outranks a failure.
        .code(2)
        .stderr(predicate::str::contains("suite/sub/broken.toml:2:"))
        .stderr(predicate::str::contains("not valid TOML"))
        .stderr(predicate::str::contains("panicked").not());
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().last(),
        Some("4 scenarios: 2 passed, 1 failed, 1 invalid"),
        "{stdout}"
    );
    // The valid ones ran (including the one after the broken file in
    // sorted order); the broken one has no report.
    let out = tmp.path().join("out");
    assert_results(&out, &["a", "sub/b", "sub/c-fail"]);
    assert!(!out.join("sub/broken").exists());
}

#[test]
fn run_directory_with_one_scenario_says_scenario() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("one");
    fs::create_dir(&dir).unwrap();
    fs::copy(
        bundled("kafka/commit-before-process.toml"),
        dir.join("x.toml"),
    )
    .unwrap();
    faultline()
        .current_dir(tmp.path())
        .args(["run", "one", "--out", "out", "-q"])
        .assert()
        .code(0)
        .stdout("1 scenario: 1 passed, 0 failed, 0 invalid\n");
}

// ----- usage -----

#[test]
fn usage_errors_exit_2() {
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["run"],
        &["replay"],
        &["run", "x.toml", "--seed", "abc"],
        &["run", "x.toml", "--seed", "-1"],
        &["run", "x.toml", "--seed", "18446744073709551616"],
        &["run", "x.toml", "--seed"],
        &["run", "x.toml", "--frobnicate"],
        &["bench", "x.toml", "--seeds", "many"],
    ];
    for args in cases {
        let assert = faultline().args(*args).assert().code(2);
        let out = assert.get_output();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.is_empty(), "faultline {args:?}: nothing on stderr");
        assert!(!stderr.contains("panicked"), "faultline {args:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "faultline {args:?}: usage errors go to stderr"
        );
    }
    faultline()
        .args(["run", "x.toml", "--seed", "abc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("'abc'"))
        .stderr(predicate::str::contains("--seed"));
    faultline()
        .arg("frobnicate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "unrecognized subcommand 'frobnicate'",
        ));
    faultline()
        .arg("run")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("<PATH>"));
}

#[test]
fn a_scenario_file_that_does_not_exist_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    faultline()
        .current_dir(tmp.path())
        .args(["run", "nope.toml", "--out", "out"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "nope.toml: cannot read the scenario file",
        ));
    assert!(!tmp.path().join("out").exists());
    assert!(!tmp.path().join("reports").exists());
}

#[test]
fn help_and_version_exit_0() {
    for args in [
        &["--help"][..],
        &["-h"],
        &["help"],
        &["run", "--help"],
        &["replay", "--help"],
        &["bench", "--help"],
    ] {
        faultline()
            .args(args)
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Usage: faultline"))
            .stderr(predicate::str::is_empty());
    }
    faultline()
        .arg("--help")
        .assert()
        .stdout(predicate::str::contains("run"))
        .stdout(predicate::str::contains("replay"))
        .stdout(predicate::str::contains("bench"));
    for flag in ["--version", "-V"] {
        faultline()
            .arg(flag)
            .assert()
            .code(0)
            .stdout(format!("faultline {}\n", env!("CARGO_PKG_VERSION")));
    }
}

// ----- determinism -----

#[test]
fn same_seed_twice_gives_byte_identical_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    for (rel, seed) in [
        ("kafka/commit-before-process.toml", None),
        ("kafka/idempotent-inbox.toml", None),
        ("kafka/idempotent-inbox.toml", Some("11")),
        ("kafka/keyless-order.toml", Some("5")),
    ] {
        let scenario = bundled(rel);
        let mut outputs = Vec::new();
        for k in 0..2 {
            let out = tmp.path().join(format!(
                "{}-{}-{k}",
                rel.replace('/', "_"),
                seed.unwrap_or("file")
            ));
            let mut cmd = faultline();
            cmd.arg("run").arg(&scenario).arg("--out").arg(&out);
            if let Some(s) = seed {
                cmd.args(["--seed", s]);
            }
            let stdout = cmd.assert().code(0).get_output().stdout.clone();
            outputs.push((
                fs::read(out.join("history.jsonl")).unwrap(),
                fs::read(out.join("result.json")).unwrap(),
                // The console summary differs only in the report path.
                String::from_utf8(stdout)
                    .unwrap()
                    .replace(&out.display().to_string(), "<out>"),
            ));
        }
        let (h1, r1, s1) = &outputs[0];
        let (h2, r2, s2) = &outputs[1];
        assert!(!h1.is_empty());
        assert!(
            h1 == h2,
            "{rel} seed {seed:?}: history.jsonl differs between two runs"
        );
        assert!(
            r1 == r2,
            "{rel} seed {seed:?}: result.json differs between two runs"
        );
        assert_eq!(s1, s2, "{rel} seed {seed:?}: the summary differs");
    }
}

// ----- bench -----

#[test]
fn bench_prints_speeds() {
    let assert = faultline()
        .arg("bench")
        .arg(bundled("kafka/process-then-commit.toml"))
        .args(["--seeds", "5"])
        .assert()
        .code(0)
        .stderr(predicate::str::is_empty());
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for label in ["seeds/s", "records/s"] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no line starting {label:?}:\n{stdout}"));
        let value: f64 = line[label.len()..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number on {line:?}"));
        assert!(value > 0.0, "{line}");
    }
    assert!(
        stdout.contains("seeds           5 (0 not meeting their expectations)"),
        "{stdout}"
    );
}

#[test]
fn bench_times_the_same_seeds_on_several_threads() {
    let run = |jobs: &str| {
        let assert = faultline()
            .arg("bench")
            .arg(bundled("kafka/process-then-commit.toml"))
            .args(["--seeds", "6", "--jobs", jobs])
            .assert()
            .code(0);
        String::from_utf8(assert.get_output().stdout.clone()).unwrap()
    };
    let two = run("2");
    let line = two
        .lines()
        .find(|l| l.starts_with("jobs 2 "))
        .unwrap_or_else(|| panic!("no jobs line:\n{two}"));
    let speedup: f64 = line
        .rsplit(", ")
        .next()
        .and_then(|v| v.strip_suffix("x one job"))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no speed-up on {line:?}"));
    assert!(speedup > 0.0, "{line}");
    assert!(
        !run("1").contains("jobs "),
        "--jobs 1 skips the threaded pass"
    );
}

#[test]
fn bench_repeats_its_rounds_and_reports_the_spread() {
    let assert = faultline()
        .arg("bench")
        .arg(bundled("kafka/process-then-commit.toml"))
        .args(["--seeds", "3", "--rounds", "3", "--jobs", "2"])
        .assert()
        .code(0)
        .stderr(predicate::str::is_empty());
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let line = stdout
        .lines()
        .find(|l| l.starts_with("rounds"))
        .unwrap_or_else(|| panic!("no rounds line:\n{stdout}"));
    assert!(
        line.starts_with("rounds          3 (the figures above are medians; seeds/s "),
        "{line}"
    );
    // Each spread is a low and a high figure.
    let spread = line
        .split("seeds/s ")
        .nth(1)
        .and_then(|rest| rest.split([',', ' ']).next())
        .unwrap_or_else(|| panic!("no spread on {line:?}"));
    let (lo, hi) = spread
        .split_once('\u{2013}')
        .unwrap_or_else(|| panic!("not a range: {spread:?}"));
    let (lo, hi): (f64, f64) = (lo.parse().unwrap(), hi.parse().unwrap());
    assert!(0.0 < lo && lo <= hi, "{line}");
    assert!(line.contains(", jobs 2 "), "{line}");
    // The seeds are counted once, not once per round.
    assert!(
        stdout.contains("seeds           3 (0 not meeting their expectations)"),
        "{stdout}"
    );
    // One round (the default) prints no spread.
    let one = faultline()
        .arg("bench")
        .arg(bundled("kafka/process-then-commit.toml"))
        .args(["--seeds", "2", "--jobs", "1"])
        .assert()
        .code(0);
    let one = String::from_utf8(one.get_output().stdout.clone()).unwrap();
    assert!(!one.contains("rounds"), "{one}");
}

#[test]
fn bench_scales_the_record_count_and_reports_peak_memory() {
    let assert = faultline()
        .arg("bench")
        .arg(bundled("bench/standard.toml"))
        .args(["--seeds", "1", "--records", "3000"])
        .assert()
        .code(0)
        .stderr(predicate::str::is_empty());
    let stdout = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    assert!(stdout.contains("(records: 3000)"), "{stdout}");
    assert!(
        stdout.contains("seeds           1 (0 not meeting their expectations)"),
        "{stdout}"
    );
    let memory = stdout
        .lines()
        .find(|l| l.starts_with("peak memory"))
        .unwrap_or_else(|| panic!("no peak memory line:\n{stdout}"));
    if cfg!(target_os = "linux") {
        assert!(memory.contains("MiB"), "{memory}");
    } else {
        assert!(memory.contains("unavailable"), "{memory}");
    }
}

#[test]
fn bench_rejects_a_record_count_out_of_range() {
    faultline()
        .arg("bench")
        .arg(bundled("bench/standard.toml"))
        .args(["--seeds", "1", "--records", "999999999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("records"));
}

#[test]
fn bench_of_an_invalid_scenario_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("bad.toml"), "name = 1\n").unwrap();
    faultline()
        .current_dir(tmp.path())
        .args(["bench", "bad.toml", "--seeds", "1"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("bad.toml:1:"))
        .stderr(predicate::str::contains("name"));
}

/// A reader that stops early (`faultline run scenarios | head -1`) ends
/// the process quietly, as it would any Unix tool, instead of a panic at
/// the next write to the closed pipe.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_the_run_quietly() {
    use std::io::Read;
    use std::process::Stdio;

    let out = tempfile::tempdir().expect("a temporary directory");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("run")
        .arg(bundled("bench/standard.toml"))
        .arg("--out")
        .arg(out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("faultline starts");
    // Close the reading end before the run prints anything.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr is piped")
        .read_to_string(&mut stderr)
        .expect("stderr reads");
    let status = child.wait().expect("faultline ends");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    assert!(!status.success(), "the writer should see the pipe closed");
}
