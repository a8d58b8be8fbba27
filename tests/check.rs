//! `faultline check` on hand-made Kafka histories: each shows one anomaly
//! of the field's catalogue (and what its definition drags along), and the
//! check reports exactly those, judged by the tolerance rules.

use std::fs;
use std::time::Duration;

use assert_cmd::Command;
use serde_json::Value;

/// Runs `faultline check` on `history` with `args`; the exit code and the
/// anomalies of result.json as `(name, tolerated)`.
fn check(history: &str, args: &[&str]) -> (i32, Vec<(String, bool)>, Value) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    fs::write(&path, history).unwrap();
    let out = dir.path().join("out");
    let output = Command::cargo_bin("faultline")
        .unwrap()
        .timeout(Duration::from_secs(60))
        .arg("check")
        .arg(&path)
        .arg("--out")
        .arg(&out)
        .args(args)
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    let result: Value = serde_json::from_str(
        &fs::read_to_string(out.join("result.json")).unwrap_or_else(|e| {
            panic!(
                "no result.json ({e}); stdout: {}; stderr: {}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        }),
    )
    .unwrap();
    let names = result["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_owned(),
                a["tolerated"].as_bool().unwrap(),
            )
        })
        .collect();
    (code, names, result)
}

fn names(found: &[(String, bool)]) -> Vec<&str> {
    found.iter().map(|(n, _)| n.as_str()).collect()
}

/// Lines of a history from `(process, type, f, value)`.
fn history(ops: &[(i64, &str, &str, &str)]) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            format!(
                "{{\"index\":{i},\"time\":{},\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"value\":{v}}}\n",
                i * 100
            )
        })
        .collect()
}

/// Process 0 sends `values` to key 1, one ok send each at offsets 0, 1, ...
fn sends(values: &[i64]) -> Vec<(i64, &'static str, &'static str, String)> {
    values
        .iter()
        .enumerate()
        .flat_map(|(o, v)| {
            [
                (0, "invoke", "send", format!("[[\"send\",1,{v}]]")),
                (0, "ok", "send", format!("[[\"send\",1,[{o},{v}]]]")),
            ]
        })
        .collect()
}

fn with(
    mut ops: Vec<(i64, &'static str, &'static str, String)>,
    more: &[(i64, &'static str, &'static str, &str)],
) -> String {
    ops.extend(
        more.iter()
            .map(|(p, t, f, v)| (*p, *t, *f, (*v).to_owned())),
    );
    let borrowed: Vec<(i64, &str, &str, &str)> = ops
        .iter()
        .map(|(p, t, f, v)| (*p, *t, *f, v.as_str()))
        .collect();
    history(&borrowed)
}

#[test]
fn a_clean_history_is_valid() {
    let h = with(
        sends(&[10, 11, 12]),
        &[
            (1, "ok", "assign", "[1]"),
            (1, "ok", "poll", r#"[["poll",{"1":[[0,10],[1,11]]}]]"#),
            (1, "ok", "poll", r#"[["poll",{"1":[[2,12]]}]]"#),
        ],
    );
    let (code, found, result) = check(&h, &[]);
    assert_eq!(names(&found), Vec::<&str>::new());
    assert_eq!(code, 0);
    assert_eq!(result["valid"], true);
    assert_eq!(result["totals"]["lost"], 0);
    assert_eq!(result["totals"]["ok"], 3);
}

#[test]
fn lost_write_a_value_below_what_was_read_that_nobody_read() {
    let h = with(
        sends(&[10, 11, 12]),
        &[
            (1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#),
            (2, "ok", "poll", r#"[["poll",{"1":[[2,12]]}]]"#),
        ],
    );
    let (code, found, result) = check(&h, &[]);
    assert_eq!(names(&found), ["lost-write", "unseen"]);
    assert_eq!(code, 1);
    let case = &result["anomalies"][0]["cases"][0];
    assert!(
        case["explanation"]
            .as_str()
            .unwrap()
            .contains("value 11 at offset 1"),
        "{case}"
    );
    assert_eq!(result["totals"]["lost"], 1);
}

#[test]
fn unseen_acknowledged_values_never_polled() {
    let h = with(
        sends(&[10, 11]),
        &[(1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#)],
    );
    let (code, found, _) = check(&h, &[]);
    assert_eq!(names(&found), ["unseen"]);
    assert_eq!(code, 1);
}

#[test]
fn duplicate_one_value_at_two_offsets() {
    let h = with(
        sends(&[10]),
        &[(1, "ok", "poll", r#"[["poll",{"1":[[0,10],[1,10]]}]]"#)],
    );
    let (_, found, _) = check(&h, &[]);
    // Reading the same value twice in one poll is also a step back.
    assert_eq!(names(&found), ["duplicate", "int-nonmonotonic-poll"]);
}

#[test]
fn inconsistent_offsets_two_values_at_one_offset() {
    let h = with(
        sends(&[10]),
        &[
            (2, "ok", "send", r#"[["send",1,[0,11]]]"#),
            (1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#),
            (3, "ok", "poll", r#"[["poll",{"1":[[0,11]]}]]"#),
        ],
    );
    let (code, found, _) = check(&h, &[]);
    assert_eq!(names(&found), ["inconsistent-offsets"]);
    assert_eq!(code, 1);
}

#[test]
fn g1a_an_ok_poll_reads_a_failed_send() {
    let h = history(&[
        (0, "invoke", "send", r#"[["send",1,10]]"#),
        (0, "fail", "send", r#"[["send",1,10]]"#),
        (1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#),
    ]);
    let (code, found, result) = check(&h, &[]);
    assert_eq!(names(&found), ["G1a"]);
    assert_eq!(code, 1);
    assert_eq!(result["totals"]["recovered"], 1);
}

#[test]
fn precommitted_read_a_transaction_reads_its_own_send() {
    let h = history(&[(
        0,
        "ok",
        "txn",
        r#"[["send",1,[0,10]],["poll",{"1":[[0,10]]}]]"#,
    )]);
    let (_, found, _) = check(&h, &[]);
    assert_eq!(names(&found), ["precommitted-read"]);
    // One case per op, however many keys it read back.
    let h = history(&[(
        0,
        "ok",
        "txn",
        r#"[["send",1,[0,1]],["send",2,[0,2]],["poll",{"1":[[0,1]],"2":[[0,2]]}]]"#,
    )]);
    let (_, _, result) = check(&h, &[]);
    assert_eq!(result["anomalies"][0]["count"], 1);
}

#[test]
fn poll_skip_fails_in_assign_mode_and_is_tolerated_in_subscribe_mode() {
    let h = with(
        sends(&[10, 11, 12]),
        &[
            (1, "ok", "assign", "[1]"),
            (1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#),
            (1, "ok", "poll", r#"[["poll",{"1":[[2,12]]}]]"#),
            (2, "ok", "poll", r#"[["poll",{"1":[[1,11]]}]]"#),
        ],
    );
    let (code, found, _) = check(&h, &[]);
    assert_eq!(found, [("poll-skip".to_owned(), false)]);
    assert_eq!(code, 1);
    let (code, found, _) = check(&h, &["--mode", "subscribe"]);
    assert_eq!(found, [("poll-skip".to_owned(), true)]);
    assert_eq!(code, 0);
}

#[test]
fn an_assign_that_drops_the_key_forgets_the_last_poll() {
    let h = with(
        sends(&[10, 11, 12]),
        &[
            (1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#),
            (1, "ok", "assign", "[2]"),
            (1, "ok", "assign", "[1]"),
            (1, "ok", "poll", r#"[["poll",{"1":[[2,12]]}]]"#),
            (2, "ok", "poll", r#"[["poll",{"1":[[1,11]]}]]"#),
        ],
    );
    let (code, found, _) = check(&h, &[]);
    assert_eq!(names(&found), Vec::<&str>::new());
    assert_eq!(code, 0);
}

#[test]
fn a_poll_of_unknown_outcome_is_compared_but_not_remembered() {
    // The info poll skips offset 1; the ok poll after it is compared with
    // the last ok poll (offset 0), so it skips too.
    let h = with(
        sends(&[10, 11, 12]),
        &[
            (1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#),
            (1, "info", "poll", r#"[["poll",{"1":[[2,12]]}]]"#),
            (1, "ok", "poll", r#"[["poll",{"1":[[2,12]]}]]"#),
            (2, "ok", "poll", r#"[["poll",{"1":[[1,11]]}]]"#),
        ],
    );
    let (_, found, result) = check(&h, &[]);
    assert_eq!(names(&found), ["poll-skip"]);
    assert_eq!(result["anomalies"][0]["count"], 2);
}

#[test]
fn an_empty_read_of_a_key_is_the_latest_read_of_it() {
    // The empty poll between them means the polls of 10 and 12 are not
    // successive reads of key 1: no poll-skip (the lost 11 is still lost).
    let h = with(
        sends(&[10, 11, 12]),
        &[
            (1, "ok", "assign", "[1]"),
            (1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#),
            (1, "ok", "poll", r#"[["poll",{"1":[]}]]"#),
            (1, "ok", "poll", r#"[["poll",{"1":[[2,12]]}]]"#),
        ],
    );
    let (_, found, _) = check(&h, &[]);
    assert_eq!(names(&found), ["lost-write", "unseen"]);
}

#[test]
fn nonmonotonic_poll_a_process_reads_backwards() {
    let h = with(
        sends(&[10, 11]),
        &[
            (1, "ok", "poll", r#"[["poll",{"1":[[0,10],[1,11]]}]]"#),
            (1, "ok", "poll", r#"[["poll",{"1":[[1,11]]}]]"#),
        ],
    );
    let (_, found, _) = check(&h, &[]);
    assert_eq!(names(&found), ["nonmonotonic-poll"]);
}

#[test]
fn int_poll_skip_is_exempt_for_keys_in_the_rebalance_log() {
    let base = with(sends(&[10, 11, 12]), &[]);
    let skip = r#"{"index":9,"process":1,"type":"ok","f":"poll","value":[["poll",{"1":[[0,10],[2,12]]}]]}"#;
    let other =
        r#"{"index":10,"process":2,"type":"ok","f":"poll","value":[["poll",{"1":[[1,11]]}]]}"#;
    let (_, found, _) = check(&format!("{base}{skip}\n{other}\n"), &[]);
    assert_eq!(names(&found), ["int-poll-skip"]);
    let exempt = skip.replace(r#""value""#, r#""rebalance-log":[{"keys":[1]}],"value""#);
    let (code, found, _) = check(&format!("{base}{exempt}\n{other}\n"), &[]);
    assert_eq!(names(&found), Vec::<&str>::new());
    assert_eq!(code, 0);
}

#[test]
fn int_send_skip_is_tolerated() {
    let h = history(&[
        (0, "ok", "send", r#"[["send",1,[0,10]],["send",1,[2,12]]]"#),
        (1, "ok", "send", r#"[["send",1,[1,11]]]"#),
        (
            2,
            "ok",
            "poll",
            r#"[["poll",{"1":[[0,10],[1,11],[2,12]]}]]"#,
        ),
    ]);
    let (code, found, _) = check(&h, &[]);
    assert_eq!(found, [("int-send-skip".to_owned(), true)]);
    assert_eq!(code, 0);
}

#[test]
fn int_nonmonotonic_send_one_op_sends_land_out_of_order() {
    let h = history(&[
        (0, "ok", "send", r#"[["send",1,[1,10]],["send",1,[0,11]]]"#),
        (2, "ok", "poll", r#"[["poll",{"1":[[0,11],[1,10]]}]]"#),
    ]);
    let (_, found, _) = check(&h, &[]);
    assert_eq!(names(&found), ["int-nonmonotonic-send"]);
}

#[test]
fn nonmonotonic_send_a_later_send_lands_earlier() {
    let h = history(&[
        (0, "ok", "send", r#"[["send",1,[1,10]]]"#),
        (0, "ok", "send", r#"[["send",1,[0,11]]]"#),
        (2, "ok", "poll", r#"[["poll",{"1":[[0,11],[1,10]]}]]"#),
    ]);
    let (_, found, _) = check(&h, &[]);
    assert_eq!(names(&found), ["nonmonotonic-send"]);
}

#[test]
fn g1c_two_transactions_read_each_others_writes() {
    let h = history(&[
        (
            0,
            "ok",
            "txn",
            r#"[["send",1,[0,10]],["poll",{"2":[[0,20]]}]]"#,
        ),
        (
            1,
            "ok",
            "txn",
            r#"[["send",2,[0,20]],["poll",{"1":[[0,10]]}]]"#,
        ),
    ]);
    let (code, found, result) = check(&h, &[]);
    assert_eq!(found, [("G1c".to_owned(), false)]);
    assert_eq!(code, 1);
    let text = result["anomalies"][0]["cases"][0]["explanation"]
        .as_str()
        .unwrap();
    assert!(
        text.starts_with("cycle: line 1 -wr key 2-> line 2 -wr key 1-> line 1")
            || text.starts_with("cycle: line 1 -wr key 1-> line 2"),
        "{text}"
    );
    // With ww edges drawn, G1c is tolerated.
    let (code, found, _) = check(&h, &["--ww-deps"]);
    assert_eq!(found, [("G1c".to_owned(), true)]);
    assert_eq!(code, 0);
}

#[test]
fn g1c_through_a_value_read_before_the_last_one() {
    // Line 3 reads key 1's values 1 and 3: its read of 1 ties it to line 2
    // as much as a last read would.
    let h = history(&[
        (3, "ok", "send", r#"[["send",1,[1,3]]]"#),
        (
            1,
            "ok",
            "txn",
            r#"[["send",1,[0,1]],["poll",{"2":[[0,2]]}]]"#,
        ),
        (
            2,
            "ok",
            "txn",
            r#"[["send",2,[0,2]],["poll",{"1":[[0,1],[1,3]]}]]"#,
        ),
    ]);
    let (code, found, _) = check(&h, &[]);
    assert_eq!(found, [("G1c".to_owned(), false)]);
    assert_eq!(code, 1);
}

#[test]
fn g1c_process_a_process_reads_what_its_own_later_op_sends() {
    let h = history(&[
        (0, "ok", "poll", r#"[["poll",{"2":[[0,20]]}]]"#),
        (0, "ok", "send", r#"[["send",2,[0,20]]]"#),
    ]);
    let (code, found, result) = check(&h, &[]);
    assert_eq!(found, [("G1c-process".to_owned(), false)]);
    assert_eq!(code, 1);
    assert_eq!(
        result["anomalies"][0]["cases"][0]["explanation"],
        "cycle: line 1 -process-> line 2 -wr key 2-> line 1"
    );
}

#[test]
fn g1c_realtime_a_poll_reads_what_is_sent_only_after_it_completed() {
    let h = history(&[
        (0, "invoke", "poll", r#"[["poll"]]"#),
        (0, "ok", "poll", r#"[["poll",{"2":[[0,20]]}]]"#),
        (1, "invoke", "send", r#"[["send",2,20]]"#),
        (1, "ok", "send", r#"[["send",2,[0,20]]]"#),
    ]);
    let (code, found, result) = check(&h, &[]);
    assert_eq!(found, [("G1c-realtime".to_owned(), false)]);
    assert_eq!(code, 1);
    assert_eq!(
        result["anomalies"][0]["cases"][0]["explanation"],
        "cycle: line 2 -realtime-> line 4 -wr key 2-> line 2"
    );
    // Overlapping in time, the same reads are no cycle.
    let h = history(&[
        (0, "invoke", "poll", r#"[["poll"]]"#),
        (1, "invoke", "send", r#"[["send",2,20]]"#),
        (0, "ok", "poll", r#"[["poll",{"2":[[0,20]]}]]"#),
        (1, "ok", "send", r#"[["send",2,[0,20]]]"#),
    ]);
    let (code, found, _) = check(&h, &[]);
    assert_eq!(names(&found), Vec::<&str>::new());
    assert_eq!(code, 0);
}

#[test]
fn g0_write_cycles_appear_only_with_ww_edges_and_are_tolerated() {
    let h = history(&[
        (0, "ok", "send", r#"[["send",1,[0,10]],["send",2,[1,21]]]"#),
        (1, "ok", "send", r#"[["send",1,[1,11]],["send",2,[0,20]]]"#),
        (
            2,
            "ok",
            "poll",
            r#"[["poll",{"1":[[0,10],[1,11]],"2":[[0,20],[1,21]]}]]"#,
        ),
    ]);
    let (code, found, _) = check(&h, &[]);
    assert_eq!(names(&found), Vec::<&str>::new());
    assert_eq!(code, 0);
    let (code, found, _) = check(&h, &["--ww-deps"]);
    assert_eq!(found, [("G0".to_owned(), true)]);
    assert_eq!(code, 0);
}

#[test]
fn string_keys_and_values_and_info_sends_that_were_read() {
    let h = history(&[
        (0, "invoke", "send", r#"[["send","orders","a"]]"#),
        (0, "info", "send", r#"[["send","orders","a"]]"#),
        (0, "invoke", "send", r#"[["send","orders","b"]]"#),
        (0, "ok", "send", r#"[["send","orders",[1,"b"]]]"#),
        (
            1,
            "ok",
            "poll",
            r#"[["poll",{"orders":[[0,"a"],[1,"b"]]}]]"#,
        ),
    ]);
    let (code, found, result) = check(&h, &[]);
    assert_eq!(names(&found), Vec::<&str>::new());
    assert_eq!(code, 0);
    assert_eq!(result["totals"]["recovered"], 1);
}

#[test]
fn a_key_written_as_digits_is_that_integer_everywhere() {
    // JSON object names are strings: poll results name key 1 "1", and some
    // exporters write the sends' keys as strings too.
    let h = history(&[
        (0, "ok", "send", r#"[["send","1",[0,10]]]"#),
        (1, "ok", "assign", r#"["1"]"#),
        (1, "ok", "poll", r#"[["poll",{"1":[[0,10]]}]]"#),
    ]);
    let (code, found, result) = check(&h, &[]);
    assert_eq!(names(&found), Vec::<&str>::new());
    assert_eq!(code, 0);
    assert_eq!(result["totals"]["ok"], 1);
}

#[test]
fn a_malformed_line_is_a_clear_error_with_its_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.jsonl");
    fs::write(
        &path,
        "{\"process\":0,\"type\":\"ok\",\"f\":\"send\",\"value\":[[\"send\",1,[0,10]]]}\n{\"process\":0,\"type\":\"done\",\"f\":\"send\",\"value\":[]}\n",
    )
    .unwrap();
    let out = Command::cargo_bin("faultline")
        .unwrap()
        .arg("check")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.jsonl:2: field `type`: expected \"invoke\", \"ok\", \"fail\" or \"info\", found \"done\""),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

mod arbitrary {
    use faultline::kafka_history::{Options, analyse, parse};
    use proptest::prelude::*;

    /// One random operation line over two keys and a few values and
    /// offsets: sends, polls, txns, assigns, with any outcome.
    fn op_line() -> impl Strategy<Value = String> {
        let kind = prop::sample::select(vec!["invoke", "ok", "fail", "info"]);
        let pair = (prop::option::of(0u64..6), 0i64..6);
        let send = (1i64..3, pair.clone()).prop_map(|(k, (o, v))| match o {
            Some(o) => format!("[\"send\",{k},[{o},{v}]]"),
            None => format!("[\"send\",{k},{v}]"),
        });
        let poll = prop::collection::vec((1i64..3, prop::collection::vec(pair, 0..4)), 0..3)
            .prop_map(|keys| {
                let body: Vec<String> = keys
                    .iter()
                    .map(|(k, pairs)| {
                        let ps: Vec<String> = pairs
                            .iter()
                            .map(|(o, v)| match o {
                                Some(o) => format!("[{o},{v}]"),
                                None => format!("[null,{v}]"),
                            })
                            .collect();
                        format!("\"{k}\":[{}]", ps.join(","))
                    })
                    .collect();
                format!("[\"poll\",{{{}}}]", body.join(","))
            });
        let mop = prop_oneof![send, poll];
        let f = prop::sample::select(vec!["send", "poll", "txn", "assign", "subscribe", "crash"]);
        (
            0i64..3,
            kind,
            f,
            prop::collection::vec(mop, 0..4),
            prop::collection::vec(1i64..3, 0..3),
        )
            .prop_map(|(p, t, f, mops, keys)| {
                let value = match f {
                    "assign" | "subscribe" => format!("{keys:?}"),
                    "crash" => "null".to_owned(),
                    _ => format!("[{}]", mops.join(",")),
                };
                format!("{{\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"value\":{value}}}")
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 256,
            rng_seed: proptest::test_runner::RngSeed::Fixed(7),
            ..ProptestConfig::default()
        })]

        /// Any well-formed history is analysed without a panic, the same
        /// way twice, and is valid exactly when every anomaly is tolerated.
        #[test]
        fn any_history_is_judged_consistently(lines in prop::collection::vec(op_line(), 0..40), ww in any::<bool>()) {
            let ops = parse(&lines.join("\n")).expect("generated lines are well formed");
            let opts = Options { mode: None, ww_deps: ww };
            let a = analyse(&ops, opts);
            prop_assert_eq!(&a, &analyse(&ops, opts));
            prop_assert_eq!(a.valid, a.anomalies.iter().all(|x| x.tolerated));
            prop_assert!(a.anomalies.iter().all(|x| x.count > 0 && !x.cases.is_empty()));
        }
    }
}

/// The README's worked example, as printed.
#[test]
fn the_readme_example_prints_its_summary() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("faultline")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["check", "tests/histories/lost-write.jsonl", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let shown: String = stdout
        .lines()
        .filter(|l| !l.starts_with("wrote "))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(shown);
}

/// Runs a bundled scenario with `--kafka-history` and checks the export.
fn export_and_check(scenario: &str) -> (String, i32, Vec<(String, bool)>) {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    Command::cargo_bin("faultline")
        .unwrap()
        .current_dir(root)
        .args(["run", scenario, "--kafka-history", "-q", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    let exported = fs::read_to_string(dir.path().join("kafka-history.jsonl")).unwrap();
    let (code, found, _) = check(&exported, &[]);
    (exported, code, found)
}

#[test]
fn a_simulated_run_exports_a_history_that_check_judges() {
    // The idempotent producer keeps the log clean under the chaos mix; the
    // export orders each producer's sends as the application made them,
    // so acknowledgements arriving out of order are no anomaly.
    let (exported, code, found) = export_and_check("scenarios/bench/standard.toml");
    assert_eq!(names(&found), Vec::<&str>::new());
    assert_eq!(code, 0);
    assert!(
        exported.contains("\"f\":\"subscribe\""),
        "consumers subscribe"
    );
    assert!(
        exported.contains("\"f\":\"crash\""),
        "consumer crashes are ops"
    );
    // The same run exports the same bytes.
    assert_eq!(
        export_and_check("scenarios/bench/standard.toml").0,
        exported
    );

    // Committing before handling and crashing in between: records the
    // consumer never handed to its handler are lost from the client's view.
    let (_, code, found) = export_and_check("scenarios/kafka/commit-before-process.toml");
    assert_eq!(code, 1);
    assert!(names(&found).contains(&"lost-write"), "{found:?}");

    // A producer without idempotence retries a batch whose acknowledgement
    // was lost: the log holds the same records twice.
    let (_, _, found) = export_and_check("scenarios/kafka/idempotent-inbox.toml");
    assert!(names(&found).contains(&"duplicate"), "{found:?}");
}

#[test]
fn a_pipeline_exports_its_stage_transactions_as_txn_ops() {
    // Each stage transaction is one `txn` op (its batch's poll and the
    // sends of its outputs); the exactly-once pipeline's history is valid
    // under crashes inside and right after transactions and a fenced
    // zombie member.
    let (exported, code, found) = export_and_check("scenarios/kafka/eos-pipeline.toml");
    assert!(exported.contains("\"f\":\"txn\""), "stage transactions");
    assert_eq!(code, 0, "{found:?}");
    let (_, code, found) = export_and_check("scenarios/kafka/eos-pipeline-chaos.toml");
    assert_eq!(code, 0, "{found:?}");

    // A zombie member without fencing commits outputs its successor
    // committed too: the output topic holds the same values twice.
    let (_, code, found) = export_and_check("scenarios/incidents/eos-zombie-unfenced.toml");
    assert_eq!(code, 1);
    assert!(names(&found).contains(&"duplicate"), "{found:?}");
}
