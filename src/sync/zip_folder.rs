//! A folder as one zip file whose bytes depend only on the files' names and content (MWAA
//! reads its plugins as one `plugins.zip`).
//!
//! The same folder must give the same bytes on every machine and every run: a `plugins.zip`
//! that differs only in a timestamp would be uploaded again and cost an environment update
//! of 20 to 30 minutes. So entries are sorted by name, every timestamp is the zip format's
//! earliest (1980-01-01 00:00), every file is `rw-r--r--`, and hidden files and caches stay
//! out as a sync leaves them ([`Include`]). Folders get no entries of their own: a file's
//! path names them.

use std::io::{Cursor, Write};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::files::{Include, walk};

/// The zip of `dir`'s files (those `include` counts), by name relative to `dir`.
pub fn zip_folder(dir: &Path, include: Include) -> std::io::Result<Vec<u8>> {
    let files = walk(dir, include)?;
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    // `walk` gives a sorted map: the entries are in name order.
    for (name, path) in files {
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(&std::fs::read(path)?)?;
    }
    let written = zip.finish().map_err(std::io::Error::other)?;
    Ok(written.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn the_same_files_give_the_same_bytes_whenever_written() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        // Written in another order, at other times.
        for (name, text) in [("ops/x.py", "X = 1"), ("a.py", "A = 1")] {
            write(a.path(), name, text);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        for (name, text) in [("a.py", "A = 1"), ("ops/x.py", "X = 1")] {
            write(b.path(), name, text);
        }
        write(b.path(), "__pycache__/a.cpython-311.pyc", "cache");
        write(b.path(), ".DS_Store", "finder");
        let (za, zb) = (
            zip_folder(a.path(), Include::Visible).unwrap(),
            zip_folder(b.path(), Include::Visible).unwrap(),
        );
        assert_eq!(za, zb);
        let mut archive = zip::ZipArchive::new(Cursor::new(za)).unwrap();
        let names: Vec<String> = archive
            .file_names()
            .map(|n| n.unwrap().into_owned())
            .collect();
        assert_eq!(names, ["a.py", "ops/x.py"]);
        let mut text = String::new();
        let mut x = archive.by_name("ops/x.py").unwrap();
        assert_eq!(x.unix_mode(), Some(0o100644));
        x.read_to_string(&mut text).unwrap();
        assert_eq!(text, "X = 1");
    }
}
