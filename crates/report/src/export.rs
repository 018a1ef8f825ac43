//! The one small trait every output format implements, and the writer that
//! puts a set of formats on disk.
//!
//! As in hyperfine, every output file is opened before anything is rendered,
//! so a bad path fails before any work is done. Each file is written to
//! `NAME.tmp` and renamed over `NAME` only when complete, so a reader never
//! sees a half-written report and a failed render leaves the old one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::ReportError;

/// One output format: a file name and how to render its bytes.
pub trait Export<T: ?Sized> {
    /// File name inside the output directory (`summary.json`).
    fn file_name(&self) -> &'static str;
    /// The complete file contents.
    fn render(&self, input: &T) -> Result<Vec<u8>, ReportError>;
}

/// A file being written: the open `.tmp` file and its final name.
struct Pending {
    tmp: PathBuf,
    target: PathBuf,
    file: Option<File>,
}

impl Drop for Pending {
    /// A pending file that was never committed is removed.
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

fn write_err(path: &Path) -> impl FnOnce(std::io::Error) -> ReportError + '_ {
    move |source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `input` in every format of `formats` into `dir` (created if
/// missing); returns the written paths in order.
pub fn write_all<T: ?Sized>(
    dir: &Path,
    formats: &[&dyn Export<T>],
    input: &T,
) -> Result<Vec<PathBuf>, ReportError> {
    fs::create_dir_all(dir).map_err(write_err(dir))?;
    let mut pending = Vec::with_capacity(formats.len());
    for f in formats {
        let target = dir.join(f.file_name());
        let tmp = dir.join(format!("{}.tmp", f.file_name()));
        let file = File::create(&tmp).map_err(write_err(&tmp))?;
        pending.push(Pending {
            tmp,
            target,
            file: Some(file),
        });
    }
    let mut written = Vec::with_capacity(formats.len());
    for (f, p) in formats.iter().zip(pending.iter_mut()) {
        let bytes = f.render(input)?;
        let mut file = p.file.take().expect("each pending file is used once");
        let done = file.write_all(&bytes).and_then(|()| file.flush());
        drop(file);
        if let Err(e) = done {
            let _ = fs::remove_file(&p.tmp);
            return Err(write_err(&p.tmp)(e));
        }
        fs::rename(&p.tmp, &p.target).map_err(write_err(&p.target))?;
        written.push(p.target.clone());
    }
    Ok(written)
}

/// Opens `path` for appending (created if missing), e.g. the file named by
/// `$GITHUB_STEP_SUMMARY`.
pub fn open_append(path: &Path) -> Result<File, ReportError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(write_err(path))
}

/// Appends `text` to a file opened with [`open_append`].
pub fn append(file: &mut File, path: &Path, text: &str) -> Result<(), ReportError> {
    file.write_all(text.as_bytes())
        .and_then(|()| file.flush())
        .map_err(write_err(path))
}
