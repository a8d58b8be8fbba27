//! Kafka's range assignor.

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
}
