//! The console summary of an exploration.

use std::fmt::Write;

use super::Exploration;
use crate::setup::Expect;

/// Violations per invariant, fault coverage, and the fault kinds that never
/// fired.
pub fn summary(x: &Exploration) -> String {
    let mut s = String::new();
    let shards = if x.shards.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = x
            .shards
            .iter()
            .map(|sh| format!("{}/{}", sh.index, sh.count))
            .collect();
        format!(", shard {}", list.join(" "))
    };
    let _ = writeln!(
        s,
        "explored {} [{}]: seeds {}..{}{shards}, {} run{}, swarm {}{}",
        x.scenario.path,
        x.scenario.name,
        x.seeds.start,
        x.seeds.end,
        x.runs,
        if x.runs == 1 { "" } else { "s" },
        if x.swarm { "on" } else { "off" },
        if x.stopped_early {
            ", stopped at the first violation"
        } else {
            ""
        }
    );
    if x.runs == 0 {
        let _ = writeln!(
            s,
            "warning: no seed of the range falls in this shard: nothing was explored"
        );
    }
    if x.violations.is_empty() {
        let _ = writeln!(s, "no invariant violated");
    } else {
        let _ = writeln!(s, "violated invariants:");
        for v in &x.violations {
            let _ = writeln!(
                s,
                "  {:<14} {:>7} seed{} {:<12} first: seed {}",
                v.invariant.name(),
                v.seeds,
                if v.seeds == 1 { " " } else { "s" },
                match v.expect {
                    Expect::Violate => "(expected)",
                    Expect::Allow => "(allowed)",
                    Expect::Hold => "UNEXPECTED",
                },
                v.first_seed
            );
        }
    }
    let shown: Vec<_> = x
        .coverage
        .iter()
        .filter(|c| c.enabled || c.runs > 0)
        .collect();
    if shown.is_empty() {
        let _ = writeln!(s, "fault coverage: the scenario enables no faults");
    } else {
        let _ = writeln!(s, "fault coverage:        fired     runs  violating runs");
    }
    for c in shown {
        let _ = writeln!(
            s,
            "  {:<15} {:>10} {:>8} {:>15}",
            c.kind.name(),
            c.fired,
            c.runs,
            c.violating_runs
        );
    }
    for k in x.never_fired() {
        let _ = writeln!(
            s,
            "warning: {} is enabled but never fired: these runs could not have caught what it provokes",
            k.name()
        );
    }
    if x.failures.is_empty() {
        let _ = writeln!(
            s,
            "every seed kept the invariants the scenario expects to hold"
        );
    } else {
        let first = &x.failures[0];
        let _ = writeln!(
            s,
            "{} seed{} broke an invariant the scenario expects to hold; the first: {}",
            x.failures.len(),
            if x.failures.len() == 1 { "" } else { "s" },
            crate::report::result::replay_command(&x.scenario.path, first.seed, x.swarm)
        );
    }
    for inv in x.undemonstrated() {
        if x.shards.is_empty() {
            let _ = writeln!(
                s,
                "no seed violated {}, which the scenario expects violated",
                inv.name()
            );
        } else {
            let _ = writeln!(
                s,
                "no seed of these shards violated {}, which the scenario expects violated (merge every shard to judge)",
                inv.name()
            );
        }
    }
    s
}
