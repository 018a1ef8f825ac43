//! Growth per site between two profiles, the client's sites per mark, and shares.

use leakcheck_attribution::{
    Measured, attribution, client_sites, dhat_growth, parse_dhat, unavailable,
};
use leakcheck_records::AttributionRecord;
use leakcheck_summary::words;

/// A dhat file with one program point per `(frame, bytes live at the end)`.
fn dhat(points: &[(&str, u64)]) -> String {
    let frames: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (f, _))| format!("\"0x{i}: {f}\""))
        .collect();
    let pps: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (_, eb))| format!("{{\"tb\":1,\"tbk\":1,\"eb\":{eb},\"fs\":[{}]}}", i + 1))
        .collect();
    format!(
        "{{\"dhatFileVersion\":2,\"mode\":\"rust-heap\",\"pps\":[{}],\"ftbl\":[\"[root]\",{}]}}",
        pps.join(","),
        frames.join(",")
    )
}

fn workspace() -> Vec<String> {
    [
        "crates/a/src/kept.rs",
        "crates/a/src/cache.rs",
        "crates/a/src/noise.rs",
    ]
    .map(String::from)
    .to_vec()
}

#[test]
fn growth_is_the_difference_of_end_bytes_over_the_difference_of_lengths() {
    let short = dhat(&[
        ("a::kept (a/src/kept.rs:10:1)", 60 * 1000 + 5000),
        ("a::cache (a/src/cache.rs:20:1)", 1 << 20),
        ("a::noise (a/src/noise.rs:30:1)", 300),
    ]);
    let long = dhat(&[
        ("a::kept (a/src/kept.rs:10:1)", 120 * 1000 + 5000),
        ("a::cache (a/src/cache.rs:20:1)", 1 << 20),
        ("a::noise (a/src/noise.rs:30:1)", 100),
    ]);
    let (s, l) = (
        parse_dhat(&short, &workspace()).unwrap(),
        parse_dhat(&long, &workspace()).unwrap(),
    );
    let sites = dhat_growth(&s, 60, &l, 120).unwrap();
    // The bounded cache is the same at both lengths and the shrinking site is no growth:
    // only the kept bytes remain, at 1000 B per iteration.
    assert_eq!(sites.len(), 1, "{sites:?}");
    assert_eq!(sites[0].location, "crates/a/src/kept.rs:10");
    assert_eq!(sites[0].function, "a::kept");
    assert!((sites[0].bytes_per_iter - 1000.0).abs() < 1e-9);
    // The order of the two profiles does not matter.
    let swapped = dhat_growth(&l, 120, &s, 60).unwrap();
    assert_eq!(swapped[0].location, sites[0].location);
    assert_eq!(swapped[0].bytes_per_iter, sites[0].bytes_per_iter);
    assert!(dhat_growth(&s, 60, &l, 60).is_err());

    let a = attribution(
        "dhat",
        "iteration",
        Vec::new(),
        sites,
        Some(&Measured {
            metric: "alloc.allocated".into(),
            rate: 1250.0,
        }),
    );
    assert!((a.sites[0].share - 0.8).abs() < 1e-9);
    assert_eq!(
        words::attribution_sum(&a),
        "the top 1 site adds +1000 B/iter, 80% of alloc.allocated's measured +1.22 KiB/iter (dhat passes)"
    );
    assert_eq!(
        words::top_site(&a).unwrap(),
        "crates/a/src/kept.rs:10 (a::kept) +1000 B/iter, 80%"
    );
}

#[test]
fn client_sites_are_per_mark_and_relative_to_the_program_folder() {
    let record: AttributionRecord = serde_json::from_str(
        r#"{"t_s":1.0,"method":"tracemalloc","from_iteration":9,"to_iteration":209,"marks":200,
            "sites":[
              {"location":"/w/prog.py:12","function":"step","bytes":4915200,"blocks":200,"stack":["/w/prog.py:12 in step","/w/prog.py:20 in <module>"]},
              {"location":"/usr/lib/python3.11/json/encoder.py:200","function":"encode","bytes":200000,"blocks":1,"stack":[]},
              {"location":"/w/prog.py:15","function":"step","bytes":-4096,"blocks":-1,"stack":[]}
            ]}"#,
    )
    .unwrap();
    let sites = client_sites(&record, "/w");
    assert_eq!(sites.len(), 2, "the shrinking site is left out: {sites:?}");
    assert_eq!(sites[0].location, "prog.py:12");
    assert_eq!(
        sites[0].stack,
        ["prog.py:12 in step", "prog.py:20 in <module>"]
    );
    assert!((sites[0].bytes_per_iter - 24576.0).abs() < 1e-9);
    assert_eq!(sites[1].location, "/usr/lib/python3.11/json/encoder.py:200");
}

#[test]
fn a_pass_that_could_not_run_says_why_and_lists_nothing() {
    let a = unavailable("dhat", "iteration", Vec::new(), "its build failed".into());
    assert!(a.sites.is_empty());
    assert_eq!(
        words::attribution_sum(&a),
        "no allocation sites: its build failed (the verdict stands as judged)"
    );
    assert_eq!(words::top_site(&a), None);
}
