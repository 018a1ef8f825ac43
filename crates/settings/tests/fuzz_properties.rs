//! The properties of the cargo-fuzz targets (`fuzz/fuzz_targets/`), as proptests in the
//! normal suite, so every CI run exercises them on stable Rust: the wire decoder, the
//! samples.jsonl reader, the config loader and the value parsers never panic on any
//! input, and the decoder decodes the same whatever the chunking.

use std::path::Path;

use leakcheck_analysis::{Budget, BudgetKind};
use leakcheck_probe::wire::Decoder;
use leakcheck_settings::{Config, parse_budget_flag, parse_duration_flag, parse_size_flag};
use proptest::prelude::*;

/// Bytes that look like wire or samples lines often enough to get past the first check.
fn linesish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"{\"type\":\"mark\",\"iteration\":1,\"t_ns\":5}\n".to_vec()),
        Just(b"{\"type\":\"run\",\"format\":1,\"version\":\"x\",\"scenario\":\"s\",\"argv\":[],\"started_unix\":0,\"pid\":1,\"rss_interval_s\":0.05,\"gpu_interval_s\":1,\"timeout_s\":1}\n".to_vec()),
        Just(b"{\"type\":\"tree\",\"t_s\":0.1,\"rss\":1,\"rss_tree\":2,\"pids\":1}\n".to_vec()),
        Just(b"\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn wire_decoder_decodes_the_same_in_any_chunking(bytes in linesish(), chunk in 1usize..17) {
        let mut whole = Decoder::with_max_line(64);
        let mut whole_out = Vec::new();
        whole.feed(&bytes, &mut whole_out);
        whole.finish(&mut whole_out);
        let mut pieces = Decoder::with_max_line(64);
        let mut pieces_out = Vec::new();
        for part in bytes.chunks(chunk) {
            pieces.feed(part, &mut pieces_out);
        }
        pieces.finish(&mut pieces_out);
        prop_assert_eq!(&whole_out, &pieces_out);
        prop_assert_eq!(whole.stats(), pieces.stats());
        prop_assert_eq!(whole.stats().decoded as usize, whole_out.len());
    }

    #[test]
    fn samples_reader_never_panics(bytes in linesish()) {
        if let Ok(run) = leakcheck_records::read_run_from(&bytes[..], Path::new("p.jsonl")) {
            for metric in run.timeline.metrics() {
                let _ = run.timeline.series(metric);
            }
        }
    }

    #[test]
    fn config_loader_never_panics(text in "[\\[\\]a-z_.=\" {},0-9\n-]{0,200}") {
        let _ = Config::from_str(&text, Path::new("p.toml"));
    }

    #[test]
    fn value_parsers_never_panic_and_sizes_are_never_negative(text in "\\PC{0,24}") {
        for kind in BudgetKind::ALL {
            if let Ok(b) = Budget::parse("k", kind, &text) {
                prop_assert!(b.limit.bytes() >= 0.0, "{:?} -> {:?}", text, b);
            }
        }
        let _ = parse_size_flag("--ceiling", &text);
        let _ = parse_duration_flag("--timeout", &text);
        let _ = parse_budget_flag(&text);
    }
}
