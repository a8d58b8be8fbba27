//! Side-by-side baseline: faultline's standard scenario against the same
//! workload written minimally on turmoil, timed in one process.
//!
//! ```sh
//! cargo bench --bench baseline
//! FAULTLINE_SEEDS=400 TURMOIL_SEEDS=30 ROUNDS=3 cargo bench --bench baseline
//! ```
//!
//! (`cargo test --benches` runs one seed of each, as a smoke test.)
//!
//! - **faultline**: `faultline::run` on `scenarios/bench/standard.toml`, seed
//!   after seed: simulation with the chaos mix on, then every checker. A
//!   second row runs the same file with its `[faults]` replaced by an empty
//!   fault window, for a like-for-like comparison with the fault-free
//!   turmoil workload. A third runs it in the turmoil side's shape as
//!   well: no faults, one broker and one consumer (three hosts, as on
//!   turmoil), every other setting unchanged.
//! - **turmoil**: the same records (each seed draws them with faultline's own
//!   workload planner, so both sides see the same keys, values and send
//!   times) on three turmoil hosts talking over turmoil's simulated TCP with
//!   length-prefixed frames: a producer that lingers, batches and waits for
//!   acknowledgements; one broker holding six append-only partition logs
//!   (keys placed by Kafka's murmur2 partitioner) and the committed offsets;
//!   one consumer that long-polls, handles each record through an
//!   idempotent inbox and commits after each batch, after joining its group
//!   (the coordinator answers the first join after
//!   `group.initial.rebalance.delay.ms`, 3 s, as Kafka's does and as
//!   faultline models it). No faults. A seed ends when the consumer has
//!   committed every record, and the run is checked.
//!
//! Each round times the three, one after the other; the table shows the
//! median round of each. Records/s is seeds/s times the records per seed,
//! each produced, appended, fetched, handled and committed. The ratios are
//! the point: both sides are timed in the same process, on the same load.

// The wall clock times the benchmark itself; nothing simulated reads it.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use faultline::Registry;
use faultline::models::kafka::plan;
use faultline::models::murmur2::partition_for_key;
use faultline::models::rng::Stream;
use faultline::models::{SimRng, SimTime};
use faultline::setup::Setup;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;
use turmoil::net::{TcpListener, TcpStream};

const SCENARIO: &str = "scenarios/bench/standard.toml";

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` does not, and
    // then one seed of each side is a smoke test, not a measurement.
    let measuring = std::env::args().any(|a| a == "--bench");
    let (faultline_seeds, turmoil_seeds, rounds) = match measuring {
        true => (
            env_count("FAULTLINE_SEEDS", 400),
            env_count("TURMOIL_SEEDS", 30),
            env_count("ROUNDS", 3),
        ),
        false => (1, 1, 1),
    };

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCENARIO);
    let registry = Registry::with_built_ins();
    let (loaded, setup) =
        Setup::load(&path, &registry).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (_, fault_free) = Setup::parse(&path, without_faults(&loaded.source), &registry)
        .unwrap_or_else(|e| panic!("{} without faults: {e}", path.display()));
    let (_, same_shape) = Setup::parse(&path, turmoil_shape(&loaded.source), &registry)
        .unwrap_or_else(|e| panic!("{} in the turmoil side's shape: {e}", path.display()));
    let workload = Workload::from_setup(&setup);

    // Warm up caches and the allocator; show that turmoil repeats a seed.
    for s in 0..faultline_seeds.min(20) {
        std::hint::black_box((
            faultline::run(&setup, s),
            faultline::run(&fault_free, s),
            faultline::run(&same_shape, s),
        ));
    }
    let (a, b) = (turmoil_seed(&workload, 0), turmoil_seed(&workload, 0));
    assert_eq!(a, b, "turmoil seed 0 ran differently twice");

    // Interleaved, so a burst of load elsewhere on the machine hits one
    // round of each rather than all of one side.
    let mut by_side: [Vec<Measurement>; 4] = Default::default();
    for _ in 0..rounds {
        by_side[0].push(time_faultline(&setup, faultline_seeds));
        by_side[1].push(time_faultline(&fault_free, faultline_seeds));
        by_side[2].push(time_faultline(&same_shape, faultline_seeds));
        by_side[3].push(time_turmoil(&workload, turmoil_seeds));
    }
    let [chaos, quiet, shaped, turmoil] = by_side.each_ref().map(|xs| median(xs));

    let records = workload.records;
    println!(
        "baseline   {SCENARIO}: {records} records over {} keys per seed",
        workload.keys
    );
    println!(
        "           median of {rounds} rounds of {faultline_seeds} faultline seeds and {turmoil_seeds} turmoil seeds"
    );
    println!();
    println!(
        "                        seeds/s   records/s   wall ms/seed   virtual ms/seed   messages/seed"
    );
    for (name, m) in [
        ("faultline, chaos mix", &chaos),
        ("faultline, no faults", &quiet),
        ("faultline, 3 nodes", &shaped),
        ("turmoil, no faults", &turmoil),
    ] {
        println!(
            "{name:<20} {:>10.1} {:>11.0} {:>14.2} {:>17.0} {:>15.0}",
            m.seeds_per_sec(),
            m.seeds_per_sec() * f64::from(records),
            m.secs * 1000.0 / m.seeds as f64,
            m.virtual_ms as f64 / m.seeds as f64,
            m.messages as f64 / m.seeds as f64,
        );
    }
    println!();
    let ratio = |f: &Measurement, t: &Measurement| f.seeds_per_sec() / t.seeds_per_sec();
    let per_virtual_s = |f: &Measurement, t: &Measurement| {
        (f.virtual_ms as f64 / f.secs) / (t.virtual_ms as f64 / t.secs)
    };
    println!("faultline / turmoil          seeds/s   virtual time per wall second");
    for (name, f) in [
        ("chaos mix", &chaos),
        ("no faults", &quiet),
        ("3 nodes", &shaped),
    ] {
        println!(
            "  faultline, {name:<15} {:>8.1}x {:>13.1}x",
            ratio(f, &turmoil),
            per_virtual_s(f, &turmoil)
        );
    }
}

/// The scenario's text with its `[faults]` section (chaos included)
/// replaced by an empty fault window: the same workload, no faults.
fn without_faults(source: &str) -> String {
    let start = source
        .find("\n[faults]")
        .expect("the scenario has a [faults] section");
    let end = source
        .find("\n[limits]")
        .expect("[limits] follows [faults]");
    assert!(start < end, "[limits] follows [faults]");
    format!(
        "{}\n[faults]\nwindow_ms = 0\n{}",
        &source[..start],
        &source[end..]
    )
}

/// The scenario's text in the turmoil side's shape: its faults removed, one
/// broker instead of three and one consumer instead of three (the producer,
/// the topic, the workload and every setting stay), so that both sides run
/// three hosts and the same work.
fn turmoil_shape(source: &str) -> String {
    let one = |s: &str, from: &str, to: &str| {
        assert!(s.contains(from), "the scenario sets `{from}`");
        s.replacen(from, to, 1)
    };
    let s = one(
        &without_faults(source),
        "\nbrokers = 3\n",
        "\nbrokers = 1\n",
    );
    one(&s, "\nmembers = 3\n", "\nmembers = 1\n")
}

/// A positive count from the environment, or `default`.
fn env_count(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => panic!("{name}={v:?}: expected a positive whole number"),
        },
    }
}

/// One side's timing over some seeds.
#[derive(Clone, Copy, Debug)]
struct Measurement {
    seeds: u64,
    secs: f64,
    /// Virtual time simulated, all seeds together.
    virtual_ms: u64,
    /// Network messages sent, all seeds together.
    messages: u64,
}

impl Measurement {
    fn seeds_per_sec(&self) -> f64 {
        self.seeds as f64 / self.secs
    }
}

fn median(xs: &[Measurement]) -> Measurement {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.seeds_per_sec().total_cmp(&b.seeds_per_sec()));
    v[v.len() / 2]
}

fn time_faultline(setup: &Setup, seeds: u64) -> Measurement {
    let start = Instant::now();
    let (mut virtual_ms, mut messages) = (0, 0);
    for s in 0..seeds {
        let run = faultline::run(setup, s);
        // Every invariant holds in the standard scenario, no-loss and
        // liveness included: every record was handled and committed.
        assert!(
            run.verdict.pass,
            "faultline seed {s} failed its expectations"
        );
        virtual_ms += run.sim.stats.end.as_ms();
        messages += run.sim.stats.messages;
    }
    Measurement {
        seeds,
        secs: start.elapsed().as_secs_f64(),
        virtual_ms,
        messages,
    }
}

fn time_turmoil(workload: &Workload, seeds: u64) -> Measurement {
    let start = Instant::now();
    let (mut virtual_ms, mut messages) = (0, 0);
    for s in 0..seeds {
        let run = turmoil_seed(workload, s);
        virtual_ms += run.virtual_ms;
        // A request and its response, each one TCP segment.
        messages += 2 * run.requests.iter().sum::<u64>();
    }
    Measurement {
        seeds,
        secs: start.elapsed().as_secs_f64(),
        virtual_ms,
        messages,
    }
}

// ---------------------------------------------------------------------------
// The workload on turmoil.

/// The standard scenario's workload, as the turmoil hosts need it.
#[derive(Clone, Debug)]
struct Workload {
    spec: faultline::models::kafka::WorkloadSpec,
    records: u32,
    keys: u32,
    partitions: u32,
    linger: Duration,
    max_poll_records: u32,
    fetch_max_wait: Duration,
    /// `group.initial.rebalance.delay.ms`: the coordinator answers the
    /// first member's join after this long.
    join_delay: Duration,
    latency: (Duration, Duration),
}

impl Workload {
    fn from_setup(setup: &Setup) -> Workload {
        let spec = setup.spec();
        let group = &spec.groups[0].config;
        let (_, partitions) = spec.topics[usize::from(spec.workload_topic)];
        assert_eq!(spec.workload.producers, 1, "the baseline has one producer");
        Workload {
            spec: spec.workload.clone(),
            records: spec.workload.records,
            keys: spec.workload.keys,
            partitions,
            linger: micros(spec.producer.config.linger),
            max_poll_records: group.max_poll_records,
            fetch_max_wait: micros(group.fetch_max_wait),
            join_delay: micros(spec.broker.initial_rebalance_delay),
            // The scenario's `latency_ms = [0.2, 1.0]`.
            latency: (Duration::from_micros(200), Duration::from_millis(1)),
        }
    }

    /// Seed `seed`'s records in send order: the ones faultline produces.
    fn records(&self, seed: u64) -> Vec<Record> {
        let key_partition: Vec<u32> = (0..self.keys)
            .map(|k| partition_for_key(format!("k{k}").as_bytes(), self.partitions))
            .collect();
        let plans = plan(&self.spec, &mut SimRng::new(seed, Stream::Workload));
        plans
            .into_iter()
            .flatten()
            .map(|r| Record {
                partition: key_partition[r.entity.index()],
                id: r.msg.0,
                key: r.entity.0,
                value: r.value,
                at_us: r.at.as_us(),
            })
            .collect()
    }
}

fn micros(t: SimTime) -> Duration {
    Duration::from_micros(t.as_us())
}

/// One produced record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Record {
    partition: u32,
    id: u32,
    key: u32,
    value: i64,
    /// When the application hands it to the producer.
    at_us: u64,
}

/// What one turmoil seed did; equal for equal seeds.
#[derive(Debug, PartialEq, Eq)]
struct TurmoilRun {
    virtual_ms: u64,
    /// Produce, fetch and commit requests the broker answered.
    requests: [u64; 3],
    /// FNV-1a over (partition, offset, id) in the order the consumer saw them.
    consumed_digest: u64,
}

const BROKER_PORT: u16 = 9092;

/// Runs one seed on a fresh turmoil `Sim` and checks that every record was
/// appended once, handled once and committed.
fn turmoil_seed(w: &Workload, seed: u64) -> TurmoilRun {
    let records = Rc::new(w.records(seed));
    let broker = Rc::new(RefCell::new(BrokerState::new(w.partitions)));
    let inbox = Rc::new(RefCell::new(Inbox::default()));

    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .epoch(std::time::UNIX_EPOCH)
        .min_message_latency(w.latency.0)
        .max_message_latency(w.latency.1)
        .simulation_duration(Duration::from_secs(60))
        .build();

    {
        let (broker, w) = (broker.clone(), w.clone());
        sim.host("broker", move || run_broker(broker.clone(), w.clone()));
    }
    {
        let (records, w) = (records.clone(), w.clone());
        sim.client("producer", async move { run_producer(records, w).await });
    }
    {
        let (inbox, w) = (inbox.clone(), w.clone());
        sim.client("consumer", async move { run_consumer(inbox, w).await });
    }
    sim.run()
        .unwrap_or_else(|e| panic!("turmoil seed {seed}: {e}"));

    // The benchmark must not be able to measure nothing.
    let broker = broker.borrow();
    let inbox = inbox.borrow();
    let appended: usize = broker.logs.iter().map(Vec::len).sum();
    assert_eq!(appended, records.len(), "seed {seed}: appended");
    for (p, log) in broker.logs.iter().enumerate() {
        assert_eq!(
            broker.committed[p],
            log.len() as u64,
            "seed {seed}: committed offset of partition {p}"
        );
    }
    assert_eq!(
        inbox.processed.len(),
        records.len(),
        "seed {seed}: records handled"
    );
    let mut want: BTreeMap<u32, i64> = BTreeMap::new();
    for r in records.iter() {
        *want.entry(r.key).or_default() += r.value;
    }
    assert_eq!(inbox.balance, want, "seed {seed}: balances");

    TurmoilRun {
        virtual_ms: sim.elapsed().as_millis() as u64,
        requests: broker.requests,
        consumed_digest: inbox.digest,
    }
}

// Frames: a little-endian u32 length, then the body; the body starts with a
// tag byte. Requests and their responses share the tag.
const PRODUCE: u8 = 1;
const FETCH: u8 = 2;
const COMMIT: u8 = 3;
const JOIN: u8 = 4;
const FRAME_BYTES_MAX: usize = 1 << 20;

/// A frame under construction.
struct Frame(Vec<u8>);

impl Frame {
    fn new(tag: u8) -> Frame {
        Frame(vec![0, 0, 0, 0, tag])
    }
    fn u32(mut self, x: u32) -> Frame {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    fn u64(mut self, x: u64) -> Frame {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    fn record(self, r: &Record, offset: u64) -> Frame {
        self.u32(r.partition)
            .u64(offset)
            .u32(r.id)
            .u32(r.key)
            .u64(r.value as u64)
    }
    /// Sends the frame as one TCP segment.
    async fn send(mut self, w: &mut (impl AsyncWrite + Unpin)) -> std::io::Result<()> {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_le_bytes());
        w.write_all(&self.0).await
    }
}

/// A received frame body, read front to back.
struct Body {
    bytes: Vec<u8>,
    at: usize,
}

impl Body {
    async fn recv(r: &mut (impl AsyncRead + Unpin)) -> std::io::Result<Body> {
        let len = r.read_u32_le().await? as usize;
        assert!(len > 0 && len <= FRAME_BYTES_MAX, "frame of {len} bytes");
        let mut bytes = vec![0; len];
        r.read_exact(&mut bytes).await?;
        Ok(Body { bytes, at: 0 })
    }
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let x = self.bytes[self.at..self.at + N]
            .try_into()
            .expect("N bytes");
        self.at += N;
        x
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }
    /// A record and its offset.
    fn record(&mut self) -> (Record, u64) {
        let partition = self.u32();
        let offset = self.u64();
        let r = Record {
            partition,
            id: self.u32(),
            key: self.u32(),
            value: self.u64() as i64,
            at_us: 0,
        };
        (r, offset)
    }
}

/// The broker's state: it outlives the broker task, like a disk.
struct BrokerState {
    logs: Vec<Vec<Record>>,
    /// The consumer group's committed offsets (the next offset to read).
    committed: Vec<u64>,
    requests: [u64; 3],
    /// Wakes long-polling fetches when records are appended.
    appended: Rc<Notify>,
}

impl BrokerState {
    fn new(partitions: u32) -> BrokerState {
        BrokerState {
            logs: vec![Vec::new(); partitions as usize],
            committed: vec![0; partitions as usize],
            requests: [0; 3],
            appended: Rc::new(Notify::new()),
        }
    }
}

async fn run_broker(state: Rc<RefCell<BrokerState>>, w: Workload) -> turmoil::Result {
    let listener = TcpListener::bind(("0.0.0.0", BROKER_PORT)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        let (state, w) = (state.clone(), w.clone());
        tokio::task::spawn_local(async move {
            // A client that goes away ends its connection; the run ends
            // when the clients are done, not the broker.
            let _ = serve_connection(stream, state, w).await;
        });
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    state: Rc<RefCell<BrokerState>>,
    w: Workload,
) -> std::io::Result<()> {
    loop {
        let mut req = Body::recv(&mut stream).await?;
        let response = match req.u8() {
            PRODUCE => {
                let n = req.u32();
                let mut st = state.borrow_mut();
                st.requests[0] += 1;
                for _ in 0..n {
                    let (r, _) = req.record();
                    st.logs[r.partition as usize].push(r);
                }
                st.appended.notify_waiters();
                Frame::new(PRODUCE).u32(n)
            }
            FETCH => {
                let max = req.u32();
                let positions: Vec<u64> = (0..w.partitions).map(|_| req.u64()).collect();
                state.borrow_mut().requests[1] += 1;
                // Long poll: wait for records up to fetch.max.wait.ms.
                let has_records = |st: &BrokerState| {
                    positions
                        .iter()
                        .enumerate()
                        .any(|(p, &at)| (at as usize) < st.logs[p].len())
                };
                if !has_records(&state.borrow()) {
                    let appended = state.borrow().appended.clone();
                    let _ = tokio::time::timeout(w.fetch_max_wait, appended.notified()).await;
                }
                let st = state.borrow();
                let mut out = Vec::new();
                for (p, &at) in positions.iter().enumerate() {
                    let log = &st.logs[p];
                    for (offset, r) in log.iter().enumerate().skip(at as usize) {
                        if out.len() == max as usize {
                            break;
                        }
                        out.push((*r, offset as u64));
                    }
                }
                let mut frame = Frame::new(FETCH).u32(out.len() as u32);
                for (r, offset) in &out {
                    frame = frame.record(r, *offset);
                }
                frame
            }
            COMMIT => {
                let mut st = state.borrow_mut();
                st.requests[2] += 1;
                for p in 0..w.partitions as usize {
                    let offset = req.u64();
                    assert!(offset <= st.logs[p].len() as u64, "commit past the log end");
                    st.committed[p] = offset;
                }
                Frame::new(COMMIT)
            }
            JOIN => {
                // The group's first member: the coordinator waits
                // group.initial.rebalance.delay.ms for more, then assigns
                // every partition to it.
                tokio::time::sleep(w.join_delay).await;
                Frame::new(JOIN)
            }
            tag => panic!("unknown request tag {tag}"),
        };
        response.send(&mut stream).await?;
    }
}

/// Sends each record when the application hands it over: the first record
/// of a batch starts `linger.ms`, then everything due goes in one request.
/// Acknowledgements are read concurrently; done when all are acknowledged.
async fn run_producer(records: Rc<Vec<Record>>, w: Workload) -> turmoil::Result {
    let stream = TcpStream::connect(("broker", BROKER_PORT)).await?;
    let (mut rx, mut tx) = stream.into_split();
    let start = tokio::time::Instant::now();
    let send = async {
        let mut next = 0;
        while next < records.len() {
            let due = start + Duration::from_micros(records[next].at_us);
            tokio::time::sleep_until(due).await;
            tokio::time::sleep(w.linger).await;
            let now_us = start.elapsed().as_micros() as u64;
            let end = next + records[next..].partition_point(|r| r.at_us <= now_us);
            let mut frame = Frame::new(PRODUCE).u32((end - next) as u32);
            for r in &records[next..end] {
                frame = frame.record(r, 0);
            }
            frame.send(&mut tx).await?;
            next = end;
        }
        Ok::<_, std::io::Error>(())
    };
    let acks = async {
        let mut acked = 0;
        while acked < records.len() {
            let mut resp = Body::recv(&mut rx).await?;
            assert_eq!(resp.u8(), PRODUCE);
            acked += resp.u32() as usize;
        }
        Ok::<_, std::io::Error>(())
    };
    let (sent, acked) = tokio::join!(send, acks);
    sent?;
    acked?;
    Ok(())
}

/// The consumer's store: an idempotent inbox, as `idempotent-inbox` keeps.
#[derive(Default)]
struct Inbox {
    processed: BTreeSet<u32>,
    balance: BTreeMap<u32, i64>,
    digest: u64,
}

impl Inbox {
    fn handle(&mut self, r: &Record, offset: u64) {
        for x in [u64::from(r.partition), offset, u64::from(r.id)] {
            for b in x.to_le_bytes() {
                self.digest = (self.digest ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
            }
        }
        // The inbox row and the effect go together: a repeat is skipped.
        if self.processed.insert(r.id) {
            *self.balance.entry(r.key).or_default() += r.value;
        }
    }
}

/// Fetches, handles each record, commits after each non-empty batch; done
/// when every record is committed.
async fn run_consumer(inbox: Rc<RefCell<Inbox>>, w: Workload) -> turmoil::Result {
    let mut stream = TcpStream::connect(("broker", BROKER_PORT)).await?;
    inbox.borrow_mut().digest = 0xcbf2_9ce4_8422_2325;
    // Join the group; fetch once it has assigned the partitions.
    Frame::new(JOIN).send(&mut stream).await?;
    assert_eq!(Body::recv(&mut stream).await?.u8(), JOIN);
    let mut positions = vec![0u64; w.partitions as usize];
    loop {
        let mut fetch = Frame::new(FETCH).u32(w.max_poll_records);
        for &at in &positions {
            fetch = fetch.u64(at);
        }
        fetch.send(&mut stream).await?;
        let mut resp = Body::recv(&mut stream).await?;
        assert_eq!(resp.u8(), FETCH);
        let n = resp.u32();
        if n == 0 {
            continue;
        }
        for _ in 0..n {
            let (r, offset) = resp.record();
            let at = &mut positions[r.partition as usize];
            assert_eq!(offset, *at, "records of a partition arrive in offset order");
            inbox.borrow_mut().handle(&r, offset);
            *at += 1;
        }
        let mut commit = Frame::new(COMMIT);
        for &at in &positions {
            commit = commit.u64(at);
        }
        commit.send(&mut stream).await?;
        assert_eq!(Body::recv(&mut stream).await?.u8(), COMMIT);
        if positions.iter().sum::<u64>() == u64::from(w.records) {
            return Ok(());
        }
    }
}
