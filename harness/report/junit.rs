//! `junit.xml`: a test case per scenario and seed, for CI systems that
//! show test reports. A failed expectation is a `failure` whose text ends
//! with the command that reproduces the run; a scenario file that cannot be
//! loaded is an `error`. No wall-clock times are written, so the file is
//! deterministic like every other artifact.

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::result::ResultFile;
use super::text::summary;

/// One scenario's outcome, as a suite collects it.
pub enum Outcome<'a> {
    /// It ran; its result.
    Ran(&'a ResultFile),
    /// It could not be loaded or run: the scenario path and the message.
    Invalid {
        /// The scenario file.
        path: &'a str,
        /// What was wrong.
        message: &'a str,
    },
}

/// The JUnit class name of a scenario path: `scenarios/kafka/a.toml` →
/// `scenarios.kafka.a`.
pub fn class_name(path: &str) -> String {
    let stem = path.strip_suffix(".toml").unwrap_or(path);
    stem.trim_start_matches("./").replace(['/', '\\'], ".")
}

/// The test case of one outcome. `report` is its report directory,
/// relative to the junit file (printed with the finding).
pub fn test_case(outcome: &Outcome<'_>, report: &str) -> TestCase {
    match outcome {
        Outcome::Ran(r) => {
            let status = if r.verdict == "pass" {
                TestCaseStatus::success()
            } else {
                let unmet: Vec<String> = r
                    .expectations
                    .iter()
                    .filter(|e| !e.met)
                    .map(|e| {
                        if e.violations > 0 {
                            format!(
                                "{} violated {} time{} (expected: {})",
                                e.invariant,
                                e.violations,
                                if e.violations == 1 { "" } else { "s" },
                                e.expect
                            )
                        } else {
                            format!("{} held (expected: {})", e.invariant, e.expect)
                        }
                    })
                    .collect();
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("expectation-not-met")
                    .set_message(format!("{}; reproduce: {}", unmet.join("; "), r.replay))
                    .set_description(summary(r, report, true));
                s
            };
            let swarm = if r.swarm { " (swarm)" } else { "" };
            let mut case = TestCase::new(format!("seed {}{swarm}", r.seed), status);
            case.set_classname(class_name(&r.scenario.path));
            case.set_system_out(format!(
                "report: {report}/report.html\nreproduce: {}\n",
                r.replay
            ));
            case
        }
        Outcome::Invalid { path, message } => {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
            s.set_type("invalid-scenario")
                .set_message(first_line(message))
                .set_description(*message);
            let mut case = TestCase::new("load", s);
            case.set_classname(class_name(path));
            case
        }
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_owned()
}

/// A report of one suite (`name`: what was run) with these cases.
pub fn report(name: &str, cases: Vec<TestCase>) -> Report {
    let mut suite = TestSuite::new(name);
    suite.add_test_cases(cases);
    let mut report = Report::new("faultline");
    report.add_test_suite(suite);
    report
}

/// The XML text of a report, with a final newline.
pub fn to_xml(report: &Report) -> std::io::Result<String> {
    let mut s = report.to_string().map_err(std::io::Error::other)?;
    if !s.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// The test cases of an exploration: one per seed that did not meet the
/// scenario's expectations (its failure text carries the replay command),
/// one for the seeds that did, and one per invariant the scenario expects
/// some seed to violate.
pub fn explore_cases(x: &crate::explore::Exploration, out: &str) -> Vec<TestCase> {
    let class = class_name(&x.scenario.path);
    let mut cases = Vec::new();
    for f in &x.failures {
        let replay = super::result::replay_command(&x.scenario.path, f.seed, x.swarm);
        let missed: Vec<&str> = f.missed.iter().map(|i| i.name()).collect();
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
        s.set_type("expectation-not-met")
            .set_message(format!(
                "seed {} did not meet the expectation of {}; reproduce: {replay}",
                f.seed,
                missed.join(", ")
            ))
            .set_description(format!(
                "{}: seed {} violated {}\nexploration: {out}/explore.json\nreproduce: {replay}\n",
                x.scenario.path,
                f.seed,
                missed.join(", ")
            ));
        let mut case = TestCase::new(format!("seed {}", f.seed), s);
        case.set_classname(class.clone());
        cases.push(case);
    }
    let passing = x.runs.saturating_sub(x.failures.len() as u64);
    let mut case = TestCase::new(
        format!(
            "{passing} seed{} of {}..{} met the expectations",
            if passing == 1 { "" } else { "s" },
            x.seeds.start,
            x.seeds.end
        ),
        TestCaseStatus::success(),
    );
    case.set_classname(class.clone());
    cases.push(case);
    if x.shards.is_empty() {
        let undemonstrated = x.undemonstrated();
        for inv in &x.expected_violations {
            let status = if undemonstrated.contains(inv) {
                let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                s.set_type("not-demonstrated").set_message(format!(
                    "no seed violated {}, which the scenario expects to be violated",
                    inv.name()
                ));
                s
            } else {
                TestCaseStatus::success()
            };
            let mut case = TestCase::new(format!("some seed violates {}", inv.name()), status);
            case.set_classname(class.clone());
            cases.push(case);
        }
    }
    cases
}
