//! Cost of one sample of each sampler and of one full mark.
//! Results land in `target/criterion/probe/<name>/new/estimates.json` (median in
//! `median.point_estimate`, ns).
//! `cargo bench -p leakcheck-probe --bench samplers -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, criterion_group, criterion_main};
use leakcheck_probe::gpu::GpuSampler;
use leakcheck_probe::process::{ProcessMemory, ProcessTree};
use leakcheck_probe::wire::{Measured, Message, encode};
use leakcheck_probe::{Probe, Sampler, alloc, monotonic_ns};
use std::hint::black_box;
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn procfs(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe");
    let mut me = ProcessMemory::current().unwrap();
    g.bench_function("rss_statm", |b| b.iter(|| me.rss_bytes().unwrap()));
    g.bench_function("status", |b| b.iter(|| me.status().unwrap()));
    g.bench_function("smaps_rollup", |b| b.iter(|| me.smaps_rollup().unwrap()));

    // A real tree: this process and two idle children.
    let mut kids: Vec<_> = (0..2)
        .map(|_| {
            Command::new("sleep")
                .arg("600")
                .stdin(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut tree = ProcessTree::new(std::process::id());
    assert_eq!(tree.sample(false).unwrap().pids.len(), 3);
    g.bench_function("tree_3_processes", |b| {
        b.iter(|| tree.sample(false).unwrap())
    });
    for k in &mut kids {
        let _ = k.kill();
        let _ = k.wait();
    }
}

fn jemalloc(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe");
    // Single-threaded benchmark: only arena 0 is initialised.
    alloc::stats().unwrap();
    g.bench_function("jemalloc_stats_one_arena", |b| {
        b.iter(|| alloc::stats().unwrap())
    });
}

fn gpu(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe");
    let mut gpu = GpuSampler::new();
    eprintln!("GPU: {:?}", gpu.status());
    let mut out = Vec::new();
    g.bench_function("gpu_sample", |b| {
        b.iter(|| {
            out.clear();
            black_box(gpu.sample(&mut out).is_ok())
        })
    });
    g.bench_function("gpu_new", |b| b.iter(GpuSampler::new));
}

fn mark(c: &mut Criterion) {
    let mut g = c.benchmark_group("probe");
    let mut buf = Vec::with_capacity(512);
    let msg = Message::Mark {
        iteration: 123,
        t_ns: monotonic_ns(),
        measured: Measured {
            rss_bytes: Some(1 << 30),
            alloc: Some(alloc::stats().unwrap()),
            stats: Default::default(),
        },
    };
    g.bench_function("encode_mark", |b| {
        b.iter(|| {
            buf.clear();
            encode(black_box(&msg), &mut buf);
        })
    });

    // One full mark (RSS + jemalloc stats + encode + write) into a pipe that a
    // thread drains, as the runner would.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: freshly created, owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let drain = std::thread::spawn(move || {
        let mut f = std::fs::File::from(read);
        let mut chunk = [0u8; 65536];
        let mut total = 0usize;
        while let Ok(n @ 1..) = f.read(&mut chunk) {
            total += n;
        }
        total
    });
    let probe = Probe::from_fd(write);
    let mut i = 0;
    g.bench_function("full_mark_to_pipe", |b| {
        b.iter(|| {
            probe.mark(i);
            i += 1;
        })
    });
    drop(probe);
    let bytes = drain.join().unwrap();
    eprintln!("full_mark_to_pipe: {i} marks, {bytes} bytes through the pipe");
}

criterion_group!(benches, procfs, jemalloc, gpu, mark);
criterion_main!(benches);
