//! The wire decoder on any bytes in any chunking: never panics, and decodes and counts
//! the same whichever the chunking.
#![no_main]

use leakcheck_probe::wire::Decoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut whole = Decoder::with_max_line(256);
    let mut whole_out = Vec::new();
    whole.feed(bytes, &mut whole_out);
    whole.finish(&mut whole_out);

    let mut pieces = Decoder::with_max_line(256);
    let mut pieces_out = Vec::new();
    for part in bytes.chunks(chunk) {
        pieces.feed(part, &mut pieces_out);
    }
    pieces.finish(&mut pieces_out);

    assert_eq!(whole_out, pieces_out);
    assert_eq!(whole.stats(), pieces.stats());
    let s = whole.stats();
    assert_eq!(s.decoded as usize, whole_out.len(), "{s:?}");
    assert!(s.decoded <= s.lines, "{s:?}");
});
