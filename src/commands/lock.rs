//! An exclusive `flock` on a lock file, removed when released: the output folder of a
//! run (two runs writing the same files would silently interleave them) and a baseline
//! file that several gates update. A lock file is unlinked while still held, so a
//! waiter that then gets the lock on the unlinked file checks the path's inode and
//! tries again on the new one; no stale lock files are left behind.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, flock};

/// A held lock; released (and its file removed) on drop.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

/// Whether to wait for a lock another process holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Yes,
    No,
}

/// The lock is held by another process: its pid when it wrote one.
#[derive(Debug)]
pub struct Held {
    pub pid: Option<String>,
}

impl FileLock {
    /// Takes the lock at `path` (created if missing), writing this process's pid into it.
    /// With [`Wait::No`] a lock held elsewhere is `Ok(Err(Held))`.
    pub fn take(path: &Path, wait: Wait) -> std::io::Result<Result<FileLock, Held>> {
        loop {
            let mut file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            let op = match wait {
                Wait::Yes => FlockOperation::LockExclusive,
                Wait::No => FlockOperation::NonBlockingLockExclusive,
            };
            if flock(&file, op).is_err() {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let pid = Some(holder.trim().to_string()).filter(|p| !p.is_empty());
                return Ok(Err(Held { pid }));
            }
            // The holder before us may have removed the file after we opened it: the
            // lock is only good on the file the path names now.
            let same = std::fs::metadata(path).is_ok_and(|now| {
                file.metadata()
                    .is_ok_and(|ours| ours.ino() == now.ino() && ours.dev() == now.dev())
            });
            if !same {
                continue;
            }
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(std::process::id().to_string().as_bytes())?;
            return Ok(Ok(FileLock {
                file,
                path: path.to_path_buf(),
            }));
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Removed while still held: the next taker re-checks the inode (see `take`).
        let _ = std::fs::remove_file(&self.path);
        let _ = flock(&self.file, FlockOperation::Unlock);
    }
}
