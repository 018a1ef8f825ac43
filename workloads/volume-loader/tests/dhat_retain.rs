//! dhat testing mode: with the bug, live heap grows by (nearly) every read's intermediates.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[path = "common/dhat_reads.rs"]
mod dhat_reads;

#[test]
fn retain_grows_by_the_intermediates_of_every_read() {
    let run = dhat_reads::run(volume_loader::ViewCache::Retain);
    println!("{run:?}");
    let expected = 150 * run.intermediate_bytes_per_read;
    let growth = run.heap_after_200.saturating_sub(run.heap_after_50);
    assert!(
        growth as f64 >= 0.9 * expected as f64,
        "heap grew by {growth} B, expected at least 90% of {expected} B: {run:?}"
    );
}
