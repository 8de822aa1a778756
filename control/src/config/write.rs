//! Writing a file that others may watch or plant things next to: the
//! running configuration (`config.save`), written by root into a
//! directory that a `control_group` member may be able to write.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `data` atomically: a temporary file with a random
/// name in the same directory, created exclusively (`O_CREAT|O_EXCL`, so
/// nothing planted there, a symlink included, is ever opened), written
/// and fsynced, renamed over `path`, then the directory fsynced. The file
/// keeps the permission bits of the one it replaces (0644 for a new one).
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)?;
    let mode = std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    // On the descriptor: never a chmod by name.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    // On failure the temporary file is removed when `tmp` drops.
    tmp.persist(path).map_err(|e| e.error)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn planted_files_are_never_followed_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vswitchd.toml");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        // Symlinks at the names a predictable temporary file would have.
        for n in [
            format!(".vswitchd.toml.tmp.{}", std::process::id()),
            ".vswitchd.toml.tmp".to_string(),
        ] {
            std::os::unix::fs::symlink(&victim, dir.path().join(n)).unwrap();
        }
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "a file, not a planted link");
        assert_eq!(meta.permissions().mode() & 0o777, 0o640, "mode kept");
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        let mut expected = vec![
            format!(".vswitchd.toml.tmp.{}", std::process::id()),
            ".vswitchd.toml.tmp".to_string(),
            "victim".into(),
            "vswitchd.toml".into(),
        ];
        expected.sort();
        assert_eq!(names, expected, "no temporary file left");
        // A new file gets 0644.
        let fresh = dir.path().join("fresh.toml");
        write_atomically(&fresh, b"x").unwrap();
        let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing-dir").join("x.toml");
        assert!(write_atomically(&path, b"new").is_err());
        assert!(!path.exists());
    }
}
