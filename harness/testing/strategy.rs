//! Proptest strategies for fault plans and workloads.
//!
//! A [`Case`] is a workload size, a seed and a list of [`Fault`]s; it
//! becomes a scenario with an explicit fault timeline and no chaos, so the
//! faults are exactly those listed. Proptest shrinks the list by removing
//! faults and each fault towards an earlier time, the first node and the
//! shortest outage, so a failing case shrinks to a minimal fault plan.

use std::fmt;

use faultline_models::CrashPoint;
use proptest::prelude::*;

use crate::scenario::schema::{LinkFile, ScenarioFile, TimelineFile};
use crate::scenario::values::Millis;

/// The nodes and times faults can name: taken from the base scenario.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Producer count.
    pub producers: u64,
    /// Broker count.
    pub brokers: u64,
    /// Consumer count (every member of every group).
    pub consumers: u64,
    /// Records of the base scenario: cases run between a tenth of it and
    /// all of it.
    pub records: u64,
    /// Keys of the base scenario: cases use between 1 and this many.
    pub keys: u64,
    /// Faults start before this time, in milliseconds.
    pub horizon_ms: u64,
    /// At most this many faults per case.
    pub max_faults: usize,
}

/// One fault of a generated plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A consumer crashes at a point of its loop (or at once), and
    /// restarts later.
    CrashConsumer {
        /// Which consumer, from 0.
        consumer: u64,
        /// Index into `now` followed by the built-in crash points.
        point: usize,
        /// When it is armed, ms.
        at_ms: u64,
        /// Restart delay, ms.
        restart_after_ms: u64,
    },
    /// A broker crashes and restarts.
    CrashBroker {
        /// Which broker, from 0.
        broker: u64,
        /// When, ms.
        at_ms: u64,
        /// Restart delay, ms.
        restart_after_ms: u64,
    },
    /// A node is cut off from all others, then healed.
    Isolate {
        /// Which node: producers, then brokers, then consumers.
        node: u64,
        /// When, ms.
        at_ms: u64,
        /// Heal delay, ms.
        heal_after_ms: u64,
    },
    /// The next message on a client-broker link is dropped (which breaks
    /// the connection).
    Drop {
        /// Which link (see [`Shape::link`]).
        link: u64,
        /// When, ms.
        at_ms: u64,
    },
    /// The next message on a link is delivered twice.
    Duplicate {
        /// Which link.
        link: u64,
        /// When, ms.
        at_ms: u64,
    },
    /// The next message on a link is held back; with `reorder`, later
    /// messages overtake it.
    Delay {
        /// Which link.
        link: u64,
        /// When, ms.
        at_ms: u64,
        /// Extra delay, ms.
        extra_ms: u64,
        /// Let later messages overtake it.
        reorder: bool,
    },
}

/// A generated workload and fault plan.
#[derive(Clone)]
pub struct Case {
    /// The run's seed.
    pub seed: u64,
    /// Records produced.
    pub records: u64,
    /// Distinct keys.
    pub keys: u64,
    /// The faults, in the order generated (the timeline sorts them).
    pub faults: Vec<Fault>,
    shape: Shape,
}

impl Shape {
    /// Every client-broker link, both directions: `(from, to)` names.
    pub fn links(&self) -> Vec<(String, String)> {
        let clients = (1..=self.producers)
            .map(|i| format!("p{i}"))
            .chain((1..=self.consumers).map(|i| format!("c{i}")));
        let mut out = Vec::new();
        for c in clients {
            for b in 1..=self.brokers {
                out.push((c.clone(), format!("b{b}")));
                out.push((format!("b{b}"), c.clone()));
            }
        }
        out
    }

    /// The name of node `n` (producers, brokers, then consumers).
    pub fn node(&self, n: u64) -> String {
        if n < self.producers {
            format!("p{}", n + 1)
        } else if n < self.producers + self.brokers {
            format!("b{}", n - self.producers + 1)
        } else {
            format!("c{}", n - self.producers - self.brokers + 1)
        }
    }

    fn nodes(&self) -> u64 {
        self.producers + self.brokers + self.consumers
    }

    /// A strategy for one fault.
    pub fn fault(&self) -> BoxedStrategy<Fault> {
        let at = 0..self.horizon_ms.max(1);
        let links = self.links().len().max(1) as u64;
        let points = CrashPoint::BUILT_IN.len() + 1;
        let mut options: Vec<BoxedStrategy<Fault>> = vec![
            (0..self.brokers.max(1), at.clone(), 1u64..2_000)
                .prop_map(|(broker, at_ms, restart_after_ms)| Fault::CrashBroker {
                    broker,
                    at_ms,
                    restart_after_ms,
                })
                .boxed(),
            (0..self.nodes().max(1), at.clone(), 1u64..2_000)
                .prop_map(|(node, at_ms, heal_after_ms)| Fault::Isolate {
                    node,
                    at_ms,
                    heal_after_ms,
                })
                .boxed(),
            (0..links, at.clone())
                .prop_map(|(link, at_ms)| Fault::Drop { link, at_ms })
                .boxed(),
            (0..links, at.clone())
                .prop_map(|(link, at_ms)| Fault::Duplicate { link, at_ms })
                .boxed(),
            (0..links, at.clone(), 1u64..200, any::<bool>())
                .prop_map(|(link, at_ms, extra_ms, reorder)| Fault::Delay {
                    link,
                    at_ms,
                    extra_ms,
                    reorder,
                })
                .boxed(),
        ];
        if self.consumers > 0 {
            // Consumer crashes first: proptest shrinks a union towards its
            // first option.
            options.insert(
                0,
                (0..self.consumers, 0..points, at, 1u64..2_000)
                    .prop_map(
                        |(consumer, point, at_ms, restart_after_ms)| Fault::CrashConsumer {
                            consumer,
                            point,
                            at_ms,
                            restart_after_ms,
                        },
                    )
                    .boxed(),
            );
        }
        proptest::strategy::Union::new(options).boxed()
    }

    /// A strategy for whole cases: seed, workload size and up to
    /// `max_faults` faults.
    pub fn cases(&self) -> BoxedStrategy<Case> {
        let shape = self.clone();
        (
            any::<u64>(),
            (self.records / 10).max(1)..=self.records.max(1),
            1..=self.keys.max(1),
            proptest::collection::vec(self.fault(), 0..=self.max_faults),
        )
            .prop_map(move |(seed, records, keys, faults)| Case {
                seed,
                records,
                keys,
                faults,
                shape: shape.clone(),
            })
            .boxed()
    }
}

fn point_name(i: usize) -> Option<&'static str> {
    match i {
        0 => None,
        _ => CrashPoint::BUILT_IN.get(i - 1).map(|(_, n)| *n),
    }
}

impl Case {
    /// The timeline entry of one fault.
    fn entry(&self, f: &Fault, links: &[(String, String)]) -> TimelineFile {
        let link = |l: u64| {
            let (from, to) = links[(l as usize) % links.len().max(1)].clone();
            LinkFile {
                from,
                to,
                kind: None,
                count: None,
                extra_ms: None,
                reorder: None,
                skip: None,
            }
        };
        let ms = |v: u64| Millis(v * 1000);
        let mut t = TimelineFile::default();
        match *f {
            Fault::CrashConsumer {
                consumer,
                point,
                at_ms,
                restart_after_ms,
            } => {
                t.at_ms = ms(at_ms);
                t.crash = Some(format!("c{}", consumer + 1));
                t.point = point_name(point).map(str::to_owned);
                t.restart_after_ms = Some(ms(restart_after_ms));
            }
            Fault::CrashBroker {
                broker,
                at_ms,
                restart_after_ms,
            } => {
                t.at_ms = ms(at_ms);
                t.crash = Some(format!("b{}", broker + 1));
                t.restart_after_ms = Some(ms(restart_after_ms));
            }
            Fault::Isolate {
                node,
                at_ms,
                heal_after_ms,
            } => {
                t.at_ms = ms(at_ms);
                t.isolate = Some(self.shape.node(node));
                t.heal_after_ms = Some(ms(heal_after_ms));
            }
            Fault::Drop { link: l, at_ms } => {
                t.at_ms = ms(at_ms);
                t.drop = Some(link(l));
            }
            Fault::Duplicate { link: l, at_ms } => {
                t.at_ms = ms(at_ms);
                t.duplicate = Some(link(l));
            }
            Fault::Delay {
                link: l,
                at_ms,
                extra_ms,
                reorder,
            } => {
                t.at_ms = ms(at_ms);
                let mut lf = link(l);
                lf.extra_ms = Some(ms(extra_ms));
                lf.reorder = Some(reorder);
                t.delay = Some(lf);
            }
        }
        t
    }

    /// `base` with this case's seed, workload and faults (and no chaos).
    pub fn apply(&self, base: &ScenarioFile) -> ScenarioFile {
        let links = self.shape.links();
        let mut f = base.clone();
        f.seed = self.seed;
        f.workload.records = self.records;
        f.workload.keys = self.keys;
        f.faults.chaos = Default::default();
        f.faults.window_ms = None;
        let mut timeline: Vec<TimelineFile> =
            self.faults.iter().map(|x| self.entry(x, &links)).collect();
        timeline.sort_by_key(|t| t.at_ms.as_us());
        f.faults.timeline = timeline;
        f
    }
}

impl fmt::Debug for Case {
    /// What proptest prints for a (minimal) failing case: the workload and
    /// the faults with node names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let links = self.shape.links();
        let faults: Vec<String> = self
            .faults
            .iter()
            .map(|x| {
                let t = self.entry(x, &links);
                describe(&t)
            })
            .collect();
        write!(
            f,
            "Case {{ seed: {}, records: {}, keys: {}, faults: {faults:?} }}",
            self.seed, self.records, self.keys
        )
    }
}

/// One timeline entry in a line.
fn describe(t: &TimelineFile) -> String {
    let at = t.at_ms.as_us() / 1000;
    let ms = |m: Option<Millis>| m.map_or(0, |m| m.as_us() / 1000);
    if let Some(n) = &t.crash {
        format!(
            "crash {n}{} at {at}ms, restart after {}ms",
            t.point
                .as_deref()
                .map_or(String::new(), |p| format!(" at {p}")),
            ms(t.restart_after_ms)
        )
    } else if let Some(n) = &t.isolate {
        format!(
            "isolate {n} at {at}ms, heal after {}ms",
            ms(t.heal_after_ms)
        )
    } else if let Some(l) = &t.drop {
        format!("drop {}->{} at {at}ms", l.from, l.to)
    } else if let Some(l) = &t.duplicate {
        format!("duplicate {}->{} at {at}ms", l.from, l.to)
    } else if let Some(l) = &t.delay {
        format!(
            "{} {}->{} at {at}ms by {}ms",
            if l.reorder == Some(true) {
                "reorder"
            } else {
                "delay"
            },
            l.from,
            l.to,
            ms(l.extra_ms)
        )
    } else {
        format!("fault at {at}ms")
    }
}
