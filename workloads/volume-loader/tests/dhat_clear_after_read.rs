//! dhat testing mode: with the fix, live heap after read 200 equals that after read 50
//! within the cache budget.

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

#[path = "common/dhat_reads.rs"]
mod dhat_reads;

#[test]
fn clear_after_read_keeps_the_heap_flat() {
    let run = dhat_reads::run(volume_loader::ViewCache::ClearAfterRead);
    println!("{run:?}");
    assert!(
        run.intermediate_bytes_per_read > 0,
        "reads allocate intermediates: {run:?}"
    );
    let drift = run.heap_after_200.abs_diff(run.heap_after_50);
    assert!(
        drift <= dhat_reads::CACHE_BYTES,
        "heap moved by {drift} B between reads 50 and 200 (budget {} B): {run:?}",
        dhat_reads::CACHE_BYTES
    );
}
