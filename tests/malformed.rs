//! Malformed scenario files: each exits with code 2, never panics, writes
//! nothing, and its message names the file, the line and the field. Every
//! message is snapshotted (tests/snapshots/) so its wording is reviewed.
//!
//! Each case is a small valid scenario ([`BASE`]) with one thing broken,
//! written to a temporary directory as `bad.toml` and run from there, so
//! the paths in the messages are stable.

use std::fs;
use std::path::Path;
use std::time::Duration;

use assert_cmd::Command;

/// A small valid scenario (checked by `the_base_scenario_is_valid`).
const BASE: &str = r#"name = "minimal"
seed = 3

[topology]
brokers = 1
topics = [{ name = "orders", partitions = 2 }]

[workload]
records = 20
keys = 4

[[consumers]]
group = "billing"
members = 2
handler = "idempotent-inbox"
auto_offset_reset = "earliest"
"#;

/// BASE with exactly one occurrence of `from` replaced.
fn replaced(from: &str, to: &str) -> String {
    assert_eq!(
        BASE.matches(from).count(),
        1,
        "{from:?} must occur once in BASE"
    );
    BASE.replacen(from, to, 1)
}

/// BASE with `tail` appended (more tables, or keys of the last table,
/// `[[consumers]]`).
fn with(tail: &str) -> String {
    format!("{BASE}{tail}")
}

fn faultline() -> Command {
    let mut cmd = Command::cargo_bin("faultline").expect("the faultline binary is built");
    cmd.timeout(Duration::from_secs(60));
    cmd
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs `faultline run bad.toml --out out` on `source` in a fresh
/// directory; checks exit code 2, no panic, nothing on stdout, and nothing
/// written (no `out`, no `reports`); returns stderr.
fn run_bad(source: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("bad.toml"), source).unwrap();
    let output = faultline()
        .current_dir(tmp.path())
        .args(["run", "bad.toml", "--out", "out"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).expect("stderr is UTF-8");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(2),
        "expected exit 2\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic:\n{stderr}");
    assert!(
        stdout.is_empty(),
        "nothing on stdout for bad input:\n{stdout}"
    );
    assert!(
        stderr.starts_with("error: bad.toml"),
        "the message names the file first:\n{stderr}"
    );
    assert_eq!(
        listing(tmp.path()),
        ["bad.toml"],
        "a bad file must not create the report directory or anything else"
    );
    stderr
}

/// 1-based line of the only line of `source` containing `needle`.
fn line_of(source: &str, needle: &str) -> usize {
    let lines: Vec<usize> = source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(lines.len(), 1, "{needle:?} must be on exactly one line");
    lines[0]
}

/// Asserts a diagnostic `bad.toml:<line>:<col>: <field>: ...<message>...`
/// where `<line>` is the line of `source` holding `at`, and that the
/// offending line is quoted under it.
fn assert_diag(stderr: &str, source: &str, at: &str, field: &str, message: &str) {
    let line = line_of(source, at);
    let prefix = format!("error: bad.toml:{line}:");
    let found = stderr.lines().any(|l| {
        let Some(rest) = l.strip_prefix(&prefix) else {
            return false;
        };
        let Some((col, rest)) = rest.split_once(": ") else {
            return false;
        };
        col.parse::<usize>().is_ok_and(|c| c >= 1)
            && rest.starts_with(&format!("{field}: "))
            && rest.contains(message)
    });
    assert!(
        found,
        "expected `bad.toml:{line}:<col>: {field}: ...{message}...` in:\n{stderr}"
    );
    let quoted = format!("{line} | {}", source.lines().nth(line - 1).unwrap());
    assert!(
        stderr.lines().any(|l| l.trim_end() == quoted.trim_end()),
        "expected the line quoted as `{quoted}` in:\n{stderr}"
    );
}

#[test]
fn the_base_scenario_is_valid() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("base.toml"), BASE).unwrap();
    faultline()
        .current_dir(tmp.path())
        .args(["run", "base.toml", "--out", "out"])
        .assert()
        .code(0);
}

// ----- TOML and serde level -----

#[test]
fn broken_toml_syntax() {
    let src = replaced("records = 20", "records = = 20");
    let err = run_bad(&src);
    // The field is the key on the broken line, under its table.
    assert_diag(
        &err,
        &src,
        "records = = 20",
        "workload.records",
        "not valid TOML",
    );
    insta::assert_snapshot!("broken_toml_syntax", err);
}

#[test]
fn unclosed_table_header() {
    let src = replaced("[workload]", "[workload");
    let err = run_bad(&src);
    assert_diag(&err, &src, "[workload", "workload", "not valid TOML");
    insta::assert_snapshot!("unclosed_table_header", err);
}

#[test]
fn missing_required_field() {
    let src = replaced("records = 20\n", "");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "[workload]",
        "workload",
        "missing field `records`",
    );
    insta::assert_snapshot!("missing_required_field", err);
}

#[test]
fn missing_required_table() {
    let src = replaced("[workload]\nrecords = 20\nkeys = 4\n", "");
    let err = run_bad(&src);
    // No line to point at: the missing section is named as the field.
    assert!(
        err.starts_with("error: bad.toml: workload: required, but missing"),
        "{err}"
    );
    assert!(err.contains("`[workload]`"), "{err}");
    insta::assert_snapshot!("missing_required_table", err);
}

#[test]
fn wrong_type() {
    let src = replaced("records = 20", "records = \"many\"");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "records = \"many\"",
        "workload.records",
        "invalid type: string \"many\", expected a non-negative integer",
    );
    insta::assert_snapshot!("wrong_type", err);
}

#[test]
fn float_where_an_integer_is_expected() {
    let src = replaced("records = 20", "records = 1.5");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "records = 1.5",
        "workload.records",
        "expected a non-negative integer",
    );
    insta::assert_snapshot!("float_where_an_integer_is_expected", err);
}

#[test]
fn unknown_field_in_a_table() {
    let src = replaced("brokers = 1", "brokers = 1\nbrokerz = 3");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "brokerz = 3",
        "topology.brokerz",
        "unknown field `brokerz`",
    );
    assert!(
        err.contains("= help: did you mean `brokers`? expected one of `brokers`, `topics`, "),
        "{err}"
    );
    insta::assert_snapshot!("unknown_field_in_a_table", err);
}

#[test]
fn unknown_top_level_table() {
    let src = with("\n[consumer]\nmembers = 3\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "[consumer]",
        "consumer",
        "unknown field `consumer`",
    );
    assert!(
        err.contains("`consumers`"),
        "the help lists the real tables:\n{err}"
    );
    insta::assert_snapshot!("unknown_top_level_table", err);
}

#[test]
fn unknown_field_in_a_timeline_entry() {
    let src = with("\n[[faults.timeline]]\nat_ms = 0\ncrash = \"c1\"\nrestart_ms = 100\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "restart_ms = 100",
        "faults.timeline[0].restart_ms",
        "unknown field `restart_ms`",
    );
    assert!(err.contains("`restart_after_ms`"), "{err}");
    insta::assert_snapshot!("unknown_field_in_a_timeline_entry", err);
}

#[test]
fn unknown_invariant_name() {
    let src = with("\n[expect]\nviolate = [\"exactly-twice\"]\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "exactly-twice",
        "expect.violate[0]",
        "unknown invariant `exactly-twice`",
    );
    for name in [
        "no-loss",
        "exactly-once",
        "per-key-order",
        "idempotent",
        "liveness",
        "no-panic",
    ] {
        assert!(
            err.contains(&format!("`{name}`")),
            "the help lists {name}:\n{err}"
        );
    }
    insta::assert_snapshot!("unknown_invariant_name", err);
}

#[test]
fn negative_count() {
    let src = replaced("partitions = 2", "partitions = -1");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "partitions = -1",
        "topology.topics[0].partitions",
        "integer `-1`, expected a non-negative integer",
    );
    insta::assert_snapshot!("negative_count", err);
}

#[test]
fn empty_file() {
    let err = run_bad("");
    assert!(
        err.starts_with("error: bad.toml: name: required, but missing"),
        "{err}"
    );
    insta::assert_snapshot!("empty_file", err);
}

#[test]
fn comments_only_file() {
    let src = "# nothing here yet\n";
    let err = run_bad(src);
    assert!(
        err.starts_with("error: bad.toml: name: required, but missing"),
        "{err}"
    );
}

#[test]
fn file_that_is_not_utf8() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("bad.toml"), b"name = \"\xff\xfe\"\n").unwrap();
    let output = faultline()
        .current_dir(tmp.path())
        .args(["run", "bad.toml", "--out", "out"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(stderr.starts_with("error: bad.toml: "), "{stderr}");
    assert!(stderr.contains("valid UTF-8"), "{stderr}");
    assert_eq!(listing(tmp.path()), ["bad.toml"]);
}

// ----- values: range and meaning -----

#[test]
fn huge_count() {
    let src = replaced("records = 20", "records = 99999999999");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "records = 99999999999",
        "workload.records",
        "records must be between 1 and 5000000, found 99999999999",
    );
    insta::assert_snapshot!("huge_count", err);
}

#[test]
fn zero_brokers() {
    let src = replaced("brokers = 1", "brokers = 0");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "brokers = 0",
        "topology.brokers",
        "brokers must be between 1 and 64, found 0",
    );
    insta::assert_snapshot!("zero_brokers", err);
}

#[test]
fn probability_out_of_range() {
    let src = with("\n[faults.chaos]\nloss = 1.5\n");
    let err = run_bad(&src);
    // The bare-number spelling is reported as the field it is.
    assert_diag(
        &err,
        &src,
        "loss = 1.5",
        "faults.chaos.loss",
        "a probability must be between 0 and 1, found 1.5",
    );
    insta::assert_snapshot!("probability_out_of_range", err);
}

#[test]
fn probability_out_of_range_in_table_spelling() {
    let src = with("\n[faults.chaos]\nduplicate = { probability = -0.5, kinds = [\"fetch\"] }\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "duplicate = {",
        "faults.chaos.duplicate.probability",
        "a probability must be between 0 and 1, found -0.5",
    );
    insta::assert_snapshot!("probability_out_of_range_in_table_spelling", err);
}

#[test]
fn unknown_handler_with_suggestion() {
    let src = replaced("\"idempotent-inbox\"", "\"idempotent-inbx\"");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "idempotent-inbx",
        "consumers[0].handler",
        "unknown handler \"idempotent-inbx\"",
    );
    assert!(
        err.contains("= help: did you mean \"idempotent-inbox\"?"),
        "a near miss gets a suggestion:\n{err}"
    );
    assert!(err.contains("handlers are "), "{err}");
    insta::assert_snapshot!("unknown_handler_with_suggestion", err);
}

#[test]
fn unknown_handler_without_suggestion() {
    let src = replaced("\"idempotent-inbox\"", "\"exactly-once-magic\"");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "exactly-once-magic",
        "consumers[0].handler",
        "unknown handler \"exactly-once-magic\"",
    );
    assert!(
        !err.contains("did you mean"),
        "no suggestion for a far miss:\n{err}"
    );
    for h in [
        "commit-before-process",
        "process-then-commit",
        "idempotent-inbox",
        "dedup-after-effect",
    ] {
        assert!(err.contains(h), "the help lists {h}:\n{err}");
    }
    insta::assert_snapshot!("unknown_handler_without_suggestion", err);
}

#[test]
fn unknown_node_in_a_timeline_crash() {
    let src = with("\n[[faults.timeline]]\nat_ms = 0\ncrash = \"c3\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "crash = \"c3\"",
        "faults.timeline[0].crash",
        "unknown node \"c3\"",
    );
    assert!(err.contains("nodes are p1, b1, c1, c2"), "{err}");
    insta::assert_snapshot!("unknown_node_in_a_timeline_crash", err);
}

#[test]
fn unknown_node_in_a_partition() {
    let src = with(
        "\n[[faults.timeline]]\nat_ms = 0\npartition = [[\"b1\"], [\"c1\", \"consumer-2\"]]\n",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "partition = ",
        "faults.timeline[0].partition[1][1]",
        "unknown node \"consumer-2\"",
    );
    insta::assert_snapshot!("unknown_node_in_a_partition", err);
}

#[test]
fn unknown_crash_point() {
    let src = with("\n[[faults.timeline]]\nat_ms = 0\ncrash = \"c1\"\npoint = \"after-lunch\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "after-lunch",
        "faults.timeline[0].point",
        "unknown crash point \"after-lunch\"",
    );
    assert!(
        err.contains("after-handle-before-commit"),
        "the help lists the points:\n{err}"
    );
    insta::assert_snapshot!("unknown_crash_point", err);
}

#[test]
fn broker_crash_at_a_consumer_point() {
    // Producers too: neither passes any of the consumer's points.
    for (node, message) in [
        ("b1", "b1 is a broker; brokers crash only at point \"now\""),
        (
            "p1",
            "p1 is a producer; producers crash only at point \"now\"",
        ),
    ] {
        let src = with(&format!(
            "\n[[faults.timeline]]\nat_ms = 0\ncrash = \"{node}\"\npoint = \"mid-batch\"\n"
        ));
        let err = run_bad(&src);
        assert_diag(&err, &src, "mid-batch", "faults.timeline[0].point", message);
        if node == "b1" {
            insta::assert_snapshot!("broker_crash_at_a_consumer_point", err);
        }
    }
}

#[test]
fn timeline_entry_with_two_faults() {
    let src = with("\n[[faults.timeline]]\nat_ms = 0\ncrash = \"c1\"\nisolate = \"b1\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "[[faults.timeline]]",
        "faults.timeline[0]",
        "a timeline entry has exactly one fault, found crash and isolate",
    );
    insta::assert_snapshot!("timeline_entry_with_two_faults", err);
}

#[test]
fn timeline_entry_with_no_fault() {
    let src = with("\n[[faults.timeline]]\nat_ms = 500\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "[[faults.timeline]]",
        "faults.timeline[0]",
        "a timeline entry needs one fault",
    );
    insta::assert_snapshot!("timeline_entry_with_no_fault", err);
}

#[test]
fn field_of_another_kind_of_fault() {
    let src = with("\n[[faults.timeline]]\nat_ms = 0\ncrash = \"c1\"\nheal_after_ms = 500\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "heal_after_ms = 500",
        "faults.timeline[0].heal_after_ms",
        "`heal_after_ms` does not apply to crash faults",
    );
    insta::assert_snapshot!("field_of_another_kind_of_fault", err);
}

#[test]
fn duplicate_topic_names() {
    let src = replaced(
        "topics = [{ name = \"orders\", partitions = 2 }]",
        "\n[[topology.topics]]\nname = \"orders\"\npartitions = 2\n\n[[topology.topics]]\nname = \"orders\" # again\npartitions = 1",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "# again",
        "topology.topics[1].name",
        "topic \"orders\" is defined twice",
    );
    insta::assert_snapshot!("duplicate_topic_names", err);
}

#[test]
fn unknown_workload_topic() {
    let src = replaced("keys = 4", "keys = 4\ntopic = \"order\"");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "topic = \"order\"",
        "workload.topic",
        "unknown topic \"order\"",
    );
    assert!(err.contains("topics are orders"), "{err}");
    insta::assert_snapshot!("unknown_workload_topic", err);
}

#[test]
fn heartbeat_not_below_session_timeout() {
    let src = with("session_timeout_ms = 3000\nheartbeat_interval_ms = 3000\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "heartbeat_interval_ms = 3000",
        "consumers[0].heartbeat_interval_ms",
        "heartbeat_interval_ms (3000) must be below session_timeout_ms (3000)",
    );
    insta::assert_snapshot!("heartbeat_not_below_session_timeout", err);
}

#[test]
fn invariant_in_both_hold_and_violate() {
    let src = with(
        "\n[expect]\nhold = [\"no-loss\", \"liveness\"]\nviolate = [\"idempotent\", \"no-loss\"]\n",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "violate = ",
        "expect.violate[1]",
        "no-loss is listed in both expect.hold and expect.violate",
    );
    insta::assert_snapshot!("invariant_in_both_hold_and_violate", err);
}

#[test]
fn idempotence_with_acks_1() {
    let src = with("\n[producer]\nidempotence = true\nacks = \"1\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "idempotence = true",
        "producer.idempotence",
        "idempotence requires acks = \"all\"",
    );
    assert!(err.contains("= help: set idempotence = false"), "{err}");
    insta::assert_snapshot!("idempotence_with_acks_1", err);
}

#[test]
fn unknown_acks_value() {
    let src = with("\n[producer]\nacks = \"most\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "acks = \"most\"",
        "producer.acks",
        "acks = \"most\" is not valid; expected \"all\", \"1\" or \"0\"",
    );
    insta::assert_snapshot!("unknown_acks_value", err);
}

#[test]
fn unknown_message_kind_in_a_drop_fault() {
    let src = with(
        "\n[[faults.timeline]]\nat_ms = 0\ndrop = { from = \"b1\", to = \"p1\", kind = \"produce-respons\" }\n",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "produce-respons",
        "faults.timeline[0].drop.kind",
        "unknown message kind \"produce-respons\"",
    );
    assert!(err.contains("did you mean \"produce-response\"?"), "{err}");
    insta::assert_snapshot!("unknown_message_kind_in_a_drop_fault", err);
}

#[test]
fn unknown_message_kind_in_chaos_kinds() {
    let src = with(
        "\n[faults.chaos]\nloss = { probability = 0.1, kinds = [\"fetch\", \"carrier-pigeon\"] }\n",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "carrier-pigeon",
        "faults.chaos.loss.kinds[1]",
        "unknown message kind \"carrier-pigeon\"",
    );
    assert!(!err.contains("did you mean"), "{err}");
    insta::assert_snapshot!("unknown_message_kind_in_chaos_kinds", err);
}

#[test]
fn every_problem_is_reported_at_once() {
    let src = replaced("brokers = 1", "brokers = 0").replace("\"idempotent-inbox\"", "\"nope\"")
        + "\n[faults.chaos]\nloss = 2\n";
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "brokers = 0",
        "topology.brokers",
        "brokers must be between 1 and 64",
    );
    assert_diag(
        &err,
        &src,
        "\"nope\"",
        "consumers[0].handler",
        "unknown handler \"nope\"",
    );
    assert_diag(&err, &src, "loss = 2", "faults.chaos.loss", "found 2");
    assert!(err.ends_with("3 problems in all\n"), "{err}");
    insta::assert_snapshot!("every_problem_is_reported_at_once", err);
}

// ----- directories and output -----

fn run_dir(make: impl FnOnce(&Path)) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("empty");
    fs::create_dir(&dir).unwrap();
    make(&dir);
    let output = faultline()
        .current_dir(tmp.path())
        .args(["run", "empty", "--out", "out"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(listing(tmp.path()), ["empty"], "nothing written");
    stderr
}

#[test]
fn directory_with_no_scenarios() {
    let err = run_dir(|_| {});
    assert_eq!(err, "error: empty: no scenario files (*.toml) found\n");
    insta::assert_snapshot!("directory_with_no_scenarios", err);
}

#[test]
fn directory_with_only_other_files() {
    let err = run_dir(|d| {
        fs::create_dir(d.join("sub")).unwrap();
        fs::write(d.join("sub/notes.md"), "# notes\n").unwrap();
        fs::write(d.join("scenario.toml.bak"), BASE).unwrap();
    });
    assert_eq!(err, "error: empty: no scenario files (*.toml) found\n");
}

#[test]
fn a_bad_file_without_out_creates_no_reports_directory() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(
        tmp.path().join("bad.toml"),
        replaced("brokers = 1", "brokers = 0"),
    )
    .unwrap();
    faultline()
        .current_dir(tmp.path())
        .args(["run", "bad.toml"])
        .assert()
        .code(2);
    assert_eq!(
        listing(tmp.path()),
        ["bad.toml"],
        "no reports/ for a bad file"
    );
}

#[test]
fn replay_of_a_result_with_a_malformed_scenario_exits_2() {
    // Record a valid run, then break the scenario text the result carries.
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("base.toml"), BASE).unwrap();
    faultline()
        .current_dir(tmp.path())
        .args(["run", "base.toml", "--out", "out"])
        .assert()
        .code(0);
    let path = tmp.path().join("out/result.json");
    let mut r: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    r["scenario_source"] = serde_json::Value::from(replaced("brokers = 1", "brokers = 0"));
    fs::write(&path, serde_json::to_string(&r).unwrap()).unwrap();
    let output = faultline()
        .current_dir(tmp.path())
        .args(["replay", "out/result.json"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(
            "error: base.toml:5:11: topology.brokers: brokers must be between 1 and 64, found 0"
        ),
        "{stderr}"
    );
}

// ----- regressions: values that once crashed or misled -----

#[test]
fn value_range_that_would_overflow() {
    // Once a subtraction overflow (a panic in debug builds).
    let src = replaced("keys = 4", "keys = 4\nvalues = [-1, 9223372036854775807]");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "values = [",
        "workload.values",
        "values must lie between",
    );
}

#[test]
fn integer_too_large_for_toml() {
    let src = replaced("records = 20", "records = 99999999999999999999");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "records = 9999",
        "workload.records",
        "99999999999999999999 is too large for this field",
    );
    assert!(!err.contains("i128"), "{err}");
}

#[test]
fn zipf_without_its_exponent() {
    let src = replaced("keys = 4", "keys = 4\nkey_distribution = \"zipf\"");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "key_distribution",
        "workload.key_distribution",
        "write key_distribution = { zipf = 1.1 }",
    );
    assert!(!err.contains("variant"), "no serde jargon:\n{err}");
}

#[test]
fn session_timeout_below_the_default_heartbeat_names_the_default() {
    let src = with("session_timeout_ms = 2000\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "session_timeout_ms = 2000",
        "consumers[0].session_timeout_ms",
        "heartbeat_interval_ms (3000, the default) must be below session_timeout_ms (2000)",
    );
}

#[test]
fn vanishing_rate() {
    let src = replaced("keys = 4", "keys = 4\nrate_per_sec = 1e-300");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "rate_per_sec",
        "workload.rate_per_sec",
        "rate_per_sec must be between 0.001 and 10000000",
    );
}

#[test]
fn a_two_letter_typo_is_not_matched_to_an_unrelated_node() {
    let src = with("\n[[faults.timeline]]\nat_ms = 0\ncrash = \"zz\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "crash = \"zz\"",
        "faults.timeline[0].crash",
        "unknown node \"zz\"",
    );
    assert!(!err.contains("did you mean"), "{err}");
}

#[test]
fn bench_with_zero_seeds_or_rounds_out_of_range_is_a_usage_error() {
    faultline().args(["bench", "--seeds", "0"]).assert().code(2);
    faultline()
        .args(["bench", "--rounds", "0"])
        .assert()
        .code(2);
    faultline()
        .args(["bench", "--rounds", "101"])
        .assert()
        .code(2);
}

// ----- replication -----

#[test]
fn replication_factor_above_the_broker_count() {
    let src = replaced(
        "partitions = 2 }",
        "partitions = 2, replication_factor = 3 }",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "replication_factor = 3",
        "topology.topics[0].replication_factor",
        "replication_factor must be between 1 and the number of brokers (1), found 3",
    );
    assert!(err.contains("add brokers or lower the factor"), "{err}");
}

#[test]
fn min_insync_replicas_above_the_replication_factor() {
    let src = replaced(
        "brokers = 1\ntopics = [{ name = \"orders\", partitions = 2 }]",
        "brokers = 3\ntopics = [{ name = \"orders\", partitions = 2, replication_factor = 2, min_insync_replicas = 3 }]",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "min_insync_replicas = 3",
        "topology.topics[0].min_insync_replicas",
        "min_insync_replicas must be between 1 and the topic's replication_factor (2), found 3",
    );
}

#[test]
fn replica_timing_without_a_replicated_topic() {
    let src = replaced("brokers = 1", "brokers = 1\nreplica_lag_time_max_ms = 5000");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "replica_lag_time_max_ms = 5000",
        "topology.replica_lag_time_max_ms",
        "replica_lag_time_max_ms applies to replicated topics, and no topic has replication_factor above 1",
    );
}

#[test]
fn crashing_the_controller() {
    let src = format!(
        "{}\n[[faults.timeline]]\nat_ms = 10\ncrash = \"controller\"\n",
        replaced(
            "brokers = 1\ntopics = [{ name = \"orders\", partitions = 2 }]",
            "brokers = 2\ntopics = [{ name = \"orders\", partitions = 2, replication_factor = 2 }]",
        )
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "crash = \"controller\"",
        "faults.timeline[0].crash",
        "the controller does not crash in this model",
    );
    assert!(err.contains("isolate = \"controller\""), "{err}");
}

#[test]
fn static_membership_that_is_not_a_boolean() {
    let src = with("static_membership = \"yes\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "static_membership = \"yes\"",
        "consumers[0].static_membership",
        "invalid type: string \"yes\", expected a boolean",
    );
    insta::assert_snapshot!("static_membership_that_is_not_a_boolean", err);
}

#[test]
fn unknown_partition_assignment_strategy() {
    let src = with("partition_assignment_strategy = \"cooperative\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "partition_assignment_strategy = \"cooperative\"",
        "consumers[0].partition_assignment_strategy",
        "unknown value `cooperative`",
    );
    assert!(
        err.contains("expected one of `range`, `roundrobin`, `sticky`, `cooperative-sticky`"),
        "{err}"
    );
    insta::assert_snapshot!("unknown_partition_assignment_strategy", err);
}

// ----- transactions -----

#[test]
fn transactional_id_without_idempotence() {
    let src = with("\n[producer]\nidempotence = false\ntransactional_id = \"writer\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "transactional_id = \"writer\"",
        "producer.transactional_id",
        "transactional_id requires idempotence (Kafka refuses this configuration)",
    );
    insta::assert_snapshot!("transactional_id_without_idempotence", err);
}

#[test]
fn transactional_id_with_a_replicated_topic() {
    let src = replaced(
        "brokers = 1\ntopics = [{ name = \"orders\", partitions = 2 }]",
        "brokers = 2\ntopics = [{ name = \"orders\", partitions = 2, replication_factor = 2 }]",
    ) + "\n[producer]\ntransactional_id = \"writer\"\n";
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "transactional_id = \"writer\"",
        "producer.transactional_id",
        "transactions are modelled on unreplicated topics only",
    );
    assert!(err.contains("set replication_factor = 1"), "{err}");
}

#[test]
fn unknown_isolation_level() {
    let src = replaced(
        "auto_offset_reset = \"earliest\"",
        "auto_offset_reset = \"earliest\"\nisolation_level = \"read_comitted\"",
    );
    let err = run_bad(&src);
    assert!(err.contains("isolation_level"), "{err}");
    assert!(err.contains("read_committed"), "{err}");
    insta::assert_snapshot!("unknown_isolation_level", err);
}

#[test]
fn takeover_with_two_producers() {
    let src = replaced("keys = 4", "keys = 4\nproducers = 2") + "\n[producer]\ntakeover_ms = 100\n";
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "takeover_ms = 100",
        "producer.takeover_ms",
        "takeover_ms needs a single producer (its standby becomes p2)",
    );
}

#[test]
fn transaction_timeout_above_the_brokers_maximum() {
    let src =
        with("\n[producer]\ntransactional_id = \"writer\"\ntransaction_timeout_ms = 900001\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "transaction_timeout_ms = 900001",
        "producer.transaction_timeout_ms",
        "transaction_timeout_ms must be at most 900000",
    );
    insta::assert_snapshot!("transaction_timeout_above_the_brokers_maximum", err);
}

#[test]
fn transaction_settings_without_a_transactional_id() {
    let src = with("\n[producer]\ntransaction_records = 10\ntransaction_timeout_ms = 1000\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "transaction_records = 10",
        "producer.transaction_records",
        "transaction_records has no effect without producer.transactional_id",
    );
    assert_diag(
        &err,
        &src,
        "transaction_timeout_ms = 1000",
        "producer.transaction_timeout_ms",
        "transaction_timeout_ms has no effect without producer.transactional_id",
    );
    insta::assert_snapshot!("transaction_settings_without_a_transactional_id", err);
}

#[test]
fn read_committed_without_a_transactional_producer() {
    let src = replaced(
        "auto_offset_reset = \"earliest\"",
        "auto_offset_reset = \"earliest\"\nisolation_level = \"read_committed\"",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "isolation_level = \"read_committed\"",
        "consumers[0].isolation_level",
        "has no effect without a transactional producer",
    );
    insta::assert_snapshot!("read_committed_without_a_transactional_producer", err);
}

#[test]
fn aborted_read_expected_without_transactions() {
    let src = with("\n[expect]\nhold = [\"aborted-read\"]\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "hold = [\"aborted-read\"]",
        "expect.hold[0]",
        "aborted-read needs a transactional producer",
    );
    insta::assert_snapshot!("aborted_read_expected_without_transactions", err);
}

/// BASE with a second topic, `payments`, for consume-transform-produce
/// stages, and `tail` appended to its consumer group.
fn staged(tail: &str) -> String {
    let two = replaced(
        "topics = [{ name = \"orders\", partitions = 2 }]",
        "topics = [{ name = \"orders\", partitions = 2 }, { name = \"payments\", partitions = 2 }]",
    );
    format!("{two}{tail}")
}

#[test]
fn output_topic_unknown() {
    let src = staged("output_topic = \"paymnets\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "output_topic = \"paymnets\"",
        "consumers[0].output_topic",
        "unknown topic \"paymnets\"",
    );
    insta::assert_snapshot!("output_topic_unknown", err);
}

#[test]
fn output_topic_is_the_input_topic() {
    let src = staged("output_topic = \"orders\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "output_topic = \"orders\"",
        "consumers[0].output_topic",
        "is the topic the group reads",
    );
    insta::assert_snapshot!("output_topic_is_the_input_topic", err);
}

#[test]
fn input_offsets_without_output_topic() {
    let src = staged("input_offsets = \"transaction\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "input_offsets = \"transaction\"",
        "consumers[0].input_offsets",
        "input_offsets has no effect without output_topic",
    );
    insta::assert_snapshot!("input_offsets_without_output_topic", err);
}

#[test]
fn input_offsets_unknown_value() {
    let src = staged("output_topic = \"payments\"\ninput_offsets = \"after-commit\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "input_offsets = \"after-commit\"",
        "consumers[0].input_offsets",
        "unknown value `after-commit`",
    );
    insta::assert_snapshot!("input_offsets_unknown_value", err);
}

#[test]
fn stage_with_cooperative_rebalancing() {
    let src = staged(
        "output_topic = \"payments\"\npartition_assignment_strategy = \"cooperative-sticky\"\n",
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "partition_assignment_strategy",
        "consumers[0].partition_assignment_strategy",
        "eager rebalancing only",
    );
    insta::assert_snapshot!("stage_with_cooperative_rebalancing", err);
}

#[test]
fn stage_with_auto_commit() {
    let src = staged("output_topic = \"payments\"\ncommit = \"auto\"\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "commit = \"auto\"",
        "consumers[0].commit",
        "commits its offsets with its transaction",
    );
    insta::assert_snapshot!("stage_with_auto_commit", err);
}

#[test]
fn stage_transaction_timeout_too_long() {
    let src = staged("output_topic = \"payments\"\ntransaction_timeout_ms = 900001\n");
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "transaction_timeout_ms = 900001",
        "consumers[0].transaction_timeout_ms",
        "at most 900000",
    );
    insta::assert_snapshot!("stage_transaction_timeout_too_long", err);
}

#[test]
fn stage_on_a_replicated_topic() {
    let src = staged("output_topic = \"payments\"\n")
        .replacen("brokers = 1", "brokers = 2", 1)
        .replacen(
            "{ name = \"payments\", partitions = 2 }",
            "{ name = \"payments\", partitions = 2, replication_factor = 2 }",
            1,
        );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "output_topic = \"payments\"",
        "consumers[0].output_topic",
        "transactions are modelled on unreplicated topics only",
    );
    insta::assert_snapshot!("stage_on_a_replicated_topic", err);
}

#[test]
fn stages_in_a_cycle() {
    let src = replaced(
        "topics = [{ name = \"orders\", partitions = 2 }]",
        "topics = [{ name = \"orders\", partitions = 2 }, { name = \"a\", partitions = 2 }, { name = \"b\", partitions = 2 }]",
    ) + "output_topic = \"a\"\n\n[[consumers]]\ngroup = \"s2\"\ntopic = \"a\"\nhandler = \"forward\"\noutput_topic = \"b\"\n\n[[consumers]]\ngroup = \"s3\"\ntopic = \"b\"\nhandler = \"forward\"\noutput_topic = \"a\"\n";
    let err = run_bad(&src);
    assert!(
        err.contains("consumers[1].output_topic: consume-transform-produce stages form a cycle"),
        "{err}"
    );
    insta::assert_snapshot!("stages_in_a_cycle", err);
}

#[test]
fn stage_with_a_handler_that_commits_before_processing() {
    let src = staged("output_topic = \"payments\"\n").replacen(
        "handler = \"idempotent-inbox\"",
        "handler = \"commit-before-process\"",
        1,
    );
    let err = run_bad(&src);
    assert_diag(
        &err,
        &src,
        "handler = \"commit-before-process\"",
        "consumers[0].handler",
        "not before processing or automatically",
    );
    insta::assert_snapshot!("stage_with_a_handler_that_commits_before_processing", err);
}
