//! The v1 wire format: every message round-trips, and the decoder survives bad input.

use leakcheck_probe::wire::{
    AllocStats, DecodeStats, Decoder, MAX_LINE_BYTES, Measured, Message, SessionEvent,
    WIRE_VERSION, encode,
};

fn every_message() -> Vec<Message> {
    vec![
        Message::Hello {
            version: WIRE_VERSION,
            pid: 4242,
            allocator: "jemalloc".into(),
        },
        Message::Mark {
            iteration: 7,
            t_ns: 123_456_789_012,
            measured: Measured {
                rss_bytes: Some(64 << 20),
                alloc: Some(AllocStats {
                    allocated: 1,
                    active: 2,
                    resident: 3,
                    mapped: 4,
                    metadata: 5,
                    retained: 6,
                }),
                stats: Default::default(),
            },
        },
        Message::Mark {
            iteration: u64::MAX,
            t_ns: 0,
            measured: Measured {
                rss_bytes: None,
                alloc: None,
                stats: [("py.blocks".to_owned(), 123_456.0)].into(),
            },
        },
        Message::Session {
            event: SessionEvent::Start,
            id: 1,
            label: "train 3 samples".into(),
            t_ns: 10,
        },
        Message::Session {
            event: SessionEvent::End,
            id: 1,
            label: "quote \" backslash \\ newline \n tab \t ünïcødé 🚀".into(),
            t_ns: 11,
        },
        Message::Note {
            text: "checkpoint saved\u{0}".into(),
            t_ns: 12,
        },
        Message::Checkpoint {
            id: 2,
            label: "after releasing session 1".into(),
            t_ns: 12,
            measured: Measured {
                rss_bytes: Some(4096),
                alloc: None,
                stats: Default::default(),
            },
        },
        Message::Attribution {
            method: "tracemalloc".into(),
            from_iteration: 9,
            to_iteration: 399,
            marks: 390,
            t_ns: 14,
            sites: vec![leakcheck_probe::wire::WireSite {
                location: "/w/prog.py:27".into(),
                function: "step".into(),
                bytes: 9_437_184,
                blocks: 390,
                stack: vec!["/w/prog.py:27 in step".into()],
            }],
        },
        Message::End { t_ns: 13 },
    ]
}

fn decode_whole(bytes: &[u8]) -> (Vec<Message>, DecodeStats) {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    d.feed(bytes, &mut out);
    d.finish(&mut out);
    (out, d.stats().clone())
}

#[test]
fn every_message_type_round_trips_one_line_each() {
    let msgs = every_message();
    for m in &msgs {
        let mut line = Vec::new();
        encode(m, &mut line);
        assert_eq!(line.last(), Some(&b'\n'), "{m:?}");
        assert_eq!(
            line.iter().filter(|&&b| b == b'\n').count(),
            1,
            "embedded newline must be escaped: {m:?}"
        );
        let (back, stats) = decode_whole(&line);
        assert_eq!(back, vec![m.clone()]);
        assert_eq!((stats.lines, stats.decoded), (1, 1));
    }
}

#[test]
fn wire_shape_matches_the_documented_format() {
    // What a Python writer produces (README example), field order and extras free.
    let text = concat!(
        r#"{"type":"hello","version":1,"pid":99,"allocator":"python"}"#,
        "\n",
        r#"{"t_ns":5,"iteration":0,"type":"mark","rss_bytes":1048576,"extra":{"x":1}}"#,
        "\n",
        r#"{"type":"session","event":"start","id":2,"label":"s","t_ns":6}"#,
        "\n",
        r#"{"type":"note","text":"hi","t_ns":7}"#,
        "\r\n",
        r#"{"type":"end","t_ns":8}"#,
        "\n"
    );
    let (msgs, stats) = decode_whole(text.as_bytes());
    assert_eq!(stats.decoded, 5, "{stats:?}");
    assert_eq!(
        msgs[1],
        Message::Mark {
            iteration: 0,
            t_ns: 5,
            measured: Measured {
                rss_bytes: Some(1 << 20),
                alloc: None,
                stats: Default::default(),
            },
        }
    );
    // And the encoder writes the tag as "type" with snake_case names.
    let mut line = Vec::new();
    encode(&msgs[2], &mut line);
    let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(v["type"], "session");
    assert_eq!(v["event"], "start");
}

/// Valid lines interleaved with every kind of bad line the decoder must survive.
fn hostile_stream() -> (Vec<u8>, Vec<Message>) {
    let valid = every_message();
    let mut bytes = Vec::new();
    let push_valid = |bytes: &mut Vec<u8>, i: usize| encode(&valid[i], bytes);
    push_valid(&mut bytes, 0);
    bytes.extend_from_slice(b"this is not json\n");
    push_valid(&mut bytes, 1);
    bytes.extend_from_slice(b"{\"type\":\"mark\",\"iteration\":\"seven\"}\n"); // wrong field type
    bytes.extend_from_slice(b"\n\n"); // blank lines are ignored, not counted
    // A 1 MiB line (valid JSON, but over the 64 KiB limit).
    bytes.extend_from_slice(b"{\"type\":\"note\",\"t_ns\":1,\"text\":\"");
    bytes.extend(std::iter::repeat_n(b'x', 1 << 20));
    bytes.extend_from_slice(b"\"}\n");
    push_valid(&mut bytes, 2);
    bytes.extend_from_slice(b"{\"type\":\"note\",\"text\":\"\xff\xfe bad\",\"t_ns\":1}\n"); // invalid UTF-8
    push_valid(&mut bytes, 3);
    bytes.extend_from_slice(b"{\"type\":\"gpu_sample\",\"bytes\":1}\n"); // from a newer writer
    bytes.extend_from_slice(b"{\"type\":\"gpu_sample\",\"bytes\":2}\n");
    bytes.extend_from_slice(b"[1,2,3]\n");
    push_valid(&mut bytes, 6);
    bytes.extend_from_slice(b"{\"type\":\"mark\",\"iteration\":8,\"t_"); // writer died here
    let expected = vec![
        valid[0].clone(),
        valid[1].clone(),
        valid[2].clone(),
        valid[3].clone(),
        valid[6].clone(),
    ];
    (bytes, expected)
}

#[test]
fn decoder_counts_garbage_oversized_non_utf8_and_truncated_lines_and_keeps_the_rest() {
    let (bytes, expected) = hostile_stream();
    let (msgs, stats) = decode_whole(&bytes);
    assert_eq!(msgs, expected);
    assert_eq!(
        stats,
        DecodeStats {
            lines: 13,
            decoded: 5,
            malformed: 3, // "not json", wrong field type, [1,2,3]
            oversized: 1,
            invalid_utf8: 1,
            unknown_types: 2,
            truncated: 1,
            unknown_type_names: vec!["gpu_sample".into()],
            problems: stats.problems.clone(),
        }
    );
    eprintln!("{:#?}", stats.problems);
    assert_eq!(
        stats.problems.len(),
        6,
        "3 malformed, 1 oversized, 1 not UTF-8, 1 truncated"
    );
    assert!(
        stats.problems.iter().any(|p| p.ends_with(": not UTF-8")),
        "{:?}",
        stats.problems
    );
}

#[test]
fn feeding_byte_by_byte_equals_feeding_whole() {
    let (bytes, _) = hostile_stream();
    let whole = decode_whole(&bytes);
    let mut d = Decoder::new();
    let mut out = Vec::new();
    for b in &bytes {
        d.feed(std::slice::from_ref(b), &mut out);
    }
    d.finish(&mut out);
    assert_eq!((out, d.stats().clone()), whole);

    // And some uneven chunkings, including ones that split the '\r\n' and UTF-8.
    for chunk in [2, 3, 7, 64, 4095, 65_537] {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for c in bytes.chunks(chunk) {
            d.feed(c, &mut out);
        }
        d.finish(&mut out);
        assert_eq!((out, d.stats().clone()), whole, "chunk size {chunk}");
    }
}

#[test]
fn line_limit_is_exact_and_configurable() {
    let mut line = Vec::new();
    encode(&Message::End { t_ns: 1 }, &mut line);
    let len = line.len() - 1; // without '\n'
    for (max, decoded, oversized) in [(len, 1, 0), (len - 1, 0, 1)] {
        let mut d = Decoder::with_max_line(max);
        let mut out = Vec::new();
        d.feed(&line, &mut out);
        d.finish(&mut out);
        assert_eq!(
            (d.stats().decoded, d.stats().oversized),
            (decoded, oversized),
            "max {max}"
        );
    }
    assert_eq!(MAX_LINE_BYTES, 64 * 1024);
}

#[test]
fn a_complete_last_line_without_newline_is_decoded_not_truncated() {
    let (msgs, stats) = decode_whole(br#"{"type":"end","t_ns":3}"#);
    assert_eq!(msgs, vec![Message::End { t_ns: 3 }]);
    assert_eq!((stats.decoded, stats.truncated), (1, 0));
    // An oversized last line without newline is both oversized and truncated.
    let mut d = Decoder::with_max_line(8);
    let mut out = Vec::new();
    d.feed(b"0123456789abcdef", &mut out);
    d.finish(&mut out);
    assert_eq!(
        (d.stats().oversized, d.stats().truncated, d.stats().lines),
        (1, 1, 1)
    );
}

#[test]
fn unknown_type_names_are_bounded() {
    let mut bytes = Vec::new();
    for i in 0..100 {
        bytes.extend_from_slice(format!("{{\"type\":\"new_{i}\"}}\n").as_bytes());
    }
    let (msgs, stats) = decode_whole(&bytes);
    assert!(msgs.is_empty());
    assert_eq!(stats.unknown_types, 100);
    assert_eq!(
        stats.unknown_type_names.len(),
        leakcheck_probe::wire::MAX_UNKNOWN_NAMES
    );
}

/// A `stats` object keeps its numbers; a value that is not one (null, a string, an
/// object) costs that value alone, never the mark's iteration.
#[test]
fn a_mark_with_a_bad_stat_keeps_its_iteration_and_its_good_stats() {
    let mut d = Decoder::new();
    let mut out = Vec::new();
    d.feed(
        br#"{"type":"mark","iteration":3,"t_ns":9,"stats":{"py.blocks":41,"py.gc.gen0":null,"x":"y","nested":{"a":1}}}
"#,
        &mut out,
    );
    assert_eq!(d.stats().malformed, 0, "{:?}", d.stats());
    match &out[..] {
        [
            Message::Mark {
                iteration: 3,
                measured,
                ..
            },
        ] => assert_eq!(measured.stats, [("py.blocks".to_owned(), 41.0)].into()),
        other => panic!("{other:?}"),
    }
}
