//! The checkers on hand-written histories: each invariant passing and
//! failing, with the witness it must name.

use std::sync::Arc;

use faultline::checkers::{Index, Invariant, exactly_once, no_loss, no_panic, per_key_order};
use faultline::engine::PartitionSides;
use faultline::history::Names;
use faultline::models::event::{EventKind, Settle};
use faultline::models::handlers::Apply;
use faultline::models::kafka::{
    BrokerConfig, ConsumerConfig, GroupSpec, KafkaSpec, KafkaWorld, KeyDistribution, PlannedRecord,
    ProducerConfig, ProducerSpec, WorkloadSpec,
};
use faultline::models::rng::Stream;
use faultline::models::{
    GroupId, Handler, History, KeyId, MessageId, NodeId, PartitionId, SimRng, SimTime,
};

/// One producer (p1), one broker (b1), one group "g" of two consumers (c1,
/// c2), topic "t" with two partitions, six messages over two keys.
fn world() -> KafkaWorld {
    let spec = KafkaSpec {
        brokers: 1,
        topics: vec![("t".into(), 2)],
        workload_topic: 0,
        workload: WorkloadSpec {
            records: 6,
            keys: 2,
            producers: 1,
            start: SimTime::ZERO,
            interval: SimTime::from_ms(1),
            keyless: false,
            distribution: KeyDistribution::Uniform,
            values: (1, 1),
        },
        producer: ProducerSpec {
            config: ProducerConfig::default(),
        },
        groups: vec![GroupSpec {
            name: "g".into(),
            topic: 0,
            members: 2,
            config: ConsumerConfig::default(),
            handler_name: "apply".into(),
            handler: Arc::new(|| Box::new(Apply) as Box<dyn Handler>),
        }],
        broker: BrokerConfig::default(),
        replication: Vec::new(),
    };
    KafkaWorld::new(&spec, &mut SimRng::new(1, Stream::Workload))
}

const P1: NodeId = NodeId(0);
const B1: NodeId = NodeId(1);
const C1: NodeId = NodeId(2);
const C2: NodeId = NodeId(3);
const G: GroupId = GroupId(0);
const T0: PartitionId = PartitionId(0);

fn plan(w: &KafkaWorld) -> Vec<PlannedRecord> {
    let mut p = w.layout().producers[0].plan.clone();
    p.sort_by_key(|r| r.msg);
    p
}

/// A history builder with a clock that ticks 1 ms per event.
struct H {
    h: History,
    t: u64,
}

impl H {
    fn new() -> H {
        H {
            h: History::new(),
            t: 0,
        }
    }
    fn at(&mut self, kind: EventKind) -> usize {
        self.t += 1;
        self.h.record(SimTime::from_ms(self.t), kind);
        self.h.events.len() - 1
    }
    fn produce(&mut self, m: u32, offset: u64) -> (usize, usize) {
        let a = self.at(EventKind::Appended {
            broker: B1,
            partition: T0,
            offset,
            msg: MessageId(m),
            producer: P1,
            batch: m,
            attempt: 1,
        });
        let k = self.at(EventKind::Acked {
            producer: P1,
            msg: MessageId(m),
            partition: T0,
            offset: Some(offset),
        });
        (a, k)
    }
    fn deliver(&mut self, c: NodeId, m: u32, key: KeyId, offset: u64) -> usize {
        self.at(EventKind::Delivered {
            consumer: c,
            partition: T0,
            offset,
            msg: MessageId(m),
            key,
            generation: 1,
        })
    }
    fn effect(&mut self, c: NodeId, m: u32, key: KeyId, label: &'static str) -> usize {
        let label = self.h.label(label);
        self.at(EventKind::Effect {
            consumer: c,
            msg: MessageId(m),
            key,
            label,
            external: false,
        })
    }
    fn handled(&mut self, c: NodeId, m: u32, offset: u64) -> usize {
        self.at(EventKind::Handled {
            consumer: c,
            partition: T0,
            offset,
            msg: MessageId(m),
            settle: Settle::Ok,
        })
    }
    fn commit(&mut self, c: NodeId, offset: u64) -> usize {
        self.at(EventKind::CommitAccepted {
            group: G,
            consumer: c,
            generation: 1,
            partition: T0,
            offset,
        })
    }
    /// Produces, delivers, applies and handles every message of the plan
    /// once, in message order, on partition 0.
    fn all_once(&mut self, plan: &[PlannedRecord]) {
        for (o, r) in plan.iter().enumerate() {
            self.produce(r.msg.0, o as u64);
        }
        for (o, r) in plan.iter().enumerate() {
            self.deliver(C1, r.msg.0, r.entity, o as u64);
            self.effect(C1, r.msg.0, r.entity, "apply");
            self.handled(C1, r.msg.0, o as u64);
        }
        self.commit(C1, plan.len() as u64);
    }
}

fn names<'a>(w: &'a KafkaWorld, h: &'a History, sides: &'a PartitionSides) -> Names<'a> {
    Names {
        layout: w.layout(),
        history: h,
        partitions: sides,
    }
}

#[test]
fn a_clean_history_passes_every_history_checker() {
    let w = world();
    let mut h = H::new();
    h.all_once(&plan(&w));
    let sides = Vec::new();
    let n = names(&w, &h.h, &sides);
    let ix = Index::build(&h.h, w.layout());
    assert_eq!(no_loss::check(&ix, &n, true).0, 0);
    assert_eq!(exactly_once::check(&ix, &n).0, 0);
    assert_eq!(per_key_order::check(&ix, &n).0, 0);
    assert_eq!(no_panic::check(&ix, &n).0, 0);
}

#[test]
fn no_loss_flags_an_acknowledged_record_never_handled_and_names_the_commit_that_skipped_it() {
    let w = world();
    let plan = plan(&w);
    let mut h = H::new();
    for (o, r) in plan.iter().enumerate() {
        h.produce(r.msg.0, o as u64);
    }
    // c1 commits past everything, then crashes before handling m0; the
    // rest is handled by c2.
    let commit = h.commit(C1, plan.len() as u64);
    let crash = h.at(EventKind::Crashed {
        node: C1,
        point: faultline::models::CrashPoint::AfterCommit,
        pass: 0,
    });
    for (o, r) in plan.iter().enumerate().skip(1) {
        h.deliver(C2, r.msg.0, r.entity, o as u64);
        h.handled(C2, r.msg.0, o as u64);
    }
    let sides = Vec::new();
    let n = names(&w, &h.h, &sides);
    let ix = Index::build(&h.h, w.layout());
    let (count, found) = no_loss::check(&ix, &n, true);
    assert_eq!(count, 1);
    let f = &found[0];
    assert_eq!(f.invariant, Invariant::NoLoss);
    assert_eq!(f.msg, Some(MessageId(0)));
    assert_eq!(f.partition, Some(T0));
    assert_eq!(f.offsets, vec![0]);
    assert!(f.witness.contains(&0), "the append is in the witness");
    assert!(
        f.witness.contains(&commit),
        "the commit that skipped it is in the witness"
    );
    assert!(
        f.witness.contains(&crash),
        "the crash after the commit is in the witness"
    );
    assert!(f.summary.contains("m0"), "{}", f.summary);
}

#[test]
fn no_loss_does_not_call_a_late_record_lost_in_a_run_that_did_not_drain() {
    let w = world();
    let plan = plan(&w);
    let mut h = H::new();
    for (o, r) in plan.iter().enumerate() {
        h.produce(r.msg.0, o as u64);
    }
    let sides = Vec::new();
    let n = names(&w, &h.h, &sides);
    let ix = Index::build(&h.h, w.layout());
    // Not drained, nothing committed: unseen, not lost (liveness's job).
    assert_eq!(no_loss::check(&ix, &n, false).0, 0);
    // Drained: every one of them is lost.
    assert_eq!(no_loss::check(&ix, &n, true).0, plan.len());
}

#[test]
fn exactly_once_flags_an_effect_applied_twice_with_both_applications_and_the_crash_between() {
    let w = world();
    let plan = plan(&w);
    let r = plan[0];
    let mut h = H::new();
    h.produce(r.msg.0, 0);
    h.deliver(C1, r.msg.0, r.entity, 0);
    let first = h.effect(C1, r.msg.0, r.entity, "apply");
    let crash = h.at(EventKind::Crashed {
        node: C1,
        point: faultline::models::CrashPoint::AfterHandleBeforeCommit,
        pass: 0,
    });
    h.deliver(C2, r.msg.0, r.entity, 0);
    let second = h.effect(C2, r.msg.0, r.entity, "apply");
    h.handled(C2, r.msg.0, 0);
    let sides = Vec::new();
    let n = names(&w, &h.h, &sides);
    let ix = Index::build(&h.h, w.layout());
    let (count, found) = exactly_once::check(&ix, &n);
    assert_eq!(count, 1);
    let f = &found[0];
    assert!(
        f.witness.contains(&first) && f.witness.contains(&second) && f.witness.contains(&crash)
    );
    assert_eq!(f.nodes, vec![C1, C2]);
    assert!(
        f.explanation.last().unwrap().contains("crashed"),
        "{:?}",
        f.explanation
    );
}

#[test]
fn exactly_once_accepts_distinct_labels_and_redeliveries_without_effect() {
    let w = world();
    let plan = plan(&w);
    let r = plan[0];
    let mut h = H::new();
    h.produce(r.msg.0, 0);
    h.deliver(C1, r.msg.0, r.entity, 0);
    h.effect(C1, r.msg.0, r.entity, "apply");
    h.effect(C1, r.msg.0, r.entity, "dedup");
    // Delivered again, but the handler recognised it: no effect.
    h.deliver(C2, r.msg.0, r.entity, 0);
    h.handled(C2, r.msg.0, 0);
    let sides = Vec::new();
    let n = names(&w, &h.h, &sides);
    let ix = Index::build(&h.h, w.layout());
    assert_eq!(exactly_once::check(&ix, &n).0, 0);
}

#[test]
fn per_key_order_flags_a_later_message_of_a_key_taking_effect_first() {
    let w = world();
    let plan = plan(&w);
    // Two messages of one key, in production order.
    let (a, b) = plan
        .iter()
        .enumerate()
        .find_map(|(i, x)| {
            plan[i + 1..]
                .iter()
                .find(|y| y.entity == x.entity)
                .map(|y| (*x, *y))
        })
        .expect("six messages over two keys share a key");
    assert!(a.seq < b.seq);
    let mut h = H::new();
    h.produce(a.msg.0, 0);
    h.produce(b.msg.0, 1);
    let late = h.effect(C2, b.msg.0, b.entity, "apply");
    let early = h.effect(C1, a.msg.0, a.entity, "apply");
    // A repeat of b later is exactly-once's business, not order's.
    h.effect(C1, b.msg.0, b.entity, "apply");
    let sides = Vec::new();
    let n = names(&w, &h.h, &sides);
    let ix = Index::build(&h.h, w.layout());
    let (count, found) = per_key_order::check(&ix, &n);
    assert_eq!(count, 1);
    let f = &found[0];
    assert_eq!(f.msg, Some(a.msg));
    assert_eq!(f.key, Some(a.entity));
    assert!(f.witness.contains(&late) && f.witness.contains(&early));
    // Same partition, log in order: the explanation blames consumption.
    assert!(
        f.explanation.last().unwrap().contains("in order"),
        "{:?}",
        f.explanation
    );
}

#[test]
fn no_panic_reports_the_panic_message_and_the_delivery() {
    let w = world();
    let plan = plan(&w);
    let r = plan[0];
    let mut h = H::new();
    h.produce(r.msg.0, 0);
    let d = h.deliver(C1, r.msg.0, r.entity, 0);
    h.h.panics.push("index out of bounds".into());
    let p = h.at(EventKind::HandlerPanicked {
        consumer: C1,
        msg: r.msg,
        panic: 0,
    });
    let sides = Vec::new();
    let n = names(&w, &h.h, &sides);
    let ix = Index::build(&h.h, w.layout());
    let (count, found) = no_panic::check(&ix, &n);
    assert_eq!(count, 1);
    assert_eq!(found[0].witness, vec![d, p]);
    assert!(found[0].summary.contains("index out of bounds"));
}
