//! A restarted client takes no answer meant for its dead incarnation: the
//! broker answers a node, and in Kafka those answers would go to the closed
//! connection the request came on.

mod common;

use std::collections::BTreeMap;

use common::load;
use faultline_models::event::EventKind;

#[test]
fn a_restarted_producer_is_acked_at_its_own_appends() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/regressions/producer-restart-stale-produce-answer.toml");
    let (_, setup) = load(&path);
    let run = faultline::run(&setup, 1);
    let events = &run.sim.history.events;
    let restart = events
        .iter()
        .find(|e| matches!(e.kind, EventKind::Restarted { .. }))
        .map(|e| e.time)
        .expect("p1 restarts");
    // Every append of each message, in order.
    let mut appends: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for e in events {
        if let EventKind::Appended { msg, offset, .. } = e.kind {
            appends.entry(msg.0).or_default().push(offset);
        }
    }
    let twice: Vec<u32> = appends
        .iter()
        .filter(|(_, offsets)| offsets.len() == 2)
        .map(|(m, _)| *m)
        .collect();
    assert_eq!(
        twice,
        [0, 1, 2],
        "the dead incarnation's delayed requests and the restarted producer's resends"
    );
    for e in events.iter().filter(|e| e.time >= restart) {
        if let EventKind::Acked { msg, offset, .. } = e.kind
            && let Some(offsets) = appends.get(&msg.0).filter(|o| o.len() == 2)
        {
            assert_eq!(
                offset,
                Some(offsets[1]),
                "m{} acked at the dead incarnation's append (offsets {offsets:?})",
                msg.0
            );
        }
    }
}
