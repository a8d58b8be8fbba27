//! Kafka's assignors: range, round robin, sticky, and the cooperative
//! round of the cooperative-sticky one (KIP-429). Each takes the members
//! sorted by member id and returns one partition list per member.

use crate::ids::PartitionId;

/// Splits a topic's partitions among members the way Kafka's
/// `RangeAssignor` does: members in order, each gets a contiguous range of
/// `partitions / members` partitions, and the first `partitions % members`
/// members get one more.
///
/// `members` is the number of members (already sorted by member id);
/// `first` is the topic's first partition. Returns one range per member.
pub fn range_assign(partitions: u32, members: usize, first: PartitionId) -> Vec<Vec<PartitionId>> {
    if members == 0 {
        return Vec::new();
    }
    let per = partitions as usize / members;
    let extra = partitions as usize % members;
    let mut out = Vec::with_capacity(members);
    let mut next = usize::from(first.0);
    for i in 0..members {
        let n = per + usize::from(i < extra);
        out.push((next..next + n).map(|p| PartitionId(p as u16)).collect());
        next += n;
    }
    out
}

/// Deals a topic's partitions to members in turn, the way Kafka's
/// `RoundRobinAssignor` does for a single topic.
pub fn round_robin_assign(
    partitions: u32,
    members: usize,
    first: PartitionId,
) -> Vec<Vec<PartitionId>> {
    let mut out = vec![Vec::new(); members];
    if members == 0 {
        return out;
    }
    for p in 0..partitions as usize {
        out[p % members].push(PartitionId(first.0 + p as u16));
    }
    out
}

/// A balanced assignment (sizes differ by at most one) that keeps as many
/// partitions as it can with the member that owns them, as Kafka's
/// `StickyAssignor` and `CooperativeStickyAssignor` aim for.
///
/// `owned[i]` is what member `i` owns now (a partition claimed by two
/// members stays with the first). Each member keeps up to its share of
/// what it owns, the members with the most keep the one extra partition
/// left over by the division; the rest go, lowest partition first, to the
/// member with the fewest (the lowest index among equals).
pub fn sticky_assign(
    partitions: u32,
    first: PartitionId,
    owned: &[Vec<PartitionId>],
) -> Vec<Vec<PartitionId>> {
    let members = owned.len();
    let mut out: Vec<Vec<PartitionId>> = vec![Vec::new(); members];
    if members == 0 {
        return out;
    }
    let n = partitions as usize;
    let base = n / members;
    let mut extra = n % members;
    let in_topic = |p: PartitionId| p.0 >= first.0 && usize::from(p.0 - first.0) < n;
    let mut taken = vec![false; n];
    // Each member's valid, unclaimed owned partitions, in its order.
    let mut keep: Vec<Vec<PartitionId>> = Vec::with_capacity(members);
    for own in owned {
        let mut mine = Vec::new();
        for &p in own {
            if in_topic(p) && !taken[usize::from(p.0 - first.0)] {
                taken[usize::from(p.0 - first.0)] = true;
                mine.push(p);
            }
        }
        keep.push(mine);
    }
    // Members owning more than their share keep one extra while extras
    // last, the largest owners first (ties: lower index).
    let mut order: Vec<usize> = (0..members).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(keep[i].len()));
    for i in order {
        let mut cap = base;
        if keep[i].len() > base && extra > 0 {
            extra -= 1;
            cap += 1;
        }
        out[i] = keep[i].iter().copied().take(cap).collect();
    }
    taken.iter_mut().for_each(|t| *t = false);
    for p in out.iter().flatten() {
        taken[usize::from(p.0 - first.0)] = true;
    }
    for (k, _) in taken.iter().enumerate().filter(|(_, t)| !**t) {
        let i = (0..members)
            .min_by_key(|&i| out[i].len())
            .expect("at least one member");
        out[i].push(PartitionId(first.0 + k as u16));
    }
    for a in &mut out {
        a.sort_unstable();
    }
    out
}

/// One round of the cooperative protocol: of the sticky `target`, each
/// member gets only the partitions no other member owns now. A partition
/// that moves is left out of both its old owner's assignment (it is
/// revoked) and its new owner's (it follows in the next round, once the
/// old owner has given it up). Returns the assignments and whether any
/// partition was held back.
pub fn cooperative_round(
    target: Vec<Vec<PartitionId>>,
    owned: &[Vec<PartitionId>],
) -> (Vec<Vec<PartitionId>>, bool) {
    let mut held_back = false;
    let out = target
        .into_iter()
        .enumerate()
        .map(|(i, mut t)| {
            t.retain(|p| {
                let elsewhere = owned
                    .iter()
                    .enumerate()
                    .any(|(j, o)| j != i && o.contains(p));
                held_back |= elsewhere;
                !elsewhere
            });
            t
        })
        .collect();
    (out, held_back)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nums(v: &[PartitionId]) -> Vec<u16> {
        v.iter().map(|p| p.0).collect()
    }

    #[test]
    fn seven_partitions_over_three_members() {
        // Kafka's javadoc example: C0 gets 3, C1 and C2 get 2 each.
        let a = range_assign(7, 3, PartitionId(0));
        assert_eq!(nums(&a[0]), vec![0, 1, 2]);
        assert_eq!(nums(&a[1]), vec![3, 4]);
        assert_eq!(nums(&a[2]), vec![5, 6]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_idle() {
        let a = range_assign(2, 3, PartitionId(10));
        assert_eq!(nums(&a[0]), vec![10]);
        assert_eq!(nums(&a[1]), vec![11]);
        assert!(a[2].is_empty());
    }

    fn ps(v: &[u16]) -> Vec<PartitionId> {
        v.iter().map(|&p| PartitionId(p)).collect()
    }

    #[test]
    fn round_robin_deals_in_turn() {
        let a = round_robin_assign(5, 2, PartitionId(0));
        assert_eq!(nums(&a[0]), vec![0, 2, 4]);
        assert_eq!(nums(&a[1]), vec![1, 3]);
    }

    #[test]
    fn sticky_keeps_owned_partitions_and_balances() {
        // Two members own three each; a third joins: each gives up one.
        let owned = [ps(&[0, 1, 2]), ps(&[3, 4, 5]), Vec::new()];
        let a = sticky_assign(6, PartitionId(0), &owned);
        assert_eq!(nums(&a[0]), vec![0, 1]);
        assert_eq!(nums(&a[1]), vec![3, 4]);
        assert_eq!(nums(&a[2]), vec![2, 5]);
        // A member leaves: the survivors keep theirs and share its.
        let owned = [ps(&[0, 1]), ps(&[2, 5])];
        let a = sticky_assign(6, PartitionId(0), &owned);
        assert_eq!(nums(&a[0]), vec![0, 1, 3]);
        assert_eq!(nums(&a[1]), vec![2, 4, 5]);
    }

    #[test]
    fn sticky_gives_the_extra_partition_to_the_largest_owner() {
        let owned = [ps(&[0]), ps(&[1, 2, 3, 4])];
        let a = sticky_assign(5, PartitionId(0), &owned);
        assert_eq!(nums(&a[0]), vec![0, 4]);
        assert_eq!(nums(&a[1]), vec![1, 2, 3]);
    }

    #[test]
    fn a_cooperative_round_holds_back_partitions_that_move() {
        let owned = [ps(&[0, 1, 2]), ps(&[3, 4, 5]), Vec::new()];
        let target = sticky_assign(6, PartitionId(0), &owned);
        let (first, held) = cooperative_round(target.clone(), &owned);
        assert!(held);
        assert_eq!(nums(&first[0]), vec![0, 1]);
        assert_eq!(nums(&first[1]), vec![3, 4]);
        assert!(first[2].is_empty(), "2 and 5 are still owned");
        // The owners revoked 2 and 5: the next round hands them over.
        let (second, held) = cooperative_round(target, &first);
        assert!(!held);
        assert_eq!(nums(&second[2]), vec![2, 5]);
    }
}
