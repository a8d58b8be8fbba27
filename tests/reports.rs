//! The files a run writes for people and CI systems: report.html,
//! summary.md, junit.xml (read back with a JUnit parser), the index of a
//! directory run, and trace.log. Text parts are snapshot-tested.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use quick_junit::{NonSuccessKind, Report, TestCaseStatus};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn faultline(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("faultline").unwrap();
    c.current_dir(dir);
    c
}

/// Runs `faultline <args> --out <tmp>` from the repository root, expecting
/// `code`, and returns the output directory.
fn run_bundled(args: &[&str], code: i32) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    faultline(&root())
        .args(args)
        .arg("--out")
        .arg(tmp.path())
        .assert()
        .code(code);
    tmp
}

fn copy_scenario(from: &str, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(root().join(from), to).unwrap();
}

/// A directory with a passing scenario, one that fails its expectations and
/// one that is not valid TOML.
fn mixed_suite(dir: &Path) {
    copy_scenario(
        "scenarios/workshop/01-duplicates-broken.toml",
        &dir.join("suite/a.toml"),
    );
    let text = fs::read_to_string(root().join("scenarios/workshop/01-duplicates-broken.toml"))
        .unwrap()
        .replace(
            "violate = [\"exactly-once\", \"idempotent\"]",
            "hold = [\"exactly-once\"]\nviolate = [\"idempotent\"]",
        );
    fs::write(dir.join("suite/b-fails.toml"), text).unwrap();
    fs::write(dir.join("suite/c-broken.toml"), "name = \"x\"\nseed = [\n").unwrap();
}

#[test]
fn a_directory_run_writes_a_junit_file_a_junit_parser_reads() {
    let tmp = tempfile::tempdir().unwrap();
    mixed_suite(tmp.path());
    faultline(tmp.path())
        .args(["run", "suite", "--out", "out", "-q"])
        .assert()
        .code(2);
    let xml = fs::read_to_string(tmp.path().join("out/junit.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).expect("a valid JUnit file");
    assert_eq!(report.tests, 3);
    assert_eq!(report.failures, 1);
    assert_eq!(report.errors, 1);
    let suite = &report.test_suites[0];
    assert_eq!(suite.name.as_str(), "suite");
    let by_class = |c: &str| {
        suite
            .test_cases
            .iter()
            .find(|t| t.classname.as_ref().map(|x| x.as_str()) == Some(c))
            .unwrap_or_else(|| panic!("no test case {c} in\n{xml}"))
    };
    assert!(matches!(
        by_class("suite.a").status,
        TestCaseStatus::Success { .. }
    ));
    match &by_class("suite.b-fails").status {
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Failure,
            message,
            description,
            ..
        } => {
            let message = message.as_ref().unwrap().as_str();
            assert!(message.contains("exactly-once violated"), "{message}");
            assert!(
                message.contains("reproduce: faultline run suite/b-fails.toml --seed 1"),
                "{message}"
            );
            assert!(
                description
                    .as_ref()
                    .unwrap()
                    .as_str()
                    .contains("FAIL  suite/b-fails.toml")
            );
        }
        other => panic!("b-fails: {other:?}"),
    }
    match &by_class("suite.c-broken").status {
        TestCaseStatus::NonSuccess {
            kind: NonSuccessKind::Error,
            description,
            ..
        } => assert!(
            description
                .as_ref()
                .unwrap()
                .as_str()
                .contains("suite/c-broken.toml:2"),
            "{description:?}"
        ),
        other => panic!("c-broken: {other:?}"),
    }
    // The index links every report that was written, and names the invalid one.
    let index = fs::read_to_string(tmp.path().join("out/index.html")).unwrap();
    for link in ["a/report.html", "b-fails/report.html"] {
        assert!(index.contains(&format!("href=\"{link}\"")), "{index}");
        assert!(tmp.path().join("out").join(link).is_file());
    }
    assert!(
        index.contains("INVALID") || index.contains("invalid"),
        "{index}"
    );
    let summary = fs::read_to_string(tmp.path().join("out/summary.md")).unwrap();
    assert!(
        summary.contains("1 passed, 1 failed, 1 invalid"),
        "{summary}"
    );
}

#[test]
fn summary_md_of_a_workshop_chapter() {
    let tmp = run_bundled(
        &["run", "scenarios/workshop/03-commit-broken.toml", "-q"],
        0,
    );
    let summary = fs::read_to_string(tmp.path().join("summary.md")).unwrap();
    insta::assert_snapshot!("summary_03_commit_broken", summary);
}

#[test]
fn junit_xml_of_a_failing_run() {
    let tmp = tempfile::tempdir().unwrap();
    mixed_suite(tmp.path());
    faultline(tmp.path())
        .args(["run", "suite/b-fails.toml", "-q", "--out", "out"])
        .assert()
        .code(1);
    let xml = fs::read_to_string(tmp.path().join("out/junit.xml")).unwrap();
    insta::assert_snapshot!("junit_failing_run", xml);
}

#[test]
fn report_html_carries_verdict_replay_findings_and_diagram() {
    let tmp = run_bundled(
        &["run", "scenarios/workshop/01-duplicates-broken.toml", "-q"],
        0,
    );
    let html = fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains(r#"class="verdict pass""#));
    assert!(
        html.contains(
            "faultline run scenarios&#x2f;workshop&#x2f;01-duplicates-broken.toml --seed 1"
        )
    );
    assert!(html.contains(r#"<svg class="diagram""#));
    assert!(html.contains(r#"<svg class="lag""#));
    // Each finding's witness events are highlighted in the diagram and
    // linked from the finding.
    let findings = html.matches(r#"<article class="finding"#).count();
    assert!(findings > 0);
    for n in 0..findings {
        assert!(html.contains(&format!(r#"id="finding-{n}""#)));
    }
    assert!(
        html.contains(r#"class="ev delivered w""#),
        "witness rows are marked"
    );
    // Self-contained: no external scripts, styles, images or fonts (the
    // only address is the SVG namespace, which is a name, not a fetch).
    assert!(!html.contains("<script src") && !html.contains("<link "));
    assert!(!html.contains("https://") && !html.contains("url(http"));
    let fetched = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!fetched.contains("http://"), "no address to fetch");
}

#[test]
fn names_from_the_scenario_are_escaped_in_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(root().join("scenarios/workshop/02-ordering-fixed.toml"))
        .unwrap()
        .replace(
            "name = \"workshop 2, fixed: keyed records keep per-entity order\"",
            "name = \"<script>alert(1)</script> & co\"",
        );
    fs::write(tmp.path().join("x.toml"), text).unwrap();
    faultline(tmp.path())
        .args(["run", "x.toml", "-q", "--out", "out"])
        .assert()
        .code(0);
    let html = fs::read_to_string(tmp.path().join("out/report.html")).unwrap();
    assert!(!html.contains("<script>alert"), "the name is escaped");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt; &amp; co"));
}

#[test]
fn a_long_run_is_drawn_around_its_witnesses_and_says_what_it_left_out() {
    let tmp = tempfile::tempdir().unwrap();
    let text = fs::read_to_string(root().join("scenarios/workshop/03-commit-broken.toml"))
        .unwrap()
        .replace("records = 60", "records = 3000");
    fs::write(tmp.path().join("long.toml"), text).unwrap();
    faultline(tmp.path())
        .args(["run", "long.toml", "-q", "--out", "out"])
        .assert()
        .code(0);
    let html = fs::read_to_string(tmp.path().join("out/report.html")).unwrap();
    let r: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(tmp.path().join("out/result.json")).unwrap())
            .unwrap();
    let events = r["stats"]["history_events"].as_u64().unwrap();
    assert!(events > 2000, "{events}");
    assert!(
        html.contains("the diagram draws 400 of them"),
        "says how much it drew"
    );
    assert!(
        html.contains("events left out ("),
        "gap rows say what they stand for"
    );
    // Every witness of the first finding is drawn and highlighted.
    for w in r["findings"][0]["witness"].as_array().unwrap() {
        let i = w["i"].as_u64().unwrap();
        assert!(
            html.contains(&format!(r#"id="ev-{i}""#)),
            "witness {i} drawn"
        );
    }
    assert!(
        html.len() < 600_000,
        "the page stays small: {} bytes",
        html.len()
    );
}

#[test]
fn trace_writes_the_event_stream_stamped_with_simulated_time() {
    let tmp = run_bundled(
        &[
            "run",
            "scenarios/workshop/03-commit-broken.toml",
            "-q",
            "--trace",
        ],
        0,
    );
    let log = fs::read_to_string(tmp.path().join("trace.log")).unwrap();
    let history = fs::read_to_string(tmp.path().join("history.jsonl")).unwrap();
    assert_eq!(
        log.lines().count(),
        history.lines().count(),
        "one line per event"
    );
    let first = log.lines().next().unwrap();
    assert!(
        first
            .trim_start()
            .starts_with("5ms  INFO faultline::history: p1 sent batch 0"),
        "{first}"
    );
    let crash = log.lines().find(|l| l.contains("crashed")).unwrap();
    assert!(
        crash.contains(" WARN ") && crash.contains("kind=\"crashed\""),
        "{crash}"
    );
}

#[test]
fn explore_writes_junit_and_reports_of_its_first_violations() {
    let tmp = run_bundled(
        &[
            "explore",
            "scenarios/workshop/03-commit-broken.toml",
            "--seeds",
            "0..4",
            "-q",
        ],
        0,
    );
    let xml = fs::read_to_string(tmp.path().join("junit.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).unwrap();
    assert_eq!(report.failures, 0, "{xml}");
    assert!(xml.contains("some seed violates no-loss"), "{xml}");
    assert!(tmp.path().join("failing/seed0/report.html").is_file());
    let shrunk = tmp
        .path()
        .join("shrunk/03-commit-broken-no-loss-seed0/report.html");
    assert!(shrunk.is_file(), "the shrunk run has its report");
}

#[test]
fn exploring_a_directory_writes_one_combined_junit_file() {
    let tmp = tempfile::tempdir().unwrap();
    mixed_suite(tmp.path());
    faultline(tmp.path())
        .args([
            "explore",
            "suite",
            "--seeds",
            "0..3",
            "--no-shrink",
            "--out",
            "out",
            "-q",
        ])
        .assert()
        .code(2);
    let xml = fs::read_to_string(tmp.path().join("out/junit.xml")).unwrap();
    let report = Report::deserialize_from_str(&xml).expect("a valid JUnit file");
    assert_eq!(report.errors, 1, "the broken file is an error case\n{xml}");
    assert!(
        report.failures >= 1,
        "b-fails misses its expectation\n{xml}"
    );
    let suite = &report.test_suites[0];
    assert_eq!(suite.name.as_str(), "suite");
    let classes: Vec<&str> = suite
        .test_cases
        .iter()
        .filter_map(|t| t.classname.as_ref().map(|c| c.as_str()))
        .collect();
    for class in ["suite.a", "suite.b-fails", "suite.c-broken"] {
        assert!(classes.contains(&class), "no case of {class} in\n{xml}");
    }
    // Each failing seed names its exploration relative to the junit file,
    // and the file it names exists.
    assert!(xml.contains("exploration: b-fails/explore.json"), "{xml}");
    assert!(tmp.path().join("out/b-fails/explore.json").is_file());
    // Each scenario keeps its own junit file as well.
    assert!(tmp.path().join("out/a/junit.xml").is_file());
}
