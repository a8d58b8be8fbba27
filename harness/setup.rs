//! From a scenario file to a runnable setup: every value checked for range
//! and meaning, every name resolved, defaults filled in.
//!
//! Problems are collected, not stopped at, so a user sees every mistake in
//! a file at once; each names the field it is about.

use faultline_models::CrashPoint;
use faultline_models::kafka::{
    Acks, Assignor, BrokerConfig, CommitMode, ConsumerConfig, GroupSpec, InputOffsets, KafkaSpec,
    KeyDistribution, MESSAGE_KINDS, OffsetReset, OutputConfig, ProducerConfig, ProducerSpec,
    ReplicationConfig, Role, WorkloadSpec, WorldTemplate,
};
use faultline_models::{NodeId, SimTime};

use crate::checkers::Invariant;
use crate::engine::{Limits, Roles};
use crate::faults::{
    Chaos, CrashChaos, EpisodeChaos, FaultAction, FaultPlan, Latency, LinkEffect, LinkSpec,
    MessageChaos, PartitionShape, PointSpec, TimedFault,
};
use crate::registry::{Registry, did_you_mean};
use crate::scenario::schema::{
    AssignorFile, ChaosFile, CommitFile, ConsumerFile, EpisodeFile, InputOffsetsFile,
    IsolationFile, KeyDistributionFile, LinkFile, OffsetResetFile, ScenarioFile, TimelineFile,
};
use crate::scenario::values::{AcksValue, LatencyValue, MessageChaosValue, Millis, MsRange};
use crate::scenario::{Diagnostic, FieldPath, Loaded, ScenarioError, span_of};

/// Upper bounds on sizes, so no file can ask for more than a run can hold.
pub mod bounds {
    /// Brokers.
    pub const BROKERS_MAX: u64 = 64;
    /// Partitions of one topic.
    pub const PARTITIONS_MAX: u64 = 1024;
    /// Partitions of all topics.
    pub const PARTITIONS_TOTAL_MAX: u64 = 4096;
    /// Records of a workload.
    pub const RECORDS_MAX: u64 = 5_000_000;
    /// Keys of a workload.
    pub const KEYS_MAX: u64 = 1_000_000;
    /// Producers.
    pub const PRODUCERS_MAX: u64 = 64;
    /// Members of one group.
    pub const MEMBERS_MAX: u64 = 256;
    /// Consumer groups.
    pub const GROUPS_MAX: usize = 64;
    /// Consumers of all groups together (the engine keeps per-link tables,
    /// quadratic in the number of nodes).
    pub const CONSUMERS_TOTAL_MAX: u64 = 1024;
    /// Records times consumer groups (the checkers keep per-message facts
    /// for every group).
    pub const RECORDS_TIMES_GROUPS_MAX: u64 = 5_000_000;
    /// Any duration in a scenario: 30 days.
    pub const DURATION_MS_MAX: u64 = 30 * 24 * 3_600_000;
    /// Events per run.
    pub const EVENTS_MAX: u64 = 2_000_000_000;
}

use bounds::*;

/// The default fault window lasts this long past the end of the workload
/// and of the last timed fault, so faults armed at crash points get to
/// fire while consumers work through the backlog.
pub const WINDOW_MARGIN_MS: u64 = 10_000;

/// The longest `transaction_timeout_ms` (Kafka's broker default of
/// `transaction.max.timeout.ms`, 15 minutes).
pub const TRANSACTION_TIMEOUT_MS_MAX: u64 = 900_000;

/// What a scenario expects of one invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Must hold.
    Hold,
    /// Must be violated (a teaching scenario).
    Violate,
    /// Not judged.
    Allow,
}

impl Expect {
    /// Kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            Expect::Hold => "hold",
            Expect::Violate => "violate",
            Expect::Allow => "allow",
        }
    }
}

/// A runnable scenario.
#[derive(Clone)]
pub struct Setup {
    /// Its name.
    pub name: String,
    /// What it shows.
    pub description: String,
    /// The seed in the file.
    pub seed: u64,
    /// The Kafka world to build, with what no seed changes built once.
    world: WorldTemplate,
    /// The faults.
    pub plan: FaultPlan,
    /// Network latency.
    pub latency: Latency,
    /// Bounds.
    pub limits: Limits,
    /// Expectation per invariant, in [`Invariant::ALL`] order.
    pub expect: Vec<(Invariant, Expect)>,
    /// Node names, indexed by node id.
    pub node_names: Vec<String>,
    /// Which nodes are consumers and brokers.
    pub roles: Roles,
}

/// A problem with a field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field.
    pub field: FieldPath,
    /// What is wrong, and what was expected.
    pub message: String,
    /// A suggestion.
    pub help: Option<String>,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

/// Problems, one per line.
pub fn problems_text(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn err(&mut self, field: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem {
            field,
            message: message.into(),
            help: None,
        });
    }

    fn err_help(&mut self, field: FieldPath, message: impl Into<String>, help: impl Into<String>) {
        self.problems.push(Problem {
            field,
            message: message.into(),
            help: Some(help.into()),
        });
    }

    /// `value` within `lo..=hi`, else a problem (and `fallback`).
    fn range(&mut self, field: FieldPath, value: u64, lo: u64, hi: u64, what: &str) -> u64 {
        if value < lo || value > hi {
            self.err(
                field,
                format!("{what} must be between {lo} and {hi}, found {value}"),
            );
            lo
        } else {
            value
        }
    }

    fn ms(&mut self, field: FieldPath, value: Option<u64>, default: SimTime, min: u64) -> SimTime {
        match value {
            None => default,
            Some(v) => SimTime::from_ms(self.range(
                field,
                v,
                min,
                DURATION_MS_MAX,
                "a duration in milliseconds",
            )),
        }
    }

    /// A time given with microsecond precision, within `min_us..` and the
    /// duration bound.
    fn micros(&mut self, field: FieldPath, value: Millis, min_us: u64) -> SimTime {
        let max_us = DURATION_MS_MAX * 1000;
        if value.as_us() < min_us || value.as_us() > max_us {
            self.err(
                field,
                format!(
                    "a duration in milliseconds must be between {} and {DURATION_MS_MAX}, found {}",
                    min_us as f64 / 1000.0,
                    value.as_us() as f64 / 1000.0
                ),
            );
            SimTime::from_us(min_us)
        } else {
            SimTime::from_us(value.as_us())
        }
    }

    fn ms_range(
        &mut self,
        field: FieldPath,
        value: Option<MsRange>,
        default: (u64, u64),
    ) -> (SimTime, SimTime) {
        let MsRange(lo, hi) = value.unwrap_or(MsRange(default.0, default.1));
        let lo = self.range(
            field.clone(),
            lo,
            0,
            DURATION_MS_MAX,
            "a duration in milliseconds",
        );
        let hi = self.range(field, hi, 0, DURATION_MS_MAX, "a duration in milliseconds");
        (SimTime::from_ms(lo), SimTime::from_ms(hi.max(lo)))
    }

    fn probability(&mut self, field: FieldPath, p: f64) -> f64 {
        if !(0.0..=1.0).contains(&p) || p.is_nan() {
            self.err(
                field,
                format!("a probability must be between 0 and 1, found {p}"),
            );
            0.0
        } else {
            p
        }
    }
}

/// Resolves node names in fault entries.
struct NodeNames<'a> {
    names: &'a [String],
    roles: &'a [Role],
}

impl NodeNames<'_> {
    fn find(&self, name: &str) -> Option<NodeId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| NodeId(i as u16))
    }

    /// A node name, or a role word (`brokers`, `consumers`, `producers`).
    fn expand(&self, name: &str) -> Option<Vec<NodeId>> {
        let role = |f: fn(&Role) -> bool| {
            self.roles
                .iter()
                .enumerate()
                .filter(|(_, r)| f(r))
                .map(|(i, _)| NodeId(i as u16))
                .collect()
        };
        match name {
            "brokers" => Some(role(|r| matches!(r, Role::Broker(_)))),
            "consumers" => Some(role(|r| matches!(r, Role::Consumer(_)))),
            "producers" => Some(role(|r| matches!(r, Role::Producer(_)))),
            n => self.find(n).map(|x| vec![x]),
        }
    }

    fn role(&self, n: NodeId) -> Role {
        self.roles[n.index()]
    }

    fn unknown(&self, c: &mut Checker, field: FieldPath, name: &str) {
        let help = match did_you_mean(name, self.names.iter().map(String::as_str)) {
            Some(s) => format!("did you mean \"{s}\"? nodes are {}", self.list()),
            None => format!("nodes are {}", self.list()),
        };
        c.err_help(field, format!("unknown node \"{name}\""), help);
    }

    fn list(&self) -> String {
        let mut s = self.names.join(", ");
        s.push_str(" (or brokers, consumers, producers in partitions)");
        s
    }
}

/// Parses a crash point name.
pub fn parse_point(s: &str) -> Option<PointSpec> {
    if s == "now" {
        return Some(PointSpec::Now);
    }
    if let Some(name) = s.strip_prefix("handler:") {
        return (!name.is_empty()).then(|| PointSpec::Named(name.to_owned()));
    }
    CrashPoint::BUILT_IN
        .iter()
        .find(|(_, n)| *n == s)
        .map(|(p, _)| PointSpec::At(*p))
}

fn point_names() -> String {
    let mut v: Vec<&str> = vec!["now"];
    v.extend(CrashPoint::BUILT_IN.iter().map(|(_, n)| *n));
    format!(
        "{}, or handler:<name> for a point the handler names",
        v.join(", ")
    )
}

fn kind_of(c: &mut Checker, field: FieldPath, kind: &str) -> Option<&'static str> {
    match MESSAGE_KINDS.iter().find(|k| **k == kind) {
        Some(k) => Some(k),
        None => {
            let help = match did_you_mean(kind, MESSAGE_KINDS) {
                Some(s) => format!(
                    "did you mean \"{s}\"? kinds are {}",
                    MESSAGE_KINDS.join(", ")
                ),
                None => format!("kinds are {}", MESSAGE_KINDS.join(", ")),
            };
            c.err_help(field, format!("unknown message kind \"{kind}\""), help);
            None
        }
    }
}

impl Setup {
    /// The Kafka world to build.
    pub fn spec(&self) -> &KafkaSpec {
        self.world.spec()
    }

    /// The Kafka world to build, with its seed-independent layout (worlds
    /// for each seed are built from it).
    pub fn world(&self) -> &WorldTemplate {
        &self.world
    }

    /// Checks and resolves a scenario file.
    pub fn from_file(file: &ScenarioFile, registry: &Registry) -> Result<Setup, Vec<Problem>> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        let root = FieldPath::root();
        if file.name.trim().is_empty() {
            c.err(root.key("name"), "the scenario needs a name");
        }

        // ----- topology -----
        let topo = root.key("topology");
        let brokers = c.range(
            topo.key("brokers"),
            file.topology.brokers,
            1,
            BROKERS_MAX,
            "brokers",
        ) as u16;
        if file.topology.topics.is_empty() {
            c.err(topo.key("topics"), "at least one topic is needed");
        }
        let mut topics = Vec::new();
        let mut replication = Vec::new();
        let mut total = 0u64;
        for (i, t) in file.topology.topics.iter().enumerate() {
            let at = topo.key("topics").index(i);
            if t.name.is_empty()
                || !t
                    .name
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || "._-".contains(ch))
            {
                c.err(at.key("name"), format!("topic name \"{}\" must be non-empty and use only letters, digits, '.', '_' and '-'", t.name));
            }
            if topics.iter().any(|(n, _): &(String, u32)| *n == t.name) {
                c.err(
                    at.key("name"),
                    format!("topic \"{}\" is defined twice", t.name),
                );
            }
            let p = c.range(
                at.key("partitions"),
                t.partitions,
                1,
                PARTITIONS_MAX,
                "partitions",
            ) as u32;
            total += u64::from(p);
            topics.push((t.name.clone(), p));
            replication.push(replication_config(&mut c, &at, t, brokers));
        }
        if total > PARTITIONS_TOTAL_MAX {
            c.err(topo.key("topics"), format!("all topics together may have at most {PARTITIONS_TOTAL_MAX} partitions, found {total}"));
        }
        let topic_index = |c: &mut Checker, field: FieldPath, name: &Option<String>| -> u16 {
            match name {
                None => 0,
                Some(n) => match topics.iter().position(|(t, _)| t == n) {
                    Some(i) => i as u16,
                    None => {
                        let names: Vec<&str> = topics.iter().map(|(t, _)| t.as_str()).collect();
                        c.err_help(
                            field,
                            format!("unknown topic \"{n}\""),
                            format!("topics are {}", names.join(", ")),
                        );
                        0
                    }
                },
            }
        };

        // ----- workload -----
        let wl = root.key("workload");
        let w = &file.workload;
        let workload_topic = topic_index(&mut c, wl.key("topic"), &w.topic);
        let records = c.range(wl.key("records"), w.records, 1, RECORDS_MAX, "records") as u32;
        let keys = c.range(wl.key("keys"), w.keys, 1, KEYS_MAX, "keys") as u32;
        let producers = c.range(
            wl.key("producers"),
            w.producers.unwrap_or(1),
            1,
            PRODUCERS_MAX,
            "producers",
        ) as u16;
        let rate = w.rate_per_sec.unwrap_or(1000.0);
        let interval = if !(rate.is_finite() && (0.001..=10_000_000.0).contains(&rate)) {
            c.err(
                wl.key("rate_per_sec"),
                format!("rate_per_sec must be between 0.001 and 10000000, found {rate}"),
            );
            SimTime::from_ms(1)
        } else {
            SimTime::from_us((1_000_000.0 / rate).round() as u64)
        };
        let start = c.ms(wl.key("start_ms"), Some(w.start_ms), SimTime::ZERO, 0);
        let distribution = match &w.key_distribution {
            None | Some(KeyDistributionFile::Uniform) => KeyDistribution::Uniform,
            Some(KeyDistributionFile::Zipf(s)) => {
                if !(s.is_finite() && *s > 0.0 && *s <= 10.0) {
                    c.err(
                        wl.key("key_distribution").key("zipf"),
                        format!("the zipf exponent must be above 0 and at most 10, found {s}"),
                    );
                }
                KeyDistribution::Zipf(*s)
            }
        };
        let values = match w.values {
            None => (1, 100),
            Some([lo, hi]) => {
                const VALUE_MAX: i64 = 1_000_000_000_000;
                if lo > hi {
                    c.err(
                        wl.key("values"),
                        format!("values [{lo}, {hi}] has min above max"),
                    );
                } else if lo < -VALUE_MAX || hi > VALUE_MAX {
                    c.err(
                        wl.key("values"),
                        format!("values must lie between -{VALUE_MAX} and {VALUE_MAX}, found [{lo}, {hi}]"),
                    );
                }
                (lo, hi.max(lo))
            }
        };
        let workload = WorkloadSpec {
            records,
            keys,
            producers,
            start,
            interval,
            keyless: w.keyless,
            distribution,
            values,
        };

        // ----- producer -----
        let pf = &file.producer;
        let pp = root.key("producer");
        let d = ProducerConfig::default();
        let acks = match pf.acks {
            None | Some(AcksValue::All) => Acks::All,
            Some(AcksValue::One) => Acks::One,
            Some(AcksValue::Zero) => Acks::Zero,
        };
        let max_in_flight = c.range(
            pp.key("max_in_flight"),
            pf.max_in_flight.unwrap_or(u64::from(d.max_in_flight)),
            1,
            100,
            "max_in_flight",
        ) as u32;
        let retries = c.range(
            pp.key("retries"),
            pf.retries.unwrap_or(i32::MAX as u64),
            0,
            i32::MAX as u64,
            "retries",
        ) as u32;
        // Kafka's rule: idempotence needs acks=all, retries > 0 and at most
        // 5 requests in flight. Set explicitly with a conflict, it is a
        // configuration error; left at its default, it is quietly off.
        let conflict = if acks != Acks::All {
            Some("acks = \"all\"")
        } else if retries == 0 {
            Some("retries > 0")
        } else if max_in_flight > 5 {
            Some("max_in_flight <= 5")
        } else {
            None
        };
        let idempotence = match (pf.idempotence, conflict) {
            (Some(true), Some(need)) => {
                c.err_help(
                    pp.key("idempotence"),
                    format!("idempotence requires {need} (Kafka refuses this configuration)"),
                    "set idempotence = false, or change the conflicting setting",
                );
                false
            }
            (Some(v), _) => v,
            (None, Some(_)) => false,
            (None, None) => d.idempotence,
        };
        let producer = ProducerConfig {
            acks,
            idempotence,
            retries,
            request_timeout: c.ms(
                pp.key("request_timeout_ms"),
                pf.request_timeout_ms,
                d.request_timeout,
                1,
            ),
            delivery_timeout: c.ms(
                pp.key("delivery_timeout_ms"),
                pf.delivery_timeout_ms,
                d.delivery_timeout,
                1,
            ),
            retry_backoff: c.ms(
                pp.key("retry_backoff_ms"),
                pf.retry_backoff_ms,
                d.retry_backoff,
                0,
            ),
            max_in_flight,
            linger: c.ms(pp.key("linger_ms"), pf.linger_ms, d.linger, 0),
            batch_records: c.range(
                pp.key("batch_records"),
                pf.batch_records.unwrap_or(u64::from(d.batch_records)),
                1,
                10_000,
                "batch_records",
            ) as u32,
            transactional_id: pf.transactional_id.clone(),
            transaction_records: c.range(
                pp.key("transaction_records"),
                pf.transaction_records
                    .unwrap_or(u64::from(d.transaction_records)),
                1,
                10_000,
                "transaction_records",
            ) as u32,
            transaction_timeout: c.ms(
                pp.key("transaction_timeout_ms"),
                pf.transaction_timeout_ms,
                d.transaction_timeout,
                1,
            ),
            takeover: pf
                .takeover_ms
                .map(|ms| c.ms(pp.key("takeover_ms"), Some(ms), SimTime::ZERO, 0)),
        };
        if pf.takeover_ms.is_some() && file.workload.producers.unwrap_or(1) != 1 {
            c.err_help(
                pp.key("takeover_ms"),
                "takeover_ms needs a single producer (its standby becomes p2)",
                "set workload.producers = 1, or remove takeover_ms",
            );
        }
        // Kafka's rule: a transactional id needs idempotence.
        if let Some(id) = &pf.transactional_id {
            if id.is_empty() {
                c.err_help(
                    pp.key("transactional_id"),
                    "transactional_id is empty",
                    "name it, e.g. transactional_id = \"orders-writer\"",
                );
            } else if !producer.idempotence {
                c.err_help(
                    pp.key("transactional_id"),
                    "transactional_id requires idempotence (Kafka refuses this configuration)",
                    "leave idempotence on (acks = \"all\", retries > 0, max_in_flight <= 5)",
                );
            }
        }
        let transactional = pf.transactional_id.is_some();
        transaction_timeout_max(&mut c, &pp, pf.transaction_timeout_ms);
        // Settings that only a transactional producer reads.
        if !transactional {
            unused_fields(
                &mut c,
                &pp,
                &[
                    ("transaction_records", pf.transaction_records.is_some()),
                    (
                        "transaction_timeout_ms",
                        pf.transaction_timeout_ms.is_some(),
                    ),
                ],
                ("producer.transactional_id", "producer.transactional_id"),
            );
        }

        // ----- consumers -----
        let mut groups = Vec::new();
        // Consume-transform-produce stages write in transactions too.
        let stages = file.consumers.iter().any(|g| g.output_topic.is_some());
        if file.consumers.is_empty() {
            c.err(
                root.key("consumers"),
                "at least one [[consumers]] group is needed",
            );
        }
        if file.consumers.len() > GROUPS_MAX {
            c.err(
                root.key("consumers"),
                format!(
                    "at most {GROUPS_MAX} consumer groups, found {}",
                    file.consumers.len()
                ),
            );
        }
        for (i, cf) in file.consumers.iter().enumerate() {
            let at = root.key("consumers").index(i);
            if groups.iter().any(|g: &GroupSpec| g.name == cf.group) {
                c.err(
                    at.key("group"),
                    format!("group \"{}\" is defined twice", cf.group),
                );
            }
            if cf.group.trim().is_empty() {
                c.err(at.key("group"), "the group needs a name");
            }
            if !transactional && !stages && cf.isolation_level == Some(IsolationFile::ReadCommitted)
            {
                c.err_help(
                    at.key("isolation_level"),
                    "isolation_level = \"read_committed\" has no effect without a transactional producer (every record is committed)",
                    "set producer.transactional_id or a group's output_topic, or remove isolation_level",
                );
            }
            let topic = match &cf.topic {
                None => workload_topic,
                t => topic_index(&mut c, at.key("topic"), t),
            };
            let output = cf.output_topic.as_ref().map(|name| {
                let out = topic_index(&mut c, at.key("output_topic"), &Some(name.clone()));
                if out == topic && topics.iter().any(|(t, _)| t == name) {
                    c.err_help(
                        at.key("output_topic"),
                        format!("output_topic \"{name}\" is the topic the group reads"),
                        "forward to another topic, and give it a [[consumers]] group of its own",
                    );
                }
                out
            });
            groups.push(group_spec(&mut c, &at, cf, (topic, output), registry));
        }
        if let Some(i) = stage_cycle(&groups) {
            c.err_help(
                root.key("consumers").index(i).key("output_topic"),
                "consume-transform-produce stages form a cycle: this stage's output comes back to its input, and every record would be forwarded forever",
                "end the chain of stages in a topic no stage reads",
            );
        }

        let broker = broker_config(
            &mut c,
            &topo,
            &file.topology,
            replication.iter().any(|r| r.factor > 1),
        );
        if stages && replication.iter().any(|r| r.factor > 1) {
            let i = file
                .consumers
                .iter()
                .position(|g| g.output_topic.is_some())
                .unwrap_or(0);
            c.err_help(
                root.key("consumers").index(i).key("output_topic"),
                "transactions are modelled on unreplicated topics only, and a topic has replication_factor above 1",
                "set replication_factor = 1 on every topic, or remove output_topic",
            );
        }
        if transactional && replication.iter().any(|r| r.factor > 1) {
            c.err_help(
                pp.key("transactional_id"),
                "transactions are modelled on unreplicated topics only, and a topic has replication_factor above 1",
                "set replication_factor = 1 on every topic, or remove transactional_id",
            );
        }
        let spec = KafkaSpec {
            brokers,
            topics,
            workload_topic,
            workload,
            producer: ProducerSpec { config: producer },
            groups,
            broker,
            replication,
        };
        let (node_names, roles) = spec.nodes();
        let consumers_total: u64 = spec.groups.iter().map(|g| u64::from(g.members)).sum();
        if consumers_total > CONSUMERS_TOTAL_MAX {
            c.err(
                root.key("consumers"),
                format!("all groups together may have at most {CONSUMERS_TOTAL_MAX} members, found {consumers_total}"),
            );
        }
        let load = u64::from(spec.workload.records) * spec.groups.len() as u64;
        if load > RECORDS_TIMES_GROUPS_MAX {
            c.err_help(
                root.key("workload").key("records"),
                format!(
                    "records times consumer groups may be at most {RECORDS_TIMES_GROUPS_MAX}, found {} x {}",
                    spec.workload.records,
                    spec.groups.len()
                ),
                "use fewer records or fewer groups",
            );
        }
        let nodes = NodeNames {
            names: &node_names,
            roles: &roles,
        };

        // ----- network -----
        let latency = match file.network.latency_ms {
            None => Latency::default(),
            Some(v) => latency(&mut c, root.key("network").key("latency_ms"), v),
        };

        // ----- faults -----
        let fp = root.key("faults");
        let mut timeline = Vec::new();
        let mut last_fault_end = SimTime::ZERO;
        for (i, t) in file.faults.timeline.iter().enumerate() {
            let at = fp.key("timeline").index(i);
            if let Some(f) = timed_fault(&mut c, &at, t, &nodes) {
                let span = match &f.action {
                    FaultAction::Crash { restart_after, .. } => restart_after.unwrap_or_default(),
                    FaultAction::Partition { heal_after, .. } => heal_after.unwrap_or_default(),
                    FaultAction::Slow { duration, .. } => duration.unwrap_or_default(),
                    FaultAction::Link(_) => SimTime::ZERO,
                };
                last_fault_end = last_fault_end.max(f.at + span);
                timeline.push(f);
            }
        }
        // File order is kept: the engine schedules each fault at its time,
        // and faults at the same time happen in file order; reports name
        // timeline entries by their position in the file.
        let chaos = chaos(&mut c, &fp.key("chaos"), &file.faults.chaos);
        let workload_end = start + SimTime(interval.0.saturating_mul(u64::from(records)));
        let window_end = match file.faults.window_ms {
            Some(w) => c.micros(fp.key("window_ms"), w, 0),
            None => workload_end.max(last_fault_end) + SimTime::from_ms(WINDOW_MARGIN_MS),
        };
        for (i, t) in file.faults.timeline.iter().enumerate() {
            if file.faults.window_ms.is_some() && SimTime::from_us(t.at_ms.as_us()) >= window_end {
                c.err_help(
                    fp.key("timeline").index(i).key("at_ms"),
                    format!(
                        "at_ms ({}) is not before the fault window closes (window_ms = {}): the fault would never happen",
                        t.at_ms.as_us() as f64 / 1000.0,
                        window_end.as_us() as f64 / 1000.0
                    ),
                    "move the fault earlier or the window's end later",
                );
            }
        }
        let plan = FaultPlan {
            timeline,
            chaos,
            window_end,
        };

        // ----- limits -----
        let lf = &file.limits;
        let lp = root.key("limits");
        let dl = Limits::default();
        let limits = Limits {
            sim_time_max: c.ms(
                lp.key("sim_time_ms"),
                lf.sim_time_ms,
                SimTime::from_ms(24 * 3_600_000),
                1,
            ),
            events_max: c.range(
                lp.key("events_max"),
                lf.events_max.unwrap_or(dl.events_max),
                1,
                EVENTS_MAX,
                "events_max",
            ),
            liveness_max: c.ms(lp.key("liveness_ms"), lf.liveness_ms, dl.liveness_max, 1),
        };

        // ----- expect -----
        let ep = root.key("expect");
        let mut expect: Vec<(Invariant, Expect)> =
            Invariant::ALL.iter().map(|i| (*i, Expect::Hold)).collect();
        let mut seen: Vec<(Invariant, &str)> = Vec::new();
        for (list, mode, name) in [
            (&file.expect.hold, Expect::Hold, "hold"),
            (&file.expect.violate, Expect::Violate, "violate"),
            (&file.expect.allow, Expect::Allow, "allow"),
        ] {
            for (j, inv) in list.iter().enumerate() {
                if let Some((_, other)) = seen.iter().find(|(x, _)| x == inv) {
                    c.err(
                        ep.key(name).index(j),
                        format!(
                            "{} is listed in both expect.{other} and expect.{name}",
                            inv.name()
                        ),
                    );
                    continue;
                }
                seen.push((*inv, name));
                if let Some(e) = expect.iter_mut().find(|(x, _)| x == inv) {
                    e.1 = mode;
                }
            }
        }
        // Aborted reads need transactions: without them the invariant is
        // not judged (and reports stay as they were), and may not be named.
        if !transactional && !stages {
            for (list, name) in [
                (&file.expect.hold, "hold"),
                (&file.expect.violate, "violate"),
                (&file.expect.allow, "allow"),
            ] {
                if let Some(j) = list.iter().position(|i| *i == Invariant::AbortedRead) {
                    c.err_help(
                        ep.key(name).index(j),
                        "aborted-read needs a transactional producer or a consume-transform-produce stage (without transactions no record is ever aborted)",
                        "set producer.transactional_id or a group's output_topic, or remove aborted-read",
                    );
                }
            }
            expect.retain(|(i, _)| *i != Invariant::AbortedRead);
        }

        if !c.problems.is_empty() {
            return Err(c.problems);
        }
        let roles_out = Roles {
            consumers: roles
                .iter()
                .enumerate()
                .filter(|(_, r)| matches!(r, Role::Consumer(_)))
                .map(|(i, _)| NodeId(i as u16))
                .collect(),
            brokers: roles
                .iter()
                .enumerate()
                .filter(|(_, r)| matches!(r, Role::Broker(_)))
                .map(|(i, _)| NodeId(i as u16))
                .collect(),
        };
        Ok(Setup {
            name: file.name.clone(),
            description: file.description.clone(),
            seed: file.seed,
            world: WorldTemplate::new(spec),
            plan,
            latency,
            limits,
            expect,
            node_names,
            roles: roles_out,
        })
    }

    /// Reads a scenario file and resolves it with `registry`; every problem
    /// comes back as a diagnostic naming the file, line and field.
    pub fn load(
        path: &std::path::Path,
        registry: &Registry,
    ) -> Result<(Loaded, Setup), ScenarioError> {
        Setup::from_loaded(crate::scenario::load(path)?, registry)
    }

    /// Like [`Setup::load`], for scenario text that came from `path`.
    pub fn parse(
        path: &std::path::Path,
        text: String,
        registry: &Registry,
    ) -> Result<(Loaded, Setup), ScenarioError> {
        Setup::from_loaded(crate::scenario::parse(path, text)?, registry)
    }

    /// Resolves a scenario already read (see [`Setup::load`]).
    pub fn from_loaded(
        loaded: Loaded,
        registry: &Registry,
    ) -> Result<(Loaded, Setup), ScenarioError> {
        match Setup::from_file(&loaded.file, registry) {
            Ok(setup) => Ok((loaded, setup)),
            Err(problems) => {
                let file = loaded.path.display().to_string();
                Err(ScenarioError::Invalid(
                    problems
                        .into_iter()
                        .map(|p| {
                            let span = span_of(&loaded.source, &p.field);
                            Diagnostic::new(&file, &loaded.source, span, p.field, p.message, p.help)
                        })
                        .collect(),
                ))
            }
        }
    }

    /// The invariants this scenario is judged on, in report order: every
    /// one, except `aborted-read` in a run without transactions.
    pub fn judged(&self) -> impl Iterator<Item = Invariant> + '_ {
        self.expect.iter().map(|(i, _)| *i)
    }

    /// The expectation for `inv`.
    pub fn expectation(&self, inv: Invariant) -> Expect {
        self.expect
            .iter()
            .find(|(i, _)| *i == inv)
            .map_or(Expect::Hold, |(_, e)| *e)
    }
}

/// A topic's replication settings.
fn replication_config(
    c: &mut Checker,
    at: &FieldPath,
    t: &crate::scenario::schema::TopicFile,
    brokers: u16,
) -> ReplicationConfig {
    let d = ReplicationConfig::default();
    let factor = match t.replication_factor {
        None => d.factor,
        Some(f) if f >= 1 && f <= u64::from(brokers) => f as u16,
        Some(f) => {
            c.err_help(
                at.key("replication_factor"),
                format!(
                    "replication_factor must be between 1 and the number of brokers ({brokers}), found {f}"
                ),
                "each replica of a partition lives on its own broker: add brokers or lower the factor",
            );
            1
        }
    };
    let min_insync = match t.min_insync_replicas {
        None => d.min_insync,
        Some(m) if m >= 1 && m <= u64::from(factor) => m as u16,
        Some(m) => {
            c.err_help(
                at.key("min_insync_replicas"),
                format!(
                    "min_insync_replicas must be between 1 and the topic's replication_factor ({factor}), found {m}"
                ),
                "with more required than there are replicas, every acks=all write would be refused",
            );
            1
        }
    };
    ReplicationConfig {
        factor,
        min_insync,
        unclean_election: t.unclean_leader_election.unwrap_or(d.unclean_election),
    }
}

/// Broker settings from `[topology]`; the replication timings apply only
/// when some topic is replicated.
fn broker_config(
    c: &mut Checker,
    topo: &FieldPath,
    t: &crate::scenario::schema::TopologyFile,
    replicated: bool,
) -> BrokerConfig {
    let d = BrokerConfig::default();
    if !replicated {
        for (name, v) in [
            ("replica_lag_time_max_ms", t.replica_lag_time_max_ms),
            ("broker_session_timeout_ms", t.broker_session_timeout_ms),
            (
                "broker_heartbeat_interval_ms",
                t.broker_heartbeat_interval_ms,
            ),
        ] {
            if v.is_some() {
                c.err_help(
                    topo.key(name),
                    format!("{name} applies to replicated topics, and no topic has replication_factor above 1"),
                    "set replication_factor on a topic, or remove this field",
                );
            }
        }
        return d;
    }
    let lag = c.ms(
        topo.key("replica_lag_time_max_ms"),
        t.replica_lag_time_max_ms,
        d.replica_lag_time_max,
        1,
    );
    let session = c.ms(
        topo.key("broker_session_timeout_ms"),
        t.broker_session_timeout_ms,
        d.session_timeout,
        1,
    );
    let heartbeat = c.ms(
        topo.key("broker_heartbeat_interval_ms"),
        t.broker_heartbeat_interval_ms,
        d.heartbeat_interval,
        1,
    );
    if heartbeat >= session {
        let field = if t.broker_heartbeat_interval_ms.is_some() {
            "broker_heartbeat_interval_ms"
        } else {
            "broker_session_timeout_ms"
        };
        c.err_help(
            topo.key(field),
            format!(
                "broker_heartbeat_interval_ms ({}) must be below broker_session_timeout_ms ({}), or the controller fences brokers between their heartbeats",
                heartbeat.as_us() / 1000,
                session.as_us() / 1000
            ),
            "Kafka's defaults are 2000 and 9000",
        );
    }
    BrokerConfig {
        replica_lag_time_max: lag,
        session_timeout: session,
        heartbeat_interval: heartbeat,
        ..d
    }
}

fn group_spec(
    c: &mut Checker,
    at: &FieldPath,
    cf: &ConsumerFile,
    (topic, output_topic): (u16, Option<u16>),
    registry: &Registry,
) -> GroupSpec {
    let d = ConsumerConfig::default();
    let output = output_config(c, at, cf, output_topic);
    let members = c.range(
        at.key("members"),
        cf.members.unwrap_or(1),
        1,
        MEMBERS_MAX,
        "members",
    ) as u16;
    let registered = registry.get(&cf.handler);
    if registered.is_none() {
        let names = registry.names();
        let help = match did_you_mean(&cf.handler, names.iter().copied()) {
            Some(s) => format!("did you mean \"{s}\"? handlers are {}", names.join(", ")),
            None => format!("handlers are {}", names.join(", ")),
        };
        c.err_help(
            at.key("handler"),
            format!("unknown handler \"{}\"", cf.handler),
            help,
        );
    }
    let commit = match cf.commit {
        Some(CommitFile::BeforeProcess) => CommitMode::BeforeProcess,
        Some(CommitFile::AfterBatch) => CommitMode::AfterBatch,
        Some(CommitFile::Auto) => CommitMode::Auto,
        None => registered.map_or(CommitMode::AfterBatch, |r| r.commit),
    };
    if output.is_some() && commit != CommitMode::AfterBatch {
        // The handler's own commit mode counts too.
        let field = if cf.commit.is_some() {
            "commit"
        } else {
            "handler"
        };
        c.err_help(
            at.key(field),
            "a consume-transform-produce stage commits its offsets with its transaction (or right after it), not before processing or automatically",
            "remove commit, use a handler that commits after the batch (forward, process-then-commit, idempotent-inbox), and choose input_offsets",
        );
    }
    let session_timeout = c.ms(
        at.key("session_timeout_ms"),
        cf.session_timeout_ms,
        d.session_timeout,
        1,
    );
    let heartbeat_interval = c.ms(
        at.key("heartbeat_interval_ms"),
        cf.heartbeat_interval_ms,
        d.heartbeat_interval,
        1,
    );
    if heartbeat_interval >= session_timeout {
        let (field, default) = if cf.heartbeat_interval_ms.is_some() {
            ("heartbeat_interval_ms", "")
        } else {
            ("session_timeout_ms", ", the default")
        };
        c.err_help(
            at.key(field),
            format!(
                "heartbeat_interval_ms ({}{default}) must be below session_timeout_ms ({})",
                heartbeat_interval.as_ms(),
                session_timeout.as_ms()
            ),
            "Kafka recommends a heartbeat interval of at most a third of the session timeout",
        );
    }
    let config = ConsumerConfig {
        commit,
        auto_commit_interval: c.ms(
            at.key("auto_commit_interval_ms"),
            cf.auto_commit_interval_ms,
            d.auto_commit_interval,
            1,
        ),
        offset_reset: match cf.auto_offset_reset {
            Some(OffsetResetFile::Earliest) => OffsetReset::Earliest,
            Some(OffsetResetFile::Latest) | None => OffsetReset::Latest,
        },
        max_poll_records: c.range(
            at.key("max_poll_records"),
            cf.max_poll_records.unwrap_or(u64::from(d.max_poll_records)),
            1,
            100_000,
            "max_poll_records",
        ) as u32,
        session_timeout,
        heartbeat_interval,
        max_poll_interval: c.ms(
            at.key("max_poll_interval_ms"),
            cf.max_poll_interval_ms,
            d.max_poll_interval,
            1,
        ),
        static_membership: cf.static_membership.unwrap_or(d.static_membership),
        assignor: match cf.partition_assignment_strategy {
            None | Some(AssignorFile::Range) => Assignor::Range,
            Some(AssignorFile::RoundRobin) => Assignor::RoundRobin,
            Some(AssignorFile::Sticky) => Assignor::Sticky,
            Some(AssignorFile::CooperativeSticky) => Assignor::CooperativeSticky,
        },
        request_timeout: c.ms(
            at.key("request_timeout_ms"),
            cf.request_timeout_ms,
            d.request_timeout,
            1,
        ),
        fetch_max_wait: c.ms(
            at.key("fetch_max_wait_ms"),
            cf.fetch_max_wait_ms,
            d.fetch_max_wait,
            1,
        ),
        retry_backoff: d.retry_backoff,
        processing: c.ms_range(at.key("processing_ms"), cf.processing_ms, (0, 0)),
        handler_attempts_max: c.range(
            at.key("handler_attempts_max"),
            cf.handler_attempts_max
                .unwrap_or(u64::from(d.handler_attempts_max)),
            1,
            1000,
            "handler_attempts_max",
        ) as u32,
        handler_retry_backoff: d.handler_retry_backoff,
        commit_attempts_max: c.range(
            at.key("commit_attempts_max"),
            cf.commit_attempts_max
                .unwrap_or(u64::from(d.commit_attempts_max)),
            1,
            100,
            "commit_attempts_max",
        ) as u32,
        // A stage reads committed unless told otherwise, as Kafka Streams
        // sets it under exactly-once.
        read_committed: cf
            .isolation_level
            .map_or(output.is_some(), |l| l == IsolationFile::ReadCommitted),
        output,
    };
    GroupSpec {
        name: cf.group.clone(),
        topic,
        members,
        config,
        handler_name: cf.handler.clone(),
        handler: registered.map_or_else(
            || {
                std::sync::Arc::new(|| {
                    Box::new(faultline_models::handlers::Apply)
                        as Box<dyn faultline_models::Handler>
                }) as _
            },
            |r| r.factory.clone(),
        ),
    }
}

/// The first stage (group index) whose output topic leads back, through
/// stages, to the topic it reads.
fn stage_cycle(groups: &[GroupSpec]) -> Option<usize> {
    let edges: Vec<(u16, u16)> = groups
        .iter()
        .filter_map(|g| g.config.output.map(|o| (g.topic, o.topic)))
        .collect();
    groups.iter().position(|g| {
        let Some(out) = g.config.output else {
            return false;
        };
        if out.topic == g.topic {
            // Reported on its own.
            return false;
        }
        // Topics reachable from the stage's output.
        let mut seen = vec![out.topic];
        let mut next = 0;
        while next < seen.len() {
            let t = seen[next];
            next += 1;
            for &(from, to) in &edges {
                if from == t && !seen.contains(&to) {
                    seen.push(to);
                }
            }
        }
        seen.contains(&g.topic)
    })
}

/// Kafka's brokers refuse a transaction timeout above
/// `transaction.max.timeout.ms` (`INVALID_TRANSACTION_TIMEOUT`).
fn transaction_timeout_max(c: &mut Checker, at: &FieldPath, ms: Option<u64>) {
    if ms.is_some_and(|ms| ms > TRANSACTION_TIMEOUT_MS_MAX) {
        c.err_help(
            at.key("transaction_timeout_ms"),
            format!(
                "transaction_timeout_ms must be at most {TRANSACTION_TIMEOUT_MS_MAX} (the brokers' transaction.max.timeout.ms; Kafka refuses a longer one)"
            ),
            "lower it to 900000 (15 minutes) or less",
        );
    }
}

/// Errors for the fields of `fields` that are set (`(name, set)`) but are
/// read only with `needs`: `(what they need, what to set)`.
fn unused_fields(
    c: &mut Checker,
    at: &FieldPath,
    fields: &[(&str, bool)],
    (needs, set): (&str, &str),
) {
    for &(field, is_set) in fields {
        if is_set {
            c.err_help(
                at.key(field),
                format!("{field} has no effect without {needs}"),
                format!("set {set}, or remove {field}"),
            );
        }
    }
}

/// The output of a consume-transform-produce group (`output_topic` set),
/// and the errors of fields that only such a group reads.
fn output_config(
    c: &mut Checker,
    at: &FieldPath,
    cf: &ConsumerFile,
    topic: Option<u16>,
) -> Option<OutputConfig> {
    let Some(topic) = topic else {
        unused_fields(
            c,
            at,
            &[
                ("input_offsets", cf.input_offsets.is_some()),
                (
                    "transaction_timeout_ms",
                    cf.transaction_timeout_ms.is_some(),
                ),
            ],
            (
                "output_topic",
                "output_topic (a consume-transform-produce stage)",
            ),
        );
        return None;
    };
    if cf.partition_assignment_strategy == Some(AssignorFile::CooperativeSticky) {
        c.err_help(
            at.key("partition_assignment_strategy"),
            "consume-transform-produce stages are modelled with eager rebalancing only",
            "use range, roundrobin or sticky",
        );
    }
    transaction_timeout_max(c, at, cf.transaction_timeout_ms);
    Some(OutputConfig {
        topic,
        offsets: match cf.input_offsets {
            None | Some(InputOffsetsFile::Transaction) => InputOffsets::Transaction,
            Some(InputOffsetsFile::TransactionUnfenced) => InputOffsets::TransactionUnfenced,
            Some(InputOffsetsFile::OutsideTransaction) => InputOffsets::OutsideTransaction,
        },
        transaction_timeout: c.ms(
            at.key("transaction_timeout_ms"),
            cf.transaction_timeout_ms,
            ProducerConfig::default().transaction_timeout,
            1,
        ),
    })
}

fn latency(c: &mut Checker, field: FieldPath, v: LatencyValue) -> Latency {
    let ok = |x: f64| x.is_finite() && (0.0..=3_600_000.0).contains(&x);
    let us = |x: f64| SimTime::from_us((x * 1000.0).round() as u64);
    match v {
        LatencyValue::Constant(x) if ok(x) => Latency::Constant(us(x)),
        LatencyValue::Uniform(lo, hi) if ok(lo) && ok(hi) && lo <= hi => {
            Latency::Uniform(us(lo), us(hi))
        }
        LatencyValue::Exponential { mean, max }
            if ok(mean) && ok(max) && mean > 0.0 && max >= mean =>
        {
            Latency::Exponential {
                mean: us(mean),
                max: us(max),
            }
        }
        _ => {
            c.err(field, "latency must be between 0 and 3600000 ms (a [min, max] range needs min <= max; an exponential needs mean > 0 and max >= mean)");
            Latency::default()
        }
    }
}

fn timed_fault(
    c: &mut Checker,
    at: &FieldPath,
    t: &TimelineFile,
    nodes: &NodeNames<'_>,
) -> Option<TimedFault> {
    let when = c.micros(at.key("at_ms"), t.at_ms, 0);
    let actions: Vec<&str> = [
        ("crash", t.crash.is_some()),
        ("partition", t.partition.is_some()),
        ("isolate", t.isolate.is_some()),
        ("drop", t.drop.is_some()),
        ("duplicate", t.duplicate.is_some()),
        ("delay", t.delay.is_some()),
        ("slow", t.slow.is_some()),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(n, _)| *n)
    .collect();
    if actions.len() != 1 {
        c.err_help(
            at.clone(),
            if actions.is_empty() {
                "a timeline entry needs one fault".to_owned()
            } else {
                format!(
                    "a timeline entry has exactly one fault, found {}",
                    actions.join(" and ")
                )
            },
            "use one of crash, partition, isolate, drop, duplicate, delay, slow",
        );
        return None;
    }
    let action = actions[0];
    // Fields that belong to other kinds of fault.
    let allowed: &[&str] = match action {
        "crash" => &["point", "restart_after_ms"],
        "partition" | "isolate" => &["oneway", "heal_after_ms"],
        "slow" => &["processing_ms", "for_ms"],
        _ => &[],
    };
    for (name, set) in [
        ("point", t.point.is_some()),
        ("restart_after_ms", t.restart_after_ms.is_some()),
        ("oneway", t.oneway.is_some()),
        ("heal_after_ms", t.heal_after_ms.is_some()),
        ("processing_ms", t.processing_ms.is_some()),
        ("for_ms", t.for_ms.is_some()),
    ] {
        if set && !allowed.contains(&name) {
            c.err(
                at.key(name),
                format!("`{name}` does not apply to {action} faults"),
            );
        }
    }
    let fault = match action {
        "crash" => {
            let name = t.crash.as_deref().unwrap_or_default();
            let Some(node) = nodes.find(name) else {
                nodes.unknown(c, at.key("crash"), name);
                return None;
            };
            let point = match &t.point {
                None => PointSpec::Now,
                Some(p) => match parse_point(p) {
                    Some(p) => p,
                    None => {
                        c.err_help(
                            at.key("point"),
                            format!("unknown crash point \"{p}\""),
                            format!("points are {}", point_names()),
                        );
                        return None;
                    }
                },
            };
            match (nodes.role(node), &point) {
                (Role::Producer(_), p) if *p != PointSpec::Now => {
                    c.err(
                        at.key("point"),
                        format!("{name} is a producer; producers crash only at point \"now\""),
                    );
                    return None;
                }
                (Role::Controller, _) => {
                    c.err_help(
                        at.key("crash"),
                        "the controller does not crash in this model (it stands for a quorum assumed to survive)",
                        "cut it off instead: isolate = \"controller\"",
                    );
                    return None;
                }
                (Role::Broker(_), p) if *p != PointSpec::Now => {
                    c.err(
                        at.key("point"),
                        format!("{name} is a broker; brokers crash only at point \"now\""),
                    );
                    return None;
                }
                _ => {}
            }
            let skip = match (t.skip, &point) {
                (Some(_), PointSpec::Now) => {
                    c.err(
                        at.key("skip"),
                        "`skip` counts passes of a crash point; a crash at \"now\" has none",
                    );
                    0
                }
                (Some(n), _) => c.range(at.key("skip"), n, 0, 1_000_000, "skip") as u32,
                (None, _) => 0,
            };
            FaultAction::Crash {
                node,
                point,
                restart_after: t
                    .restart_after_ms
                    .map(|v| c.micros(at.key("restart_after_ms"), v, 0)),
                skip,
            }
        }
        "partition" | "isolate" => {
            let (a, b) = if let Some(name) = &t.isolate {
                let Some(node) = nodes.find(name) else {
                    nodes.unknown(c, at.key("isolate"), name);
                    return None;
                };
                let others = (0..nodes.names.len() as u16)
                    .map(NodeId)
                    .filter(|x| *x != node)
                    .collect();
                (vec![node], others)
            } else {
                let sides = t.partition.as_ref().expect("checked above");
                if sides.len() != 2 {
                    c.err(at.key("partition"), format!("a partition has two sides, like [[\"b1\"], [\"c1\", \"c2\"]]; found {}", sides.len()));
                    return None;
                }
                let mut out = [Vec::new(), Vec::new()];
                for (s, side) in sides.iter().enumerate() {
                    if side.is_empty() {
                        c.err(
                            at.key("partition").index(s),
                            "a partition side needs at least one node",
                        );
                    }
                    for (j, name) in side.iter().enumerate() {
                        match nodes.expand(name) {
                            Some(ids) => out[s].extend(ids),
                            None => nodes.unknown(c, at.key("partition").index(s).index(j), name),
                        }
                    }
                }
                if out[0].iter().any(|n| out[1].contains(n)) {
                    c.err(
                        at.key("partition"),
                        "a node cannot be on both sides of a partition",
                    );
                }
                let [a, b] = out;
                (a, b)
            };
            FaultAction::Partition {
                a,
                b,
                oneway: t.oneway.unwrap_or(false),
                heal_after: t
                    .heal_after_ms
                    .map(|v| c.micros(at.key("heal_after_ms"), v, 0)),
            }
        }
        "drop" | "duplicate" | "delay" => {
            let (lf, key): (&LinkFile, &str) = match action {
                "drop" => (t.drop.as_ref()?, "drop"),
                "duplicate" => (t.duplicate.as_ref()?, "duplicate"),
                _ => (t.delay.as_ref()?, "delay"),
            };
            let lp = at.key(key);
            let from = nodes.find(&lf.from);
            if from.is_none() {
                nodes.unknown(c, lp.key("from"), &lf.from);
            }
            let to = nodes.find(&lf.to);
            if to.is_none() {
                nodes.unknown(c, lp.key("to"), &lf.to);
            }
            let kind = match &lf.kind {
                Some(k) => Some(kind_of(c, lp.key("kind"), k)?),
                None => None,
            };
            let count = c.range(
                lp.key("count"),
                lf.count.unwrap_or(1),
                1,
                1_000_000_000,
                "count",
            ) as u32;
            let effect = match action {
                "drop" => LinkEffect::Drop,
                "duplicate" => LinkEffect::Duplicate,
                _ => {
                    let Some(extra) = lf.extra_ms else {
                        c.err(lp.clone(), "a delay needs extra_ms");
                        return None;
                    };
                    LinkEffect::Delay {
                        extra: c.micros(lp.key("extra_ms"), extra, 0),
                        reorder: lf.reorder.unwrap_or(false),
                    }
                }
            };
            if action != "delay" {
                for (name, set) in [
                    ("extra_ms", lf.extra_ms.is_some()),
                    ("reorder", lf.reorder.is_some()),
                ] {
                    if set {
                        c.err(lp.key(name), format!("`{name}` applies only to a delay"));
                    }
                }
            }
            let skip = lf.skip.map_or(0, |n| {
                c.range(lp.key("skip"), n, 0, 1_000_000, "skip") as u32
            });
            FaultAction::Link(LinkSpec {
                effect,
                from: from?,
                to: to?,
                kind,
                count,
                skip,
            })
        }
        _ => {
            let name = t.slow.as_deref().unwrap_or_default();
            let Some(node) = nodes.find(name) else {
                nodes.unknown(c, at.key("slow"), name);
                return None;
            };
            if !matches!(nodes.role(node), Role::Consumer(_)) {
                c.err(
                    at.key("slow"),
                    format!("{name} is not a consumer; only consumers handle records slowly"),
                );
                return None;
            }
            let Some(p) = t.processing_ms else {
                c.err(
                    at.clone(),
                    "a slow fault needs processing_ms (time per record while slow)",
                );
                return None;
            };
            FaultAction::Slow {
                node,
                processing: c.micros(at.key("processing_ms"), p, 0),
                duration: t.for_ms.map(|v| c.micros(at.key("for_ms"), v, 1)),
            }
        }
    };
    Some(TimedFault {
        at: when,
        action: fault,
    })
}

fn chaos(c: &mut Checker, at: &FieldPath, f: &ChaosFile) -> Chaos {
    let msg = |c: &mut Checker,
               name: &str,
               v: &Option<MessageChaosValue>,
               extra: (u64, u64)|
     -> Option<MessageChaos> {
        let v = v.as_ref()?;
        let p = at.key(name);
        let at = if v.bare {
            p.clone()
        } else {
            p.key("probability")
        };
        let probability = c.probability(at, v.probability);
        let mut kinds = Vec::new();
        for (j, k) in v.kinds.iter().enumerate() {
            if let Some(k) = kind_of(c, p.key("kinds").index(j), k) {
                kinds.push(k);
            }
        }
        if v.extra_ms.is_some() && extra == (0, 0) {
            c.err(
                p.key("extra_ms"),
                format!("`extra_ms` applies only to delay and reorder, not {name}"),
            );
        }
        let extra = c.ms_range(p.key("extra_ms"), v.extra_ms, extra);
        Some(MessageChaos {
            probability,
            extra,
            kinds,
        })
    };
    let episode = |c: &mut Checker, name: &str, v: &Option<EpisodeFile>| -> Option<EpisodeChaos> {
        let v = v.as_ref()?;
        let p = at.key(name);
        let mean_interval = c.ms(
            p.key("mean_interval_ms"),
            Some(v.mean_interval_ms),
            SimTime::ZERO,
            1,
        );
        let duration = c.ms_range(p.key("duration_ms"), v.duration_ms, (500, 5000));
        let oneway_probability = match v.oneway_probability {
            Some(x) if name == "partition" => c.probability(p.key("oneway_probability"), x),
            Some(_) => {
                c.err(
                    p.key("oneway_probability"),
                    "`oneway_probability` applies only to partition",
                );
                0.0
            }
            None => 0.0,
        };
        let processing = match (v.processing_ms, name) {
            (Some(x), "slow") => c.ms(p.key("processing_ms"), Some(x), SimTime::ZERO, 0),
            (None, "slow") => {
                c.err(
                    p.clone(),
                    "slow needs processing_ms (time per record while slow)",
                );
                SimTime::ZERO
            }
            (Some(_), _) => {
                c.err(
                    p.key("processing_ms"),
                    format!("`processing_ms` applies only to slow, not {name}"),
                );
                SimTime::ZERO
            }
            (None, _) => SimTime::ZERO,
        };
        let shapes = match (&v.shapes, name) {
            (None, _) => vec![PartitionShape::Isolate],
            (Some(list), "partition") => {
                let mut out = Vec::new();
                for (j, n) in list.iter().enumerate() {
                    match PartitionShape::ALL.iter().find(|(_, name)| name == n) {
                        Some((shape, _)) => out.push(*shape),
                        None => c.err_help(
                            p.key("shapes").index(j),
                            format!("unknown partition shape \"{n}\""),
                            "shapes are isolate, halves, brokers",
                        ),
                    }
                }
                if list.is_empty() {
                    c.err(p.key("shapes"), "give at least one shape");
                }
                out
            }
            (Some(_), _) => {
                c.err(
                    p.key("shapes"),
                    format!("`shapes` applies only to partition, not {name}"),
                );
                Vec::new()
            }
        };
        Some(EpisodeChaos {
            mean_interval,
            duration,
            oneway_probability,
            processing,
            shapes,
        })
    };
    let consumer_crash = f.consumer_crash.as_ref().map(|cc| {
        let p = at.key("consumer_crash");
        let probability = c.probability(p.key("probability"), cc.probability);
        let points = match &cc.points {
            None => CrashPoint::BUILT_IN.iter().map(|(pt, _)| PointSpec::At(*pt)).collect(),
            Some(list) => {
                let mut out = Vec::new();
                for (j, name) in list.iter().enumerate() {
                    match parse_point(name) {
                        Some(PointSpec::Now) => c.err(p.key("points").index(j), "\"now\" is not a point a consumer passes; use broker_crash or a timeline crash for timed crashes"),
                        Some(pt) => out.push(pt),
                        None => c.err_help(p.key("points").index(j), format!("unknown crash point \"{name}\""), format!("points are {}", point_names())),
                    }
                }
                out
            }
        };
        CrashChaos {
            probability,
            points,
            restart_after: c.ms_range(p.key("restart_after_ms"), cc.restart_after_ms, (500, 5000)),
        }
    });
    Chaos {
        loss: msg(c, "loss", &f.loss, (0, 0)),
        duplicate: msg(c, "duplicate", &f.duplicate, (0, 0)),
        delay: msg(c, "delay", &f.delay, (10, 200)),
        reorder: msg(c, "reorder", &f.reorder, (1, 20)),
        consumer_crash,
        broker_crash: episode(c, "broker_crash", &f.broker_crash),
        partition: episode(c, "partition", &f.partition),
        slow: episode(c, "slow", &f.slow),
    }
}
