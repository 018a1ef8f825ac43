//! jemalloc stats and RSS track a real 64 MiB allocation (one test: the numbers
//! are process-wide, so nothing else may allocate in parallel in this binary).

use leakcheck_probe::alloc;
use leakcheck_probe::process::ProcessMemory;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const MIB: u64 = 1 << 20;

fn mib(b: u64) -> f64 {
    b as f64 / MIB as f64
}

#[test]
fn touching_64_mib_shows_in_rss_and_allocated_and_purge_returns_it() {
    let mut me = ProcessMemory::current().expect("open /proc/self");
    alloc::purge().expect("purge");
    let start = alloc::stats().expect("jemalloc stats (jemalloc is the global allocator here)");
    let rss_start = me.rss_bytes().unwrap();

    // Allocate and touch 64 MiB as 64 blocks of 1 MiB (vec![1; n] writes each byte).
    // Blocks below jemalloc's 8 MiB oversize threshold come from the normal arena,
    // whose freed pages stay resident (dirty, ~10 s decay) until purged: the case
    // `purge()` exists for. (One 64 MiB block would be unmapped at once on free.)
    let blocks: Vec<Vec<u8>> = (0..64)
        .map(|_| std::hint::black_box(vec![1u8; MIB as usize]))
        .collect();
    let held = alloc::stats().unwrap();
    let rss_held = me.rss_bytes().unwrap();
    println!(
        "start: allocated {:.2} MiB, resident {:.2} MiB, rss {:.2} MiB",
        mib(start.allocated),
        mib(start.resident),
        mib(rss_start)
    );
    println!(
        "held:  allocated {:.2} MiB (+{:.2}), resident {:.2} MiB, rss {:.2} MiB (+{:.2})",
        mib(held.allocated),
        mib(held.allocated - start.allocated),
        mib(held.resident),
        mib(rss_held),
        mib(rss_held.saturating_sub(rss_start))
    );
    let touched: u64 = blocks
        .iter()
        .flat_map(|b| b.iter().step_by(4096))
        .map(|&b| b as u64)
        .sum();
    assert_eq!(touched, 64 * MIB / 4096);
    assert!(held.allocated >= start.allocated + 60 * MIB);
    assert!(rss_held >= rss_start + 60 * MIB);
    assert!(held.active >= held.allocated && held.resident >= held.active);
    assert!(held.mapped >= held.resident);

    drop(blocks);
    let freed = alloc::stats().unwrap();
    println!(
        "freed: allocated {:.2} MiB (diff {:+} bytes), resident {:.2} MiB",
        mib(freed.allocated),
        freed.allocated as i64 - start.allocated as i64,
        mib(freed.resident)
    );
    assert!(freed.allocated.abs_diff(start.allocated) <= MIB);
    // Freed but not returned: what RSS alone would mislabel as a leak.
    assert!(
        freed.resident >= start.resident + 32 * MIB,
        "expected jemalloc to keep the freed pages dirty until purge"
    );

    alloc::purge().unwrap();
    let purged = alloc::stats().unwrap();
    let rss_purged = me.rss_bytes().unwrap();
    println!(
        "purged: resident {:.2} MiB (diff {:+.2} MiB), rss {:.2} MiB, retained {:.2} MiB",
        mib(purged.resident),
        (purged.resident as f64 - start.resident as f64) / MIB as f64,
        mib(rss_purged),
        mib(purged.retained)
    );
    assert!(purged.resident.abs_diff(start.resident) <= 8 * MIB);
}
