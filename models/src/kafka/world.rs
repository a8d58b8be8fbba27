//! The Kafka world: its layout (who is who), its durable state, and the
//! [`Model`] implementation that routes inputs to nodes.

use std::cell::Cell;
use std::sync::Arc;

use crate::handler::{Delivery, HandlerFactory};
use crate::ids::{GroupId, KeyId, NodeId, PartitionId};
use crate::model::{Cx, Model};
use crate::murmur2::partition_for_key;
use crate::rng::SimRng;
use crate::store::{KeyStr, Store, TxBuffer};
use crate::time::SimTime;

use super::broker::{Broker, GroupDurable, ProducerSeqs};
use super::config::{BrokerConfig, ConsumerConfig, ProducerConfig, ReplicationConfig};
use super::consumer::Consumer;
use super::controller::Controller;
use super::log::PartitionLog;
use super::producer::Producer;
use super::protocol::{Msg, PartitionState, Record, Timer};
use super::txn::{Answered, TxnLog, TxnState};
use super::workload::{PlannedRecord, WorkloadSpec, plan};

/// What a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A producer (index among producers).
    Producer(u16),
    /// A broker (index among brokers).
    Broker(u16),
    /// A consumer (index among consumers).
    Consumer(u16),
    /// The controller (KRaft's quorum, or ZooKeeper and the controller
    /// broker, as one node): present only when some topic is replicated.
    Controller,
}

/// A topic.
#[derive(Clone, Debug)]
pub struct TopicMeta {
    /// Its name.
    pub name: String,
    /// Its first partition's global id; the rest follow densely.
    pub first: PartitionId,
    /// Number of partitions.
    pub partitions: u32,
}

/// A partition.
#[derive(Clone, Debug)]
pub struct PartitionMeta {
    /// Its topic (index into `Layout::topics`).
    pub topic: u16,
    /// Its number within the topic.
    pub number: u32,
    /// The broker that leads it at first (its preferred leader, the first
    /// of its replicas).
    pub leader: NodeId,
    /// `topic-number`.
    pub name: String,
    /// The brokers holding a replica, in assignment order.
    pub replicas: Vec<NodeId>,
    /// Index of its first replica's log in the world's logs; the others
    /// follow in replica order.
    pub log_base: usize,
    /// Its topic's replication settings.
    pub replication: ReplicationConfig,
}

/// A producer.
#[derive(Clone, Debug)]
pub struct ProducerMeta {
    /// Its node.
    pub node: NodeId,
    /// The topic it writes.
    pub topic: u16,
    /// Its settings.
    pub config: ProducerConfig,
    /// Whether records go without a Kafka key.
    pub keyless: bool,
    /// The messages it will produce, in time order.
    pub plan: Vec<PlannedRecord>,
    /// Its transactional id (index into `Layout::txn_ids`), if it has one.
    pub txn: Option<u16>,
    /// The producer (index) this one is a standby instance of: it starts
    /// at the takeover time, with that producer's identity.
    pub standby_of: Option<u16>,
}

/// A consumer group.
#[derive(Clone)]
pub struct GroupMeta {
    /// Its name (`group.id`).
    pub name: String,
    /// The topic it subscribes to.
    pub topic: u16,
    /// Its members' nodes.
    pub members: Vec<NodeId>,
    /// The broker coordinating it.
    pub coordinator: NodeId,
    /// Its members' settings.
    pub config: ConsumerConfig,
    /// Builds its handler.
    pub handler: HandlerFactory,
    /// The handler's name.
    pub handler_name: String,
    /// Its output, for a consume-transform-produce stage.
    pub output: Option<GroupOutput>,
}

/// The output side of a consume-transform-produce group.
#[derive(Clone, Debug)]
pub struct GroupOutput {
    /// The output topic (index into `Layout::topics`).
    pub topic: u16,
    /// For each entity, its partition in the output topic (murmur2, as
    /// for the workload's topic).
    pub key_partitions: Vec<PartitionId>,
    /// The transactional id of the group's first member; the others
    /// follow in member order (one per member, as Kafka Streams'
    /// `exactly_once_v2` gives each thread its own producer).
    pub first_txn: u16,
}

/// Who is who in a run. Fixed for the whole run.
#[derive(Clone)]
pub struct Layout {
    /// Node names (`p1`, `b1`, `c1`, ...), indexed by [`NodeId`].
    pub node_names: Vec<String>,
    /// Node roles, indexed by [`NodeId`].
    pub roles: Vec<Role>,
    /// Topics.
    pub topics: Vec<TopicMeta>,
    /// Partitions, indexed by [`PartitionId`].
    pub partitions: Vec<PartitionMeta>,
    /// Entity names, indexed by [`KeyId`]. Shared: the worlds a
    /// [`WorldTemplate`] builds for many seeds do not copy them.
    pub keys: Arc<[String]>,
    /// The same names as row keys, indexed by [`KeyId`], and `"?"` last
    /// (for an id with no name): a handler keys rows by an entity
    /// ([`crate::Delivery::entity_key`]) without building the key again
    /// for every record.
    pub key_rows: Arc<[KeyStr]>,
    /// For each entity, its partition in the workload's topic (murmur2 of
    /// the name's UTF-8 bytes).
    pub key_partitions: Vec<PartitionId>,
    /// Producers.
    pub producers: Vec<ProducerMeta>,
    /// Broker nodes.
    pub brokers: Vec<NodeId>,
    /// Consumer groups, indexed by [`GroupId`].
    pub groups: Vec<GroupMeta>,
    /// For each consumer (by consumer index), its node and group.
    pub consumers: Vec<(NodeId, GroupId)>,
    /// Broker-side settings.
    pub broker_config: BrokerConfig,
    /// The controller node, when some topic is replicated. Without one,
    /// every partition has its single replica and leaders never move.
    pub controller: Option<NodeId>,
    /// Records planned per partition (see [`Layout::planned_per_partition`]).
    planned: Vec<usize>,
    /// Transactional ids (`transactional.id`), indexed by the producers'
    /// `txn`.
    pub txn_ids: Vec<String>,
    /// The transaction coordinator of each transactional id.
    pub txn_coordinators: Vec<NodeId>,
    /// The node first configured with each transactional id (a producer,
    /// or a member of a consume-transform-produce group).
    pub txn_nodes: Vec<NodeId>,
    /// The `transaction.timeout.ms` of each transactional id.
    pub txn_timeouts: Vec<SimTime>,
}

impl Layout {
    /// The name of a node.
    pub fn node_name(&self, node: NodeId) -> &str {
        self.node_names
            .get(node.index())
            .map_or("?", String::as_str)
    }

    /// The name of a partition (`orders-2`).
    pub fn partition_name(&self, p: PartitionId) -> &str {
        self.partitions
            .get(p.index())
            .map_or("?", |m| m.name.as_str())
    }

    /// The name of an entity key.
    pub fn key_name(&self, k: KeyId) -> &str {
        self.keys.get(k.index()).map_or("?", String::as_str)
    }

    /// The name of entity `k` as a row key (`"?"` if there is none, as
    /// [`Layout::key_name`] says: the last key is that one).
    #[inline]
    pub fn key_row(&self, k: KeyId) -> &KeyStr {
        let unknown = self.key_rows.len() - 1;
        &self.key_rows[k.index().min(unknown)]
    }

    /// The node called `name`.
    pub fn node_by_name(&self, name: &str) -> Option<NodeId> {
        self.node_names
            .iter()
            .position(|n| n == name)
            .map(|i| NodeId(i as u16))
    }

    /// How many records the producers plan to write to each partition
    /// (keyless records counted as spread evenly over their topic): what
    /// logs and per-partition producer state are sized for up front.
    pub fn planned_per_partition(&self) -> &[usize] {
        &self.planned
    }

    fn count_planned(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.partitions.len()];
        for meta in &self.producers {
            let topic = &self.topics[usize::from(meta.topic)];
            if meta.keyless {
                let parts = topic.partitions as usize;
                let first = usize::from(topic.first.0);
                for c in &mut counts[first..first + parts] {
                    *c += meta.plan.len().div_ceil(parts.max(1));
                }
            } else {
                // Records per entity first: an entity has one partition.
                let mut per_key = vec![0usize; self.key_partitions.len()];
                for r in &meta.plan {
                    per_key[r.entity.index()] += 1;
                }
                for (n, p) in per_key.iter().zip(&self.key_partitions) {
                    counts[p.index()] += n;
                }
            }
        }
        counts
    }

    /// The [`Delivery`] a handler sees for `record` at `partition`/`offset`.
    #[inline]
    pub fn delivery<'a>(
        &'a self,
        partition: PartitionId,
        offset: u64,
        record: &Record,
        attempt: u32,
    ) -> Delivery<'a> {
        let meta = &self.partitions[partition.index()];
        let entity = self.key_name(record.entity);
        let entity_key = self.key_row(record.entity);
        Delivery {
            topic: &self.topics[usize::from(meta.topic)].name,
            partition: meta.number,
            offset,
            key: record.keyed.then_some(entity),
            value: record.value,
            message_id: record.msg,
            entity,
            entity_key,
            entity_id: record.entity,
            entity_seq: record.seq,
            producer: self.node_name(record.producer),
            attempt,
        }
    }

    /// Whether partitions are replicated (there is a controller).
    #[inline]
    pub fn replicated(&self) -> bool {
        self.controller.is_some()
    }

    /// The index among brokers of a broker node.
    pub fn broker_index(&self, node: NodeId) -> Option<usize> {
        match self.roles.get(node.index()) {
            Some(Role::Broker(i)) => Some(usize::from(*i)),
            _ => None,
        }
    }

    /// The index of `broker`'s log of partition `p`, if it holds a replica.
    pub fn log_index(&self, p: PartitionId, broker: NodeId) -> Option<usize> {
        let meta = &self.partitions[p.index()];
        meta.replicas
            .iter()
            .position(|r| *r == broker)
            .map(|i| meta.log_base + i)
    }

    /// The group a consumer node belongs to.
    pub fn group_of(&self, node: NodeId) -> Option<GroupId> {
        match self.roles.get(node.index()) {
            Some(Role::Consumer(i)) => Some(self.consumers[usize::from(*i)].1),
            _ => None,
        }
    }
}

/// A producer as the scenario describes it.
#[derive(Clone, Debug)]
pub struct ProducerSpec {
    /// Its settings.
    pub config: ProducerConfig,
}

/// A consumer group as the scenario describes it.
#[derive(Clone)]
pub struct GroupSpec {
    /// `group.id`.
    pub name: String,
    /// The topic (index into `KafkaSpec::topics`).
    pub topic: u16,
    /// Members.
    pub members: u16,
    /// Member settings.
    pub config: ConsumerConfig,
    /// The handler's name.
    pub handler_name: String,
    /// Builds the handler.
    pub handler: HandlerFactory,
}

/// Everything needed to build a Kafka world.
#[derive(Clone)]
pub struct KafkaSpec {
    /// Number of brokers.
    pub brokers: u16,
    /// `(name, partitions)` of each topic.
    pub topics: Vec<(String, u32)>,
    /// The topic the workload writes (index into `topics`).
    pub workload_topic: u16,
    /// What the application produces; `workload.producers` producers are
    /// built with `producer`'s settings.
    pub workload: WorkloadSpec,
    /// Producer settings.
    pub producer: ProducerSpec,
    /// Consumer groups.
    pub groups: Vec<GroupSpec>,
    /// Broker settings.
    pub broker: BrokerConfig,
    /// Replication of each topic (by index into `topics`); a topic without
    /// an entry has one replica per partition.
    pub replication: Vec<ReplicationConfig>,
}

impl KafkaSpec {
    /// Whether some topic has more than one replica per partition (which
    /// brings in the controller).
    pub fn replicated(&self) -> bool {
        self.replication.iter().any(|r| r.factor > 1)
    }

    /// Node names and roles, indexed by [`NodeId`]: producers `p1..`, then
    /// brokers `b1..`, then the consumers of each group in order, `c1..`,
    /// then `controller` when some topic is replicated.
    pub fn nodes(&self) -> (Vec<String>, Vec<Role>) {
        let mut names = Vec::new();
        let mut roles = Vec::new();
        let standby = u16::from(self.producer.config.takeover.is_some());
        for i in 0..self.workload.producers.max(1) + standby {
            names.push(format!("p{}", i + 1));
            roles.push(Role::Producer(i));
        }
        for i in 0..self.brokers.max(1) {
            names.push(format!("b{}", i + 1));
            roles.push(Role::Broker(i));
        }
        let mut c = 0u16;
        for g in &self.groups {
            for _ in 0..g.members {
                c += 1;
                names.push(format!("c{c}"));
                roles.push(Role::Consumer(c - 1));
            }
        }
        if self.replicated() {
            names.push("controller".to_owned());
            roles.push(Role::Controller);
        }
        (names, roles)
    }
}

/// Java's `String.hashCode` of `s` (UTF-16 code units, wrapping).
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// The coordinator of a group among `brokers` brokers: Kafka picks
/// partition `abs(hashCode(group.id)) % 50` of `__consumer_offsets`, and
/// this model places that partition's leader the way it places every
/// partition's (round robin over brokers).
pub fn coordinator_for(group: &str, brokers: u16) -> u16 {
    // Kafka's Utils.abs maps Integer.MIN_VALUE to 0.
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.unsigned_abs() };
    ((abs % 50) % u32::from(brokers.max(1))) as u16
}

/// Durable state: what survives crashes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Durable {
    /// Every replica's log (see [`Layout::log_index`]; without replication,
    /// log `i` is partition `i`'s).
    pub logs: Vec<PartitionLog>,
    /// Idempotent producer state per log: producer id → sequences.
    pub seqs: Vec<ProducerSeqs>,
    pub groups: Vec<GroupDurable>,
    pub stores: Vec<Store>,
    /// The controller's view of every partition (replicated runs only).
    /// Clients look leaders up here: the model's stand-in for metadata
    /// requests.
    pub metadata: Vec<PartitionState>,
    /// Transaction coordinator state per transactional id.
    pub txns: Vec<TxnState>,
    /// The requests answered per transactional id (see [`Answered`]).
    pub txn_answers: Vec<Answered>,
    /// Open and aborted transactions per log (empty when no producer is
    /// transactional).
    pub txn_logs: Vec<TxnLog>,
    /// Whether the standby producer has taken over (its application
    /// remembers it across crashes: a restarted standby goes on as itself
    /// and does not take over again).
    pub taken_over: bool,
}

impl Durable {
    /// The broker a client sends a partition's requests to: the leader the
    /// controller last chose (`None` while the partition is offline), or
    /// the only replica without replication.
    #[inline]
    pub fn leader_of(&self, layout: &Layout, p: PartitionId) -> Option<NodeId> {
        if layout.replicated() {
            self.metadata[p.index()].leader
        } else {
            Some(layout.partitions[p.index()].leader)
        }
    }

    /// The log consumers read a partition from: its current leader's (its
    /// preferred leader's while it is offline).
    pub fn leader_log(&self, layout: &Layout, p: PartitionId) -> &PartitionLog {
        let meta = &layout.partitions[p.index()];
        let leader = self.leader_of(layout, p).unwrap_or(meta.leader);
        let i = layout.log_index(p, leader).unwrap_or(meta.log_base);
        &self.logs[i]
    }

    /// Where a partition's committed records end: the high watermark of its
    /// leader's log (its end without replication).
    pub fn visible_end(&self, layout: &Layout, p: PartitionId) -> u64 {
        let log = self.leader_log(layout, p);
        if layout.replicated() {
            log.hw()
        } else {
            log.end()
        }
    }
}

enum Node {
    Producer(Box<Producer>),
    Broker(Broker),
    Consumer(Box<Consumer>),
    Controller(Box<Controller>),
}

/// The Kafka world: layout, durable state and the nodes' volatile state.
pub struct KafkaWorld {
    layout: Layout,
    durable: Durable,
    nodes: Vec<Node>,
    incarnations: Vec<u32>,
    scratch: TxBuffer,
    /// The node that last kept [`Model::drained`] from answering yes: it
    /// most often still does, so it is asked first. Only a hint (any node
    /// index, or past the end): the answer does not depend on it.
    blocker: Cell<usize>,
}

/// A spec with the part of its world that no seed changes (names,
/// partitions, leaders, coordinators, entity keys) built once: worlds for
/// many seeds are built from it without naming everything again.
#[derive(Clone)]
pub struct WorldTemplate {
    spec: KafkaSpec,
    /// The layout with every producer's plan empty.
    layout: Layout,
}

impl WorldTemplate {
    /// Builds the seed-independent layout of `spec`.
    pub fn new(spec: KafkaSpec) -> WorldTemplate {
        let layout = Layout::unplanned(&spec);
        WorldTemplate { spec, layout }
    }

    /// The spec.
    pub fn spec(&self) -> &KafkaSpec {
        &self.spec
    }

    /// The world for one seed: the workload drawn from `workload_rng`.
    pub fn world(&self, workload_rng: &mut SimRng) -> KafkaWorld {
        KafkaWorld::from_layout(self.layout.clone(), &self.spec.workload, workload_rng)
    }
}

impl Layout {
    /// Names nodes and partitions, places partition leaders and group
    /// coordinators; producers' plans are left empty.
    fn unplanned(spec: &KafkaSpec) -> Layout {
        let brokers = spec.brokers.max(1);
        let (node_names, roles) = spec.nodes();
        let broker_nodes: Vec<NodeId> = roles
            .iter()
            .enumerate()
            .filter(|(_, r)| matches!(r, Role::Broker(_)))
            .map(|(i, _)| NodeId(i as u16))
            .collect();
        let mut topics = Vec::new();
        let mut partitions = Vec::new();
        let mut logs = 0usize;
        for (t, (name, count)) in spec.topics.iter().enumerate() {
            let first = PartitionId(partitions.len() as u16);
            let replication = spec.replication.get(t).copied().unwrap_or_default();
            let factor = usize::from(replication.factor.max(1)).min(broker_nodes.len());
            for number in 0..*count {
                let global = partitions.len();
                // Replicas on consecutive brokers from the leader on, as
                // Kafka's default assignment places followers.
                let replicas: Vec<NodeId> = (0..factor)
                    .map(|r| broker_nodes[(global + r) % broker_nodes.len()])
                    .collect();
                partitions.push(PartitionMeta {
                    topic: t as u16,
                    number,
                    leader: replicas[0],
                    name: format!("{name}-{number}"),
                    replicas,
                    log_base: logs,
                    replication,
                });
                logs += factor;
            }
            topics.push(TopicMeta {
                name: name.clone(),
                first,
                partitions: *count,
            });
        }
        let keys: Vec<String> = (0..spec.workload.keys).map(|k| format!("k{k}")).collect();
        let wt = &topics[usize::from(spec.workload_topic)];
        let key_partitions = keys
            .iter()
            .map(|k| {
                PartitionId(wt.first.0 + partition_for_key(k.as_bytes(), wt.partitions) as u16)
            })
            .collect();
        // As many as `plan` draws plans for.
        let producers = usize::from(spec.workload.producers.max(1));
        let txn_ids: Vec<String> = match &spec.producer.config.transactional_id {
            // One transactional id per producer instance, as each needs its
            // own.
            Some(id) if producers > 1 => {
                (0..producers).map(|i| format!("{id}-{}", i + 1)).collect()
            }
            Some(id) => vec![id.clone()],
            None => Vec::new(),
        };
        let producer_metas = (0..producers)
            .map(|i| ProducerMeta {
                node: NodeId(i as u16),
                topic: spec.workload_topic,
                config: spec.producer.config.clone(),
                keyless: spec.workload.keyless,
                plan: Vec::new(),
                txn: (!txn_ids.is_empty()).then_some(i as u16),
                standby_of: None,
            })
            .collect::<Vec<_>>();
        let mut producer_metas = producer_metas;
        if spec.producer.config.takeover.is_some() {
            let first = producer_metas[0].clone();
            producer_metas.push(ProducerMeta {
                node: NodeId(producer_metas.len() as u16),
                standby_of: Some(0),
                ..first
            });
        }
        let controller = roles
            .iter()
            .position(|r| matches!(r, Role::Controller))
            .map(|i| NodeId(i as u16));
        let mut groups = Vec::new();
        let mut consumers = Vec::new();
        let mut next_consumer = broker_nodes.last().map_or(0, |b| b.0 + 1);
        for (g, gs) in spec.groups.iter().enumerate() {
            let mut members = Vec::new();
            for _ in 0..gs.members {
                let node = NodeId(next_consumer);
                next_consumer += 1;
                consumers.push((node, GroupId(g as u16)));
                members.push(node);
            }
            groups.push(GroupMeta {
                name: gs.name.clone(),
                topic: gs.topic,
                members,
                coordinator: broker_nodes[usize::from(coordinator_for(&gs.name, brokers))],
                config: gs.config.clone(),
                handler: gs.handler.clone(),
                handler_name: gs.handler_name.clone(),
                output: None,
            });
        }
        // Members of consume-transform-produce groups get a transactional
        // id each, after the producers'.
        let mut txn_ids = txn_ids;
        let mut txn_nodes: Vec<NodeId> = producer_metas
            .iter()
            .filter(|p| p.txn.is_some() && p.standby_of.is_none())
            .map(|p| p.node)
            .collect();
        let mut txn_timeouts = vec![spec.producer.config.transaction_timeout; txn_ids.len()];
        for g in &mut groups {
            let Some(out) = g.config.output else {
                continue;
            };
            let ot = &topics[usize::from(out.topic)];
            g.output = Some(GroupOutput {
                topic: out.topic,
                key_partitions: keys
                    .iter()
                    .map(|k| {
                        PartitionId(
                            ot.first.0 + partition_for_key(k.as_bytes(), ot.partitions) as u16,
                        )
                    })
                    .collect(),
                first_txn: txn_ids.len() as u16,
            });
            for &m in &g.members {
                txn_ids.push(format!("{}-{}", g.name, node_names[m.index()]));
                txn_nodes.push(m);
                txn_timeouts.push(out.transaction_timeout);
            }
        }
        let txn_coordinators: Vec<NodeId> = txn_ids
            .iter()
            .map(|id| broker_nodes[usize::from(coordinator_for(id, brokers))])
            .collect();
        Layout {
            node_names,
            roles,
            topics,
            partitions,
            key_rows: keys
                .iter()
                .map(String::as_str)
                .chain(["?"])
                .map(KeyStr::from)
                .collect(),
            keys: keys.into(),
            key_partitions,
            producers: producer_metas,
            brokers: broker_nodes,
            groups,
            consumers,
            broker_config: spec.broker.clone(),
            controller,
            planned: Vec::new(),
            txn_ids,
            txn_coordinators,
            txn_nodes,
            txn_timeouts,
        }
    }
}

impl KafkaWorld {
    /// Builds the world: names nodes and partitions, places partition
    /// leaders and group coordinators, and draws the workload from
    /// `workload_rng`. (To build worlds of one spec for many seeds,
    /// [`WorldTemplate`] names everything once.)
    pub fn new(spec: &KafkaSpec, workload_rng: &mut SimRng) -> KafkaWorld {
        KafkaWorld::from_layout(Layout::unplanned(spec), &spec.workload, workload_rng)
    }

    /// The world of an unplanned `layout`: draws the producers' plans and
    /// builds the durable state and the nodes.
    fn from_layout(
        mut layout: Layout,
        workload: &WorkloadSpec,
        workload_rng: &mut SimRng,
    ) -> KafkaWorld {
        let mut plans = plan(workload, workload_rng);
        debug_assert_eq!(
            plans.len(),
            layout
                .producers
                .iter()
                .filter(|p| p.standby_of.is_none())
                .count(),
            "one plan per producer"
        );
        // A standby instance (last) sends what the producer it stands in
        // for sends.
        let standby = layout.producers.iter().find_map(|p| p.standby_of);
        if let Some(of) = standby {
            let copy = plans[usize::from(of)].clone();
            plans.push(copy);
        }
        for (meta, plan) in layout.producers.iter_mut().zip(plans) {
            meta.plan = plan;
        }
        layout.planned = layout.count_planned();
        let logs = layout.partitions.iter().map(|m| m.replicas.len()).sum();
        let durable = Durable {
            logs: layout
                .partitions
                .iter()
                .zip(layout.planned_per_partition())
                .flat_map(|(meta, &records)| {
                    meta.replicas
                        .iter()
                        .map(move |_| PartitionLog::with_capacity(records))
                })
                .collect(),
            seqs: vec![ProducerSeqs::default(); logs],
            groups: layout
                .groups
                .iter()
                .map(|g| GroupDurable::new(layout.topics[usize::from(g.topic)].partitions))
                .collect(),
            stores: vec![Store::new(); layout.groups.len()],
            metadata: if layout.replicated() {
                Controller::initial_metadata(&layout)
            } else {
                Vec::new()
            },
            txns: vec![TxnState::default(); layout.txn_ids.len()],
            txn_answers: vec![Answered::new(); layout.txn_ids.len()],
            txn_logs: if layout.txn_ids.is_empty() {
                Vec::new()
            } else {
                vec![TxnLog::default(); logs]
            },
            taken_over: false,
        };
        let mut world = KafkaWorld {
            nodes: Vec::with_capacity(layout.roles.len()),
            incarnations: vec![0; layout.roles.len()],
            layout,
            durable,
            scratch: TxBuffer::default(),
            blocker: Cell::new(0),
        };
        for i in 0..world.layout.roles.len() {
            let node = world.fresh(NodeId(i as u16), Vec::new());
            world.nodes.push(node);
        }
        world
    }

    /// A node's state as it starts; a restarted producer is handed what
    /// its application knows from before the crash (`settled`).
    fn fresh(&self, node: NodeId, settled: Vec<u64>) -> Node {
        let inc = self.incarnations[node.index()];
        match self.layout.roles[node.index()] {
            Role::Producer(i) => Node::Producer(Box::new(Producer::new(
                &self.layout,
                usize::from(i),
                inc,
                settled,
            ))),
            Role::Broker(_) => Node::Broker(Broker::new(&self.layout, node, inc)),
            Role::Consumer(i) => {
                Node::Consumer(Box::new(Consumer::new(&self.layout, usize::from(i), inc)))
            }
            Role::Controller => Node::Controller(Box::new(Controller::new(&self.layout))),
        }
    }

    /// A standby producer takes over: it starts with what the first
    /// instance's application knows is answered. (Out of line: it happens
    /// once, and keeps `on_timer` small.)
    #[cold]
    #[inline(never)]
    fn take_over(&mut self, node: NodeId, cx: &mut Cx<'_, Msg, Timer>) {
        let Role::Producer(i) = self.layout.roles[node.index()] else {
            return;
        };
        if self.durable.taken_over {
            return;
        }
        self.durable.taken_over = true;
        let layout = &self.layout;
        let meta = &layout.producers[usize::from(i)];
        let first = meta.standby_of.map_or(0, usize::from);
        let settled = match &self.nodes[layout.producers[first].node.index()] {
            Node::Producer(p) => p.settled().to_vec(),
            _ => Vec::new(),
        };
        let inc = self.incarnations[node.index()];
        let mut fresh = Producer::new(layout, usize::from(i), inc, settled);
        fresh.begin(layout, cx);
        self.nodes[node.index()] = Node::Producer(Box::new(fresh));
    }

    /// Who is who.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// A partition's log: its current leader's replica (its preferred
    /// leader's while it is offline).
    pub fn log(&self, p: PartitionId) -> &PartitionLog {
        self.durable.leader_log(&self.layout, p)
    }

    /// `broker`'s replica of a partition's log, if it holds one.
    pub fn replica_log(&self, p: PartitionId, broker: NodeId) -> Option<&PartitionLog> {
        self.layout
            .log_index(p, broker)
            .map(|i| &self.durable.logs[i])
    }

    /// The controller's view of a partition (replicated runs only).
    pub fn partition_state(&self, p: PartitionId) -> Option<PartitionState> {
        self.durable.metadata.get(p.index()).copied()
    }

    /// Where a partition's committed records end: its leader's high
    /// watermark (its log end without replication).
    pub fn visible_end(&self, p: PartitionId) -> u64 {
        self.durable.visible_end(&self.layout, p)
    }

    /// A group's durable store (its database).
    pub fn store(&self, g: GroupId) -> &Store {
        &self.durable.stores[g.index()]
    }

    /// A group's committed offset for a partition (next offset to read).
    pub fn committed(&self, g: GroupId, p: PartitionId) -> Option<u64> {
        let first = self.layout.topics[usize::from(self.layout.groups[g.index()].topic)].first;
        self.durable.groups[g.index()].committed[usize::from(p.0 - first.0)]
    }

    /// Consumer lag of a group on a partition: log end (high watermark)
    /// minus the committed offset (minus the owner's position when nothing
    /// is committed yet). An offline partition lags by at least one.
    pub fn lag(&self, g: GroupId, p: PartitionId) -> u64 {
        if self.layout.replicated() && self.durable.metadata[p.index()].leader.is_none() {
            return 1;
        }
        let end = self.visible_end(p);
        let from = self.committed(g, p).or_else(|| {
            self.layout.groups[g.index()]
                .members
                .iter()
                .filter_map(|n| match &self.nodes[n.index()] {
                    Node::Consumer(c) => c.position(p),
                    _ => None,
                })
                .max()
        });
        end.saturating_sub(from.unwrap_or(0))
    }
}

impl Model for KafkaWorld {
    type Msg = Msg;
    type Timer = Timer;

    fn node_count(&self) -> usize {
        self.nodes.len()
    }

    fn start(&mut self, node: NodeId, cx: &mut Cx<'_, Msg, Timer>) {
        let KafkaWorld {
            layout,
            durable,
            nodes,
            ..
        } = self;
        match &mut nodes[node.index()] {
            Node::Producer(p) => p.start(layout, durable.taken_over, cx),
            Node::Broker(b) => b.start(layout, durable, cx),
            Node::Consumer(c) => c.start(layout, cx),
            Node::Controller(c) => c.start(layout, durable, cx),
        }
    }

    fn on_message(&mut self, node: NodeId, from: NodeId, msg: Msg, cx: &mut Cx<'_, Msg, Timer>) {
        let KafkaWorld {
            layout,
            durable,
            nodes,
            scratch,
            ..
        } = self;
        match &mut nodes[node.index()] {
            Node::Producer(p) => p.on_message(layout, durable, msg, cx),
            Node::Broker(b) => b.on_message(layout, durable, from, msg, cx),
            Node::Consumer(c) => c.on_message(layout, durable, scratch, msg, cx),
            Node::Controller(c) => c.on_message(layout, durable, from, msg, cx),
        }
    }

    fn on_timer(&mut self, node: NodeId, timer: Timer, cx: &mut Cx<'_, Msg, Timer>) {
        let KafkaWorld {
            layout,
            durable,
            nodes,
            scratch,
            ..
        } = self;
        if timer == Timer::Takeover {
            self.take_over(node, cx);
            return;
        }
        match &mut nodes[node.index()] {
            Node::Producer(p) => p.on_timer(layout, durable, timer, cx),
            Node::Broker(b) => b.on_timer(layout, durable, timer, cx),
            Node::Consumer(c) => c.on_timer(layout, durable, scratch, timer, cx),
            Node::Controller(c) => c.on_timer(layout, durable, timer, cx),
        }
    }

    fn on_disconnect(&mut self, node: NodeId, peer: NodeId, cx: &mut Cx<'_, Msg, Timer>) {
        let KafkaWorld {
            layout,
            durable,
            nodes,
            scratch,
            ..
        } = self;
        match &mut nodes[node.index()] {
            Node::Producer(p) => p.on_disconnect(layout, durable, peer, cx),
            Node::Broker(b) => b.on_disconnect(layout, durable, peer, cx),
            Node::Consumer(c) => c.on_disconnect(layout, durable, scratch, peer, cx),
            Node::Controller(_) => {}
        }
    }

    fn crash(&mut self, node: NodeId) {
        self.incarnations[node.index()] += 1;
        // The producer's in-memory state is lost; its application still
        // knows which sends were answered.
        let settled = match &mut self.nodes[node.index()] {
            Node::Producer(p) => p.take_settled(),
            _ => Vec::new(),
        };
        let fresh = self.fresh(node, settled);
        self.nodes[node.index()] = fresh;
    }

    #[inline]
    fn drained(&self) -> bool {
        // After the faults heal this is asked after every event, and one
        // node (a consumer catching up, a producer awaiting answers) keeps
        // the answer no for many events in a row: ask it first, inline in
        // the engine's loop, before the full check.
        if self
            .nodes
            .get(self.blocker.get())
            .is_some_and(|n| !n.settled())
        {
            return false;
        }
        self.drained_all()
    }

    fn history_hint(&self) -> usize {
        // A record is appended, acknowledged, delivered, applied and
        // handled, and its batch sent: about six events each, with room
        // for redeliveries and faults.
        let records: usize = self.layout.producers.iter().map(|p| p.plan.len()).sum();
        records.saturating_mul(6).saturating_add(1024)
    }

    fn crashable(&self, node: NodeId) -> bool {
        matches!(
            self.layout.roles.get(node.index()),
            Some(Role::Broker(_) | Role::Consumer(_) | Role::Producer(_))
        )
    }
}

impl KafkaWorld {
    /// [`Model::drained`] past its first guess: every node settled and no
    /// group lagging on any partition.
    #[inline(never)]
    fn drained_all(&self) -> bool {
        if let Some(i) = self.nodes.iter().position(|n| !n.settled()) {
            self.blocker.set(i);
            return false;
        }
        for (g, meta) in self.layout.groups.iter().enumerate() {
            let t = &self.layout.topics[usize::from(meta.topic)];
            for p in 0..t.partitions {
                if self.lag(GroupId(g as u16), PartitionId(t.first.0 + p as u16)) > 0 {
                    return false;
                }
            }
        }
        true
    }
}

impl Node {
    /// Whether this node has nothing left to do for the world to drain: a
    /// producer is done, a consumer idle (brokers and controllers always).
    #[inline]
    fn settled(&self) -> bool {
        match self {
            Node::Producer(p) => p.done(),
            Node::Consumer(c) => c.idle(),
            _ => true,
        }
    }
}

impl std::fmt::Debug for GroupMeta {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupMeta")
            .field("name", &self.name)
            .field("topic", &self.topic)
            .field("members", &self.members)
            .field("coordinator", &self.coordinator)
            .field("handler_name", &self.handler_name)
            .finish()
    }
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("node_names", &self.node_names)
            .field("topics", &self.topics)
            .field("groups", &self.groups)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_string_hash_matches_java() {
        // "hello".hashCode() == 99162322 in Java; "" is 0.
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash(""), 0);
        // Overflowing example: "polygenelubricants".hashCode() == Integer.MIN_VALUE.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        assert_eq!(coordinator_for("polygenelubricants", 3), 0);
    }
}
