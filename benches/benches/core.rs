//! criterion benchmarks of the hot paths of SPEC §9: `allows`, `record_event`
//! (with and without properties), building one 500-event batch, persisting
//! 100,000 events, a withdrawal with 100,000 queued events and `open` with
//! 100,000 events and 10,000 ledger entries.

use std::hint::black_box;

use consentgate_bench::*;
use criterion::{criterion_group, criterion_main, Criterion};

fn hot_paths(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tmp");
    let (gate, _) = open(dir.path());
    analytics(&gate, true);
    c.bench_function("allows", |b| {
        b.iter(|| black_box(gate.allows_str(black_box("usage_events"))))
    });
    c.bench_function("record_event", |b| {
        b.iter(|| {
            gate.record_event("screen_view".into(), None)
                .expect("record")
        })
    });
    c.bench_function("record_event_props_100b", |b| {
        b.iter(|| {
            gate.record_event("screen_view".into(), Some(PROPS_100B.into()))
                .expect("record")
        })
    });
    gate.persist().expect("persist");
    let dir2 = tempfile::tempdir().expect("tmp");
    let (g2, clock) = open(dir2.path());
    analytics(&g2, true);
    fill_spaced(&g2, &clock, 500);
    c.bench_function("batch_500", |b| {
        b.iter(|| {
            let (ms, _) = batch_500(&g2, &clock, 1);
            black_box(ms)
        })
    });
}

fn heavy(c: &mut Criterion) {
    let mut g = c.benchmark_group("heavy");
    g.sample_size(10);
    g.bench_function("withdraw_100k", |b| {
        b.iter_with_large_drop(|| {
            let dir = tempfile::tempdir().expect("tmp");
            black_box(withdraw_ms(dir.path(), 100_000));
            dir
        })
    });
    g.bench_function("persist_100k", |b| {
        b.iter_with_large_drop(|| {
            let dir = tempfile::tempdir().expect("tmp");
            let (gate, _) = open(dir.path());
            analytics(&gate, true);
            black_box(persist_events_per_s(&gate, 100_000));
            (gate, dir)
        })
    });
    let dir = tempfile::tempdir().expect("tmp");
    prepare_open(dir.path(), 100_000, 10_000);
    g.bench_function("open_100k", |b| b.iter(|| black_box(open_ms(dir.path()))));
    g.finish();
}

criterion_group!(benches, hot_paths, heavy);
criterion_main!(benches);
