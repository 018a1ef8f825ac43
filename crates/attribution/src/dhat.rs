//! dhat's heap profile (`dhat-heap.json`, file version 2), folded by workspace frame.
//!
//! Each program point (`pps`) is one allocation stack with, among others, `eb`: its bytes
//! still live when the profile stopped. Its frames (`fs`, innermost first) index the
//! frame table `ftbl`, whose entries read `0x5581…: crate::module::function
//! (crate-dir/src/file.rs:LINE:COL)`, the path trimmed by dhat to its last three parts.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::AttributionError;

/// Symbols of the global-allocator glue rustc generates (`__rust_alloc_zeroed`,
/// `__rg_alloc`, …).
const ALLOCATOR_SHIMS: [&str; 2] = ["__rust_", "__rg_"];

/// Frames kept in a site's stack.
const STACK_FRAMES: usize = 16;

#[derive(Deserialize)]
struct DhatFile {
    #[serde(rename = "dhatFileVersion")]
    version: u32,
    mode: String,
    pps: Vec<ProgramPoint>,
    ftbl: Vec<String>,
}

#[derive(Deserialize)]
struct ProgramPoint {
    /// Bytes live at the end of the profile.
    #[serde(default)]
    eb: u64,
    fs: Vec<usize>,
}

/// One frame of a dhat stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub function: String,
    /// As dhat wrote it (trimmed), or the workspace path it resolved to.
    pub file: String,
    pub line: u32,
    /// The file is one of the workspace's.
    pub in_workspace: bool,
}

impl Frame {
    /// `path:line in function`.
    fn describe(&self) -> String {
        format!("{}:{} in {}", self.file, self.line, self.function)
    }
}

/// What one workspace site holds at the end of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteBytes {
    pub function: String,
    pub bytes: u64,
    /// The stack of the program point that held the most, innermost first.
    pub stack: Vec<String>,
    most: u64,
}

/// A profile folded by location (`workspace/file.rs:LINE` of the innermost workspace
/// frame; allocations without one are folded by their innermost frame).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DhatProfile {
    pub sites: BTreeMap<String, SiteBytes>,
    /// Bytes live at the end, over all sites.
    pub end_bytes: u64,
}

/// Parses `dhat-heap.json` text. `workspace_files` are the workspace's source files,
/// relative to its root (`workloads/volume-loader/src/image.rs`), which dhat's trimmed
/// paths are matched against.
pub fn parse_dhat(json: &str, workspace_files: &[String]) -> Result<DhatProfile, AttributionError> {
    let file: DhatFile =
        serde_json::from_str(json).map_err(|e| AttributionError::NotDhat(e.to_string()))?;
    if file.version != 2 || file.mode != "rust-heap" {
        return Err(AttributionError::NotDhat(format!(
            "file version {} in mode {:?}, expected version 2 in mode \"rust-heap\"",
            file.version, file.mode
        )));
    }
    let frames: Vec<Option<Frame>> = file
        .ftbl
        .iter()
        .map(|f| parse_frame(f, workspace_files))
        .collect();
    let mut profile = DhatProfile::default();
    for pp in file.pps.iter().filter(|pp| pp.eb > 0) {
        let stack: Vec<&Frame> = pp
            .fs
            .iter()
            .filter_map(|&i| frames.get(i).and_then(Option::as_ref))
            .collect();
        let Some(site) = stack
            .iter()
            .find(|f| f.in_workspace)
            .or_else(|| stack.first())
        else {
            continue;
        };
        profile.end_bytes += pp.eb;
        let entry = profile
            .sites
            .entry(format!("{}:{}", site.file, site.line))
            .or_insert_with(|| SiteBytes {
                function: site.function.clone(),
                bytes: 0,
                stack: Vec::new(),
                most: 0,
            });
        entry.bytes += pp.eb;
        if pp.eb > entry.most {
            entry.most = pp.eb;
            entry.stack = stack
                .iter()
                .take(STACK_FRAMES)
                .map(|f| f.describe())
                .collect();
        }
    }
    if profile.end_bytes > 0 && !frames.iter().flatten().any(|f| f.in_workspace) {
        return Err(AttributionError::Unsymbolized {
            bytes: profile.end_bytes,
        });
    }
    Ok(profile)
}

/// `0x55…: name (file:line:col)`; `None` for `[root]` and anything else unreadable.
fn parse_frame(text: &str, workspace_files: &[String]) -> Option<Frame> {
    let (_, rest) = text.split_once(": ")?;
    let open = rest.rfind(" (")?;
    let function = rest[..open].to_owned();
    let place = rest[open + 2..].strip_suffix(')')?;
    let mut parts = place.rsplitn(3, ':');
    let _column = parts.next()?;
    let line: u32 = parts.next()?.parse().ok()?;
    let file = parts.next()?;
    // The allocator shims are generated at the `#[global_allocator]` static, so they
    // carry a workspace file and line that says nothing about who allocated.
    let shim = ALLOCATOR_SHIMS.iter().any(|p| function.starts_with(p));
    let suffix = format!("/{file}");
    let resolved = workspace_files
        .iter()
        .find(|w| !shim && (*w == file || w.ends_with(&suffix)));
    Some(Frame {
        function,
        file: resolved.map_or_else(|| file.to_owned(), Clone::clone),
        line,
        in_workspace: resolved.is_some(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> Vec<String> {
        vec![
            "workloads/volume-loader/src/image.rs".to_owned(),
            "scenarios/loader-loop/src/main.rs".to_owned(),
        ]
    }

    #[test]
    fn a_frame_resolves_dhats_trimmed_path_to_the_workspace_file() {
        let f = parse_frame(
            "0x55d1: volume_loader::image::View::crop (volume-loader/src/image.rs:382:17)",
            &workspace(),
        )
        .unwrap();
        assert_eq!(f.file, "workloads/volume-loader/src/image.rs");
        assert_eq!((f.line, f.in_workspace), (382, true));
        assert_eq!(f.function, "volume_loader::image::View::crop");
        let lib = parse_frame(
            "0x55d2: alloc::vec::Vec<T>::with_capacity (src/vec/mod.rs:481:9)",
            &workspace(),
        )
        .unwrap();
        assert!(!lib.in_workspace);
        assert_eq!(lib.file, "src/vec/mod.rs");
        assert_eq!(parse_frame("[root]", &workspace()), None);
    }

    #[test]
    fn program_points_fold_to_their_innermost_workspace_frame() {
        let json = r#"{"dhatFileVersion":2,"mode":"rust-heap","verb":"Allocated","pps":[
            {"tb":1,"tbk":1,"eb":1000,"fs":[1,2,3]},
            {"tb":1,"tbk":1,"eb":500,"fs":[1,2,4]},
            {"tb":1,"tbk":1,"eb":0,"fs":[1,4]},
            {"tb":1,"tbk":1,"eb":7,"fs":[1]},
            {"tb":1,"tbk":1,"eb":64,"fs":[5,2]}
        ],"ftbl":["[root]",
            "0x1: alloc::raw_vec::finish_grow (src/raw_vec/mod.rs:1:1)",
            "0x2: volume_loader::image::View::crop (volume-loader/src/image.rs:382:17)",
            "0x3: loader_loop::run (loader-loop/src/main.rs:240:9)",
            "0x4: loader_loop::main (loader-loop/src/main.rs:300:5)",
            "0x5: __rust_alloc_zeroed (loader-loop/src/main.rs:21:1)"]}"#;
        let p = parse_dhat(json, &workspace()).unwrap();
        assert_eq!(p.end_bytes, 1571);
        // The allocator shim sits at the `#[global_allocator]` line: never the site.
        let crop = &p.sites["workloads/volume-loader/src/image.rs:382"];
        assert_eq!(crop.bytes, 1564);
        assert_eq!(crop.function, "volume_loader::image::View::crop");
        assert_eq!(
            crop.stack,
            [
                "src/raw_vec/mod.rs:1 in alloc::raw_vec::finish_grow",
                "workloads/volume-loader/src/image.rs:382 in volume_loader::image::View::crop",
                "scenarios/loader-loop/src/main.rs:240 in loader_loop::run"
            ]
        );
        // No workspace frame: folded by its innermost one.
        assert_eq!(p.sites["src/raw_vec/mod.rs:1"].bytes, 7);
    }

    /// What dhat wrote for a pass whose binary was replaced while it ran (a concurrent
    /// `cargo build`): only libc's frames resolved. Once read as "nothing grows".
    #[test]
    fn regression_a_profile_of_a_replaced_binary_is_an_error_not_an_empty_list() {
        let json = r#"{"dhatFileVersion":2,"mode":"rust-heap","pps":[
            {"tb":1,"tbk":1,"eb":4096,"fs":[1,2]},
            {"tb":1,"tbk":1,"eb":512,"fs":[]}
        ],"ftbl":["[root]",
            "0x7faa595a11f5: start_thread (./nptl/pthread_create.c:442:8)",
            "0x7faa596218ec: clone3 (linux/x86_64/clone3.S:81:0)"]}"#;
        let e = parse_dhat(json, &workspace()).unwrap_err();
        assert!(
            matches!(e, AttributionError::Unsymbolized { bytes: 4096 }),
            "{e}"
        );
        assert!(e.to_string().contains("replaced while the pass ran"), "{e}");
    }

    #[test]
    fn another_file_is_named_for_what_it_is() {
        let e = parse_dhat(
            r#"{"dhatFileVersion":2,"mode":"rust-ad-hoc","pps":[],"ftbl":[]}"#,
            &[],
        )
        .unwrap_err();
        assert!(e.to_string().contains("rust-ad-hoc"), "{e}");
        assert!(parse_dhat("{", &[]).is_err());
    }
}
