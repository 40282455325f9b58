//! Owner-only permissions for everything in a data dir: directories are created 0700 and files
//! 0600 whatever the umask, and an existing tree is tightened to that (once, at start-up).

use std::fs::{DirBuilder, File, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of every directory in a data dir.
pub const DIR_MODE: u32 = 0o700;
/// Mode of every file in a data dir.
pub const FILE_MODE: u32 = 0o600;
/// Permission bits that let anyone but the owner in.
const OTHERS: u32 = 0o077;

/// Creates `path` and any missing parents with mode 0700.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(DIR_MODE).create(path)
}

/// Options that create files with mode 0600 (add read/write/create flags as needed).
pub fn file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Writes `data` to a new or truncated file at `path` with mode 0600.
pub fn write_file(path: &Path, data: &[u8]) -> io::Result<File> {
    use std::io::Write;
    let mut file = file_options().write(true).create(true).truncate(true).open(path)?;
    file.write_all(data)?;
    Ok(file)
}

/// Takes group and other permissions off `path` if it has any; returns whether it changed.
/// Symbolic links are left alone (their own mode means nothing; their target is not ours).
pub fn tighten(path: &Path) -> io::Result<bool> {
    let meta = std::fs::symlink_metadata(path)?;
    let mode = meta.permissions().mode();
    if meta.file_type().is_symlink() || mode & OTHERS == 0 {
        return Ok(false);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & !OTHERS & 0o777))?;
    Ok(true)
}

/// Tightens `root` and everything under it (without following links); returns how many
/// entries changed. The root goes first, so nothing beneath is reachable by others meanwhile.
pub fn tighten_tree(root: &Path) -> io::Result<usize> {
    let mut changed = 0;
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = match entry {
            Ok(e) => e,
            // Something removed while we walk (a finished temp file) is no longer our concern.
            Err(e) if e.io_error().is_some_and(|io| io.kind() == io::ErrorKind::NotFound) => continue,
            Err(e) => return Err(e.into()),
        };
        match tighten(entry.path()) {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(changed)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Every entry under `root` (and root itself) whose mode lets others in: (path, mode).
    pub fn loose_entries(root: &Path) -> Vec<(std::path::PathBuf, u32)> {
        walkdir::WalkDir::new(root)
            .into_iter()
            .map(|e| e.unwrap())
            .filter(|e| !e.path_is_symlink())
            .map(|e| (e.path().to_path_buf(), e.metadata().unwrap().permissions().mode() & 0o777))
            .filter(|(p, mode)| *mode != if p.is_dir() { DIR_MODE } else { FILE_MODE })
            .collect()
    }

    #[test]
    fn a_loose_tree_is_tightened_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("data");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), b"x").unwrap();
        std::fs::write(root.join("g"), b"y").unwrap();
        for p in ["", "a", "a/b"] {
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for p in ["a/b/f", "g"] {
            std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(0o664)).unwrap();
        }
        std::os::unix::fs::symlink("/etc/hostname", root.join("link")).unwrap();
        assert_eq!(tighten_tree(&root).unwrap(), 5);
        assert!(loose_entries(&root).is_empty(), "{:?}", loose_entries(&root));
        assert_eq!(tighten_tree(&root).unwrap(), 0);
    }

    #[test]
    fn created_entries_ignore_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("x/y");
        create_dir_all(&root).unwrap();
        write_file(&root.join("f"), b"z").unwrap();
        assert!(loose_entries(&dir.path().join("x")).is_empty());
    }
}
