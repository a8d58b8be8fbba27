//! Dense integer identifiers.
//!
//! Everything in a run is named by a small integer that indexes a table the
//! setup built (node names, partition names, key names). Integers keep the
//! hot path free of strings and allocation; names are attached only when a
//! history or a report is written.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident($inner:ty), $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name(pub $inner);

        impl $name {
            /// The identifier as a `usize`, for indexing tables.
            #[inline]
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

id_type!(
    /// A node of the simulated system: a producer, a broker or a consumer.
    NodeId(u16),
    "node#"
);
id_type!(
    /// A topic partition, numbered densely across all topics of a run.
    PartitionId(u16),
    "partition#"
);
id_type!(
    /// A message as the application produced it. Retries and duplicates of
    /// one produced record carry the same `MessageId`.
    MessageId(u32),
    "m"
);
id_type!(
    /// An entity key of the workload (the business key: an order, an
    /// account). It exists even when a record is produced without a Kafka key.
    KeyId(u32),
    "k"
);
id_type!(
    /// A consumer group.
    GroupId(u16),
    "group#"
);
