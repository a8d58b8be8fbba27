//! Swarm testing: each seed runs its own fault mix.
//!
//! A scenario's chaos table sets the *bounds*: which fault kinds may be on,
//! at most how often, at which crash points, in which partition shapes.
//! For each seed, a swarm stream of the seed decides which kinds are on
//! (each with probability ½, at least one), how strong each is (a uniform
//! fraction of its bound), which crash points and partition shapes it
//! uses. Runs that leave most kinds off exercise interactions a uniform
//! mix would drown (Groce et al., "Swarm Testing", ISSTA 2012).

use faultline_models::SimRng;
use faultline_models::rng::Stream;

use crate::faults::Chaos;

/// The fault mix of one seed, within the bounds of `bounds`.
pub fn draw(bounds: &Chaos, seed: u64) -> Chaos {
    let mut rng = SimRng::new(seed, Stream::Swarm);
    let kinds = enabled(bounds);
    if kinds == 0 {
        return bounds.clone();
    }
    // Which kinds are on: a random non-empty subset of the enabled ones.
    let mut on = 0u8;
    while on == 0 {
        for k in 0..8 {
            if kinds & (1 << k) != 0 && rng.chance(0.5) {
                on |= 1 << k;
            }
        }
    }
    let is_on = |k: u8| on & (1 << k) != 0;
    // A strength in (0, 1]: never exactly off once chosen.
    let mut strength = |rng: &mut SimRng| 1.0 - rng.unit();
    let mut out = Chaos::default();
    let message = |c: &Option<crate::faults::MessageChaos>,
                   k: u8,
                   rng: &mut SimRng,
                   strength: &mut dyn FnMut(&mut SimRng) -> f64| {
        c.as_ref().filter(|_| is_on(k)).map(|m| {
            let mut m = m.clone();
            m.probability *= strength(rng);
            m
        })
    };
    out.loss = message(&bounds.loss, 0, &mut rng, &mut strength);
    out.duplicate = message(&bounds.duplicate, 1, &mut rng, &mut strength);
    out.delay = message(&bounds.delay, 2, &mut rng, &mut strength);
    out.reorder = message(&bounds.reorder, 3, &mut rng, &mut strength);
    out.consumer_crash = bounds
        .consumer_crash
        .as_ref()
        .filter(|_| is_on(4))
        .map(|c| {
            let mut c = c.clone();
            c.probability *= strength(&mut rng);
            c.points = subset(&c.points, &mut rng);
            c
        });
    let episode = |e: &Option<crate::faults::EpisodeChaos>,
                   k: u8,
                   rng: &mut SimRng,
                   strength: &mut dyn FnMut(&mut SimRng) -> f64| {
        e.as_ref().filter(|_| is_on(k)).map(|e| {
            let mut e = e.clone();
            // Up to four times rarer than the bound allows.
            let slower = 1.0 + 3.0 * (1.0 - strength(rng));
            e.mean_interval =
                faultline_models::SimTime((e.mean_interval.as_us() as f64 * slower) as u64);
            e.oneway_probability *= strength(rng);
            e.shapes = subset(&e.shapes, rng);
            e
        })
    };
    out.broker_crash = episode(&bounds.broker_crash, 5, &mut rng, &mut strength);
    out.partition = episode(&bounds.partition, 6, &mut rng, &mut strength);
    out.slow = episode(&bounds.slow, 7, &mut rng, &mut strength);
    out
}

/// The enabled kinds of a chaos table as a bit set, in the order of
/// [`FaultKind::ALL`](super::FaultKind::ALL).
fn enabled(c: &Chaos) -> u8 {
    super::coverage::chaos_kinds(c)
        .iter()
        .enumerate()
        .fold(0, |acc, (i, on)| acc | (u8::from(*on) << i))
}

/// A random non-empty subset of `items`, in their order.
fn subset<T: Clone>(items: &[T], rng: &mut SimRng) -> Vec<T> {
    if items.len() <= 1 {
        return items.to_vec();
    }
    loop {
        let picked: Vec<T> = items.iter().filter(|_| rng.chance(0.5)).cloned().collect();
        if !picked.is_empty() {
            return picked;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::MessageChaos;
    use faultline_models::SimTime;

    fn bounds() -> Chaos {
        let m = MessageChaos {
            probability: 0.1,
            extra: (SimTime::ZERO, SimTime::ZERO),
            kinds: Vec::new(),
        };
        Chaos {
            loss: Some(m.clone()),
            duplicate: Some(m),
            ..Chaos::default()
        }
    }

    #[test]
    fn each_seed_draws_a_mix_within_the_bounds() {
        let mut seen_alone = false;
        for seed in 0..64 {
            let c = draw(&bounds(), seed);
            assert!(
                c.loss.is_some() || c.duplicate.is_some(),
                "at least one kind"
            );
            for m in [&c.loss, &c.duplicate].into_iter().flatten() {
                assert!(m.probability > 0.0 && m.probability <= 0.1);
            }
            assert!(
                c.delay.is_none() && c.partition.is_none(),
                "nothing beyond the bounds"
            );
            seen_alone |= c.loss.is_none() || c.duplicate.is_none();
            assert_eq!(c, draw(&bounds(), seed), "deterministic");
        }
        assert!(seen_alone, "some seeds leave a kind off");
    }

    #[test]
    fn no_chaos_stays_no_chaos() {
        assert_eq!(draw(&Chaos::default(), 3), Chaos::default());
    }
}
