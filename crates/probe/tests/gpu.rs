//! The GPU sampler degrades to `Unavailable` without a driver, and nothing else in
//! the same process is affected by that.

use leakcheck_probe::alloc::AllocSampler;
use leakcheck_probe::gpu::{GpuSampler, GpuStatus};
use leakcheck_probe::process::ProcessSampler;
use leakcheck_probe::wire::{Decoder, Message};
use leakcheck_probe::{Probe, SampleError, Sampler, metrics};
use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[test]
fn gpu_sampler_reports_why_it_is_unavailable_and_the_rest_still_works() {
    let mut gpu = GpuSampler::new();
    println!("GPU status: {:?}", gpu.status());
    let mut readings = Vec::new();
    match gpu.status().clone() {
        GpuStatus::Unavailable { reason } => {
            // The loader's reason, naming the library it could not load.
            assert!(reason.contains("libnvidia-ml.so"), "reason: {reason}");
            match gpu.sample(&mut readings) {
                Err(SampleError::Unavailable { reason: r }) => assert_eq!(r, reason),
                other => panic!("expected Unavailable, got {other:?}"),
            }
            assert!(matches!(
                gpu.devices(),
                Err(SampleError::Unavailable { .. })
            ));
            assert!(matches!(
                gpu.process_used(&[std::process::id()]),
                Err(SampleError::Unavailable { .. })
            ));
            assert!(readings.is_empty());
        }
        GpuStatus::Available { devices, driver } => {
            // On a machine with a driver: real figures.
            let devs = gpu.devices().expect("device query");
            assert_eq!(devs.len() as u32, devices);
            println!("driver {driver}: {devs:?}");
            assert!(devs.iter().all(|d| d.used <= d.total && d.total > 0));
            gpu.set_pids(Some(vec![std::process::id()]));
            gpu.sample(&mut readings).expect("gpu sample");
            assert_eq!(readings[0].metric, metrics::GPU_DEVICE);
            assert_eq!(readings[1].metric, metrics::GPU_PROCESS);
            readings.clear();
        }
    }

    // The other samplers, in the same process.
    let mut procs = ProcessSampler::new(std::process::id());
    procs.sample(&mut readings).expect("procfs sampler");
    let mut allocs = AllocSampler::new();
    allocs.sample(&mut readings).expect("jemalloc sampler");
    let names: Vec<&str> = readings.iter().map(|r| r.metric.as_ref()).collect();
    assert_eq!(
        names,
        [
            metrics::RSS,
            metrics::RSS_TREE,
            metrics::ALLOC_ALLOCATED,
            metrics::ALLOC_ACTIVE,
            metrics::ALLOC_RESIDENT,
            metrics::ALLOC_MAPPED,
            metrics::ALLOC_METADATA
        ]
    );
    assert!(readings.iter().all(|r| r.bytes > 0), "{readings:?}");

    // And a Probe writing to a pipe.
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: freshly created, owned by nobody else.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let probe = Probe::from_fd(write);
    probe.mark(0);
    probe.end();
    let stats = probe.last_mark_stats().unwrap();
    drop(probe);
    let mut bytes = Vec::new();
    std::fs::File::from(read).read_to_end(&mut bytes).unwrap();
    let mut msgs = Vec::new();
    let mut d = Decoder::new();
    d.feed(&bytes, &mut msgs);
    d.finish(&mut msgs);
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(matches!(&msgs[0], Message::Hello { allocator, .. } if allocator == "jemalloc"));
    assert!(
        matches!(&msgs[1], Message::Mark { measured, .. } if measured.alloc.is_some() && measured.rss_bytes.is_some() && measured.rss_bytes == stats.rss_bytes)
    );
    assert!(matches!(msgs[2], Message::End { .. }));
}
