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

use leakcheck_summary::files::{Destination, destination, tmp_path, write_through};

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
        let named = dir.join(f.file_name());
        let (target, file) = match destination(&named).map_err(write_err(&named))? {
            Destination::Replace(target) => {
                let tmp = tmp_path(&target);
                let file = File::create(&tmp).map_err(write_err(&tmp))?;
                (target, Some(file))
            }
            Destination::Through(target) => (target, None),
        };
        pending.push(Pending {
            tmp: tmp_path(&target),
            target,
            file,
        });
    }
    let mut written = Vec::with_capacity(formats.len());
    for (f, p) in formats.iter().zip(pending.iter_mut()) {
        let bytes = f.render(input)?;
        let Some(mut file) = p.file.take() else {
            write_through(&p.target, &bytes).map_err(write_err(&p.target))?;
            written.push(p.target.clone());
            continue;
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use leakcheck_summary::write_atomically;

    #[test]
    fn an_atomic_write_replaces_the_file_and_a_failed_one_leaves_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.prom");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(!tmp_path(&path).exists());

        // A folder where the file should be: the rename fails, the folder stays as it
        // was and the tmp file is gone.
        let taken = dir.path().join("taken");
        fs::create_dir(&taken).unwrap();
        fs::write(taken.join("inside"), b"kept").unwrap();
        assert!(write_atomically(&taken, b"x").is_err());
        assert_eq!(fs::read(taken.join("inside")).unwrap(), b"kept");
        assert!(!tmp_path(&taken).exists());
    }
}
