//! A manifest file, memory-mapped, that may be rewritten while it is read.
//!
//! Mapping saves copying hundreds of megabytes, but `dbt parse` rewrites
//! `target/manifest.json` in place (truncate, then write): a page of the map past the
//! file's new end then raises SIGBUS, which kills the process. On Linux such a fault in a
//! map of ours is caught: the rest of the map is replaced by zeros (the reader then
//! stops on them), and the map remembers it. Any other change (a rewrite to a size at
//! least as large) shows in the file's size or times, compared before and after. Either
//! way the caller reports that the file changed while it was read, never what it read.
//! Elsewhere the file is read into memory instead.

use std::fs::{File, Metadata};
use std::path::Path;

use super::{Manifest, ManifestError};
use crate::dbt::input_file::{OpenError, open_regular};

/// What tells one version of a file from the next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    changed: (i64, i64),
}

impl Stamp {
    pub fn of(metadata: &Metadata) -> Stamp {
        #[cfg(unix)]
        use std::os::unix::fs::MetadataExt;
        Stamp {
            len: metadata.len(),
            modified: metadata.modified().ok(),
            #[cfg(unix)]
            changed: (metadata.ctime(), metadata.ctime_nsec()),
        }
    }

    /// Whether `file` is still the version stamped (false if it cannot be looked at).
    pub fn matches(&self, file: &File) -> bool {
        file.metadata().is_ok_and(|m| Stamp::of(&m) == *self)
    }
}

/// An open manifest file and its bytes.
pub struct MappedManifest {
    file: File,
    stamp: Stamp,
    bytes: Bytes,
}

enum Bytes {
    #[cfg(target_os = "linux")]
    Mapped {
        // Declared first, so dropped first: the guarded range may be mapped again by
        // someone else once the map is gone.
        guard: sigbus::Guard,
        map: memmap2::Mmap,
    },
    Read(Vec<u8>),
}

impl MappedManifest {
    /// Opens and maps `path`, which must be a regular file.
    pub fn open(path: &Path) -> Result<MappedManifest, ManifestError> {
        let io = |source| ManifestError::Io {
            path: path.to_path_buf(),
            source,
        };
        let (file, metadata) = open_regular(path).map_err(|e| match e {
            OpenError::Io(source) => io(source),
            OpenError::NotRegular(kind) => ManifestError::NotRegularFile {
                path: path.to_path_buf(),
                kind,
            },
        })?;
        let stamp = Stamp::of(&metadata);
        let bytes = Bytes::of(&file).map_err(io)?;
        Ok(MappedManifest { file, stamp, bytes })
    }

    pub fn bytes(&self) -> &[u8] {
        match &self.bytes {
            #[cfg(target_os = "linux")]
            Bytes::Mapped { map, .. } => map,
            Bytes::Read(bytes) => bytes,
        }
    }

    /// The open file (for reading it a second time, e.g. to hash it).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Gives the pages of `start..end` back to the page cache: what was read is not kept
    /// twice (in the map and in the parsed manifest), which halves peak memory.
    pub fn give_back(&self, start: usize, end: usize) {
        #[cfg(target_os = "linux")]
        if let Bytes::Mapped { map, .. } = &self.bytes {
            // SAFETY: a read-only file mapping: released pages read the same bytes
            // again from the file if they are touched later (or zeros, past a
            // truncation, which `changed` then reports).
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
            };
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (start, end);
    }

    /// Whether the file is no longer what it was when opened: what was read from it may
    /// be a mix of two versions.
    pub fn changed(&self) -> bool {
        #[cfg(target_os = "linux")]
        if let Bytes::Mapped { guard, .. } = &self.bytes
            && guard.faulted()
        {
            return true;
        }
        !self.stamp.matches(&self.file)
    }

    /// The stamp taken when the file was opened.
    pub fn stamp(&self) -> &Stamp {
        &self.stamp
    }

    /// Parses the manifest, giving pages back as it goes. If the file changed meanwhile,
    /// that is the error, whatever was read.
    pub fn parse(&self, path: &Path) -> Result<Manifest, ManifestError> {
        let release = |start, end| self.give_back(start, end);
        let parsed = Manifest::from_slice_releasing(self.bytes(), path, &release);
        if self.changed() {
            return Err(ManifestError::ChangedWhileRead {
                path: path.to_path_buf(),
            });
        }
        parsed
    }
}

impl Bytes {
    #[cfg(target_os = "linux")]
    fn of(file: &File) -> std::io::Result<Bytes> {
        if file.metadata()?.len() == 0 {
            return Ok(Bytes::Read(Vec::new()));
        }
        // SAFETY: the map is only read; a truncation while it is read raises SIGBUS,
        // which the guard turns into zeros (see the module's comment).
        let map = unsafe { memmap2::MmapOptions::new().map(file) }?;
        // Without a free guard slot (many maps at once) the file is read instead.
        let Some(guard) = sigbus::Guard::new(map.as_ptr() as usize, map.len()) else {
            drop(map);
            return read_whole(file);
        };
        // Not populated up front: pages come in as the readers reach them and leave
        // behind them, so the file is never resident whole (as fast, half the peak memory).
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Bytes::Mapped { guard, map })
    }

    #[cfg(not(target_os = "linux"))]
    fn of(file: &File) -> std::io::Result<Bytes> {
        read_whole(file)
    }
}

fn read_whole(mut file: &File) -> std::io::Result<Bytes> {
    use std::io::Read;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(Bytes::Read(bytes))
}

/// Catching SIGBUS in our own maps (Linux).
#[cfg(target_os = "linux")]
mod sigbus {
    use std::sync::Once;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// Maps guarded at once; a map beyond these is read into memory instead.
    const SLOTS: usize = 64;

    /// Per slot: taken, the map's first and end addresses (0: none), and whether a fault
    /// was caught in it. The handler may only use atomics: no locks, no allocation.
    static TAKEN: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];
    static START: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static END: [AtomicUsize; SLOTS] = [const { AtomicUsize::new(0) }; SLOTS];
    static FAULTED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

    static PAGE: AtomicUsize = AtomicUsize::new(4096);
    static INSTALL: Once = Once::new();
    /// The handler there was before ours (Rust's own, for stack overflows), as a pointer
    /// to a leaked `sigaction`: a fault that is not ours goes on to it.
    static PREVIOUS: AtomicUsize = AtomicUsize::new(0);

    /// A guarded address range; released on drop.
    pub(super) struct Guard {
        slot: usize,
    }

    impl Guard {
        pub(super) fn new(start: usize, len: usize) -> Option<Guard> {
            install();
            let slot = (0..SLOTS).find(|&s| {
                TAKEN[s]
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            })?;
            FAULTED[slot].store(false, Ordering::Release);
            END[slot].store(start + len, Ordering::Release);
            START[slot].store(start, Ordering::Release);
            Some(Guard { slot })
        }

        /// Whether a read of the range faulted (and read zeros from there on).
        pub(super) fn faulted(&self) -> bool {
            FAULTED[self.slot].load(Ordering::Acquire)
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            START[self.slot].store(0, Ordering::Release);
            END[self.slot].store(0, Ordering::Release);
            TAKEN[self.slot].store(false, Ordering::Release);
        }
    }

    fn install() {
        INSTALL.call_once(|| {
            // SAFETY: plain libc calls with valid, fully initialised arguments; the
            // previous action is leaked so that the handler can always read it.
            unsafe {
                PAGE.store(
                    libc::sysconf(libc::_SC_PAGESIZE) as usize,
                    Ordering::Relaxed,
                );
                let previous: &'static mut libc::sigaction =
                    Box::leak(Box::new(std::mem::zeroed()));
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigbus as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(libc::SIGBUS, &action, previous) == 0 {
                    PREVIOUS.store(previous as *mut libc::sigaction as usize, Ordering::Release);
                }
            }
        });
    }

    /// Runs on the thread whose read faulted. A fault inside a guarded map: the map from
    /// the faulting page on is replaced by zero pages (`mmap` is a plain system call here,
    /// safe in a handler in practice though POSIX does not list it), the fault noted, and
    /// the read resumes on zeros. Any other fault goes to the previous handler.
    extern "C" fn on_sigbus(
        signal: libc::c_int,
        info: *mut libc::siginfo_t,
        context: *mut libc::c_void,
    ) {
        // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
        let address = unsafe { (*info).si_addr() } as usize;
        for slot in 0..SLOTS {
            let start = START[slot].load(Ordering::Acquire);
            let end = END[slot].load(Ordering::Acquire);
            if start == 0 || address < start || address >= end {
                continue;
            }
            let page = address & !(PAGE.load(Ordering::Relaxed) - 1);
            // SAFETY: replaces pages of our own read-only map, which nothing else uses.
            let zeros = unsafe {
                libc::mmap(
                    page as *mut libc::c_void,
                    end - page,
                    libc::PROT_READ,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                    -1,
                    0,
                )
            };
            if zeros != libc::MAP_FAILED {
                FAULTED[slot].store(true, Ordering::Release);
                return;
            }
        }
        pass_on(signal, info, context);
    }

    /// As if our handler were not there.
    fn pass_on(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
        let previous = PREVIOUS.load(Ordering::Acquire) as *const libc::sigaction;
        // SAFETY: set once, before our handler could run, and never freed.
        let Some(previous) = (unsafe { previous.as_ref() }) else {
            return;
        };
        let handler = previous.sa_sigaction;
        if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
            // Back to what it was; returning faults again and the default action (the
            // crash the fault always meant) happens.
            // SAFETY: restores a valid action that the kernel gave us.
            unsafe { libc::sigaction(signal, previous, std::ptr::null_mut()) };
        } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
            // SAFETY: the previous handler, called as the kernel would have called it.
            let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                unsafe { std::mem::transmute(handler) };
            f(signal, info, context);
        } else {
            // SAFETY: as above, for a handler taking only the signal number.
            let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(handler) };
            f(signal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, len: usize) {
        std::fs::write(path, vec![b'x'; len]).unwrap();
    }

    /// The crash of issue 13: the file is cut short while mapped, and pages past its new
    /// end are read. Without the guard this test dies of SIGBUS.
    #[test]
    fn a_file_truncated_while_mapped_reads_as_zeros_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        let len = 1 << 20;
        write(&path, len);
        let mapped = MappedManifest::open(&path).unwrap();
        assert!(!mapped.changed());
        std::fs::write(&path, b"{\"new\": 1}").unwrap();
        let bytes = mapped.bytes();
        assert_eq!(bytes.len(), len);
        assert_eq!(
            &bytes[..5],
            b"{\"new",
            "the first page shows the file as it is now"
        );
        assert_eq!(bytes[len - 1], 0, "past the new end: zeros, not a crash");
        assert!(bytes[1 << 19..].iter().all(|b| *b == 0));
        assert!(mapped.changed());
    }

    #[test]
    fn a_rewrite_of_the_same_size_shows_in_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write(&path, 100);
        let mapped = MappedManifest::open(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(&path, 100);
        assert!(mapped.changed());
        let empty = dir.path().join("empty.json");
        write(&empty, 0);
        let opened = MappedManifest::open(&empty).unwrap();
        assert!(opened.bytes().is_empty() && !opened.changed());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn guards_come_and_go_and_many_maps_fall_back_to_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.json");
        write(&path, 8192);
        let many: Vec<MappedManifest> = (0..64 + 3)
            .map(|_| MappedManifest::open(&path).unwrap())
            .collect();
        assert!(
            many.iter()
                .all(|m| m.bytes().len() == 8192 && m.bytes()[8191] == b'x')
        );
        let read = many
            .iter()
            .filter(|m| matches!(m.bytes, Bytes::Read(_)))
            .count();
        assert!(read >= 3, "{read} read instead of mapped");
        drop(many);
        let again = MappedManifest::open(&path).unwrap();
        assert!(matches!(again.bytes, Bytes::Mapped { .. }));
    }
}
