//! The workload: which messages the application produces, about which
//! entities, when, and through which producer.

use crate::ids::{KeyId, MessageId};
use crate::rng::SimRng;
use crate::time::SimTime;

/// How messages pick their entity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDistribution {
    /// Every entity equally likely.
    Uniform,
    /// Zipf-like skew with exponent `s`: a few hot entities.
    Zipf(f64),
}

/// What the application produces.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    /// Messages in all.
    pub records: u32,
    /// Distinct entities.
    pub keys: u32,
    /// Producer instances; each entity is written by one of them.
    pub producers: u16,
    /// When the first message is produced.
    pub start: SimTime,
    /// Gap between consecutive messages (all producers together).
    pub interval: SimTime,
    /// Produce records without a Kafka key (the entity travels in a
    /// header), so the sticky partitioner spreads them.
    pub keyless: bool,
    /// How entities are chosen.
    pub distribution: KeyDistribution,
    /// Smallest and largest amount a message carries.
    pub values: (i64, i64),
}

/// One message the application will produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlannedRecord {
    /// Its message id.
    pub msg: MessageId,
    /// Its entity.
    pub entity: KeyId,
    /// Its position among the entity's messages, from 1.
    pub seq: u32,
    /// Its amount.
    pub value: i64,
    /// When the application hands it to the producer.
    pub at: SimTime,
}

/// Draws the whole workload from the workload stream: one plan per producer,
/// each in time order.
pub fn plan(spec: &WorkloadSpec, rng: &mut SimRng) -> Vec<Vec<PlannedRecord>> {
    let keys = spec.keys.max(1);
    let producers = usize::from(spec.producers.max(1));
    let mut plans: Vec<Vec<PlannedRecord>> = (0..producers)
        .map(|_| Vec::with_capacity(spec.records as usize / producers + 1))
        .collect();
    // One loop per key distribution and per producer count, so the record
    // loop does not ask again for every record.
    let uniform = |rng: &mut SimRng| rng.below(u64::from(keys)) as u32;
    match (spec.distribution, &mut plans[..]) {
        // (A range mapped is of trusted length: no capacity check per push.)
        (KeyDistribution::Uniform, [one]) => one.extend(records(spec, rng, uniform)),
        (KeyDistribution::Uniform, plans) => {
            for r in records(spec, rng, uniform) {
                plans[r.entity.index() % producers].push(r);
            }
        }
        (KeyDistribution::Zipf(s), plans) => {
            let cdf = zipf_cdf(keys, s);
            let entity = |rng: &mut SimRng| {
                let u = rng.unit();
                cdf.partition_point(|c| *c <= u).min(keys as usize - 1) as u32
            };
            for r in records(spec, rng, entity) {
                plans[r.entity.index() % producers].push(r);
            }
        }
    }
    plans
}

/// Every record of `spec`, in order, each drawing its entity from `entity`
/// and then its amount.
#[inline(always)]
fn records<'a>(
    spec: &'a WorkloadSpec,
    rng: &'a mut SimRng,
    mut entity: impl FnMut(&mut SimRng) -> u32 + 'a,
) -> impl Iterator<Item = PlannedRecord> + 'a {
    let mut seqs = vec![0u32; spec.keys.max(1) as usize];
    let (lo, hi) = spec.values;
    // i128: the span of a range as wide as the i64s stays exact.
    let span = (i128::from(hi) - i128::from(lo)).clamp(0, i128::from(u64::MAX - 1)) as u64;
    (0..spec.records).map(move |i| {
        let entity = entity(rng);
        // `lo + draw` in i128, truncated to i64, is the wrapping sum.
        let value = lo.wrapping_add(rng.below(span + 1) as i64);
        let seq = &mut seqs[entity as usize];
        *seq += 1;
        PlannedRecord {
            msg: MessageId(i),
            entity: KeyId(entity),
            seq: *seq,
            value,
            at: SimTime(spec.start.0 + spec.interval.0.saturating_mul(u64::from(i))),
        }
    })
}

/// Cumulative probabilities of a Zipf distribution over `n` ranks.
fn zipf_cdf(n: u32, s: f64) -> Vec<f64> {
    let weights: Vec<f64> = (1..=n).map(|k| 1.0 / libm::pow(f64::from(k), s)).collect();
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Stream;

    fn spec() -> WorkloadSpec {
        WorkloadSpec {
            records: 100,
            keys: 5,
            producers: 2,
            start: SimTime::ZERO,
            interval: SimTime::from_ms(1),
            keyless: false,
            distribution: KeyDistribution::Uniform,
            values: (1, 10),
        }
    }

    #[test]
    fn each_entity_has_one_producer_and_dense_sequences() {
        let plans = plan(&spec(), &mut SimRng::new(1, Stream::Workload));
        let total: usize = plans.iter().map(Vec::len).sum();
        assert_eq!(total, 100);
        let mut next = [1u32; 5];
        let mut all: Vec<_> = plans.iter().flatten().copied().collect();
        all.sort_by_key(|r| r.msg);
        for r in all {
            assert_eq!(r.seq, next[r.entity.index()]);
            next[r.entity.index()] += 1;
            assert!((1..=10).contains(&r.value));
            assert_eq!(r.at, SimTime::from_ms(u64::from(r.msg.0)));
        }
        for (p, recs) in plans.iter().enumerate() {
            assert!(recs.iter().all(|r| r.entity.index() % 2 == p));
        }
    }

    #[test]
    fn zipf_prefers_the_first_entities() {
        let mut s = spec();
        s.records = 2000;
        s.distribution = KeyDistribution::Zipf(1.2);
        let plans = plan(&s, &mut SimRng::new(3, Stream::Workload));
        let hot = plans
            .iter()
            .flatten()
            .filter(|r| r.entity == KeyId(0))
            .count();
        let cold = plans
            .iter()
            .flatten()
            .filter(|r| r.entity == KeyId(4))
            .count();
        assert!(hot > 3 * cold, "{hot} vs {cold}");
    }
}
