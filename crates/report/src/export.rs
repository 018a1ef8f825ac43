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

/// Where a file is written before it is renamed over `path`: `PATH.tmp`.
pub fn tmp_path(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Where writing a file named `path` goes, so that only a regular file (or nothing) is
/// ever replaced: a symlink is followed (its target is replaced, the link stays), a
/// device node, FIFO or socket is written through in place (renaming over `/dev/null`
/// would delete the system's node), and a folder is an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Written to `PATH.tmp` and renamed over this path.
    Replace(PathBuf),
    /// Opened and written in place: not a regular file.
    Through(PathBuf),
}

/// The [`Destination`] of a write to `path`.
pub fn destination(path: &Path) -> std::io::Result<Destination> {
    let mut path = path.to_path_buf();
    // A chain of links, followed as far as the kernel would (ELOOP past that).
    for _ in 0..40 {
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Destination::Replace(path));
            }
            Err(e) => return Err(e),
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            let target = fs::read_link(&path)?;
            path = match path.parent() {
                Some(parent) => parent.join(target),
                None => target,
            };
        } else if kind.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a folder; expected a file path",
            ));
        } else if kind.is_file() {
            return Ok(Destination::Replace(path));
        } else {
            return Ok(Destination::Through(path));
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes `bytes` to `path` through [`tmp_path`], renamed when complete: a reader (a
/// textfile collector, the next gate) never sees half a file, and a failed write leaves
/// the old one in place (and no `.tmp` behind). A path that is not a regular file goes
/// to its [`destination`].
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match destination(path)? {
        Destination::Through(device) => write_through(&device, bytes),
        Destination::Replace(path) => {
            let tmp = tmp_path(&path);
            fs::write(&tmp, bytes)
                .and_then(|()| fs::rename(&tmp, &path))
                .inspect_err(|_| {
                    let _ = fs::remove_file(&tmp);
                })
        }
    }
}

/// Writes into an existing non-regular file (a device, a FIFO) without replacing it.
fn write_through(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(bytes).and_then(|()| file.flush())
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
