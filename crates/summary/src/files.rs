//! Writing a file so that a reader never sees half of it: the one way every report file,
//! the baseline and the manifest are written.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

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
pub fn write_through(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(bytes).and_then(|()| file.flush())
}
