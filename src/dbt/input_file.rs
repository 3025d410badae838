//! Opening an input file (a manifest, a selectors file) that must be a regular file.
//!
//! A FIFO would block `open` until something writes to it, forever in a CI job; a
//! directory or a device fails later with a system message that names neither
//! ("No such device"). Both are refused up front with what the path is instead.

use std::fs::{File, Metadata};
use std::path::Path;

/// Why an input file could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("not a regular file (it is {0})")]
    NotRegular(&'static str),
}

/// Opens `path` for reading if it is a regular file (symbolic links followed), with its
/// metadata. Opening never blocks: on Linux the file is opened non-blocking (a FIFO
/// without a writer would block a plain `open`), elsewhere its type is checked first.
pub fn open_regular(path: &Path) -> Result<(File, Metadata), OpenError> {
    #[cfg(not(target_os = "linux"))]
    check(&std::fs::metadata(path)?)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(target_os = "linux")]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NONBLOCK);
    let file = options.open(path)?;
    let metadata = file.metadata()?;
    check(&metadata)?;
    Ok((file, metadata))
}

fn check(metadata: &Metadata) -> Result<(), OpenError> {
    if metadata.is_file() {
        return Ok(());
    }
    Err(OpenError::NotRegular(kind_of(metadata)))
}

/// What a path that is not a regular file is, for messages.
fn kind_of(metadata: &Metadata) -> &'static str {
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO or pipe";
        }
        if file_type.is_char_device() || file_type.is_block_device() {
            return "a device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    "not a file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(path: &Path) -> String {
        match open_regular(path) {
            Err(OpenError::NotRegular(kind)) => kind.to_string(),
            other => panic!("{}: {other:?}", path.display()),
        }
    }

    #[test]
    fn only_regular_files_open() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("manifest.json");
        std::fs::write(&file, "{}").unwrap();
        let (_, metadata) = open_regular(&file).unwrap();
        assert_eq!(metadata.len(), 2);
        assert_eq!(refused(dir.path()), "a directory");
        #[cfg(unix)]
        assert_eq!(refused(Path::new("/dev/null")), "a device");
        assert!(matches!(
            open_regular(&dir.path().join("absent")),
            Err(OpenError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound
        ));
    }

    /// Without a writer, a plain `open` of a FIFO would never return.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("manifest.json");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string; mkfifo only creates the node.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        assert_eq!(refused(&fifo), "a FIFO or pipe");
    }
}
