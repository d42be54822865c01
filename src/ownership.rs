//! Whether a file paystat reads or writes is its user's alone: the configuration, a CA or key
//! file, the state directory, the trail's day files and checkpoints, the status cache. A file
//! another user can write could carry another user's configuration (a base URL that takes the
//! live key elsewhere), a forged cache row, or a planted audit line; paystat refuses it, as
//! OpenSSH refuses a key others can write and git a repository someone else owns.
//!
//! A file is the user's when the user running paystat owns it (or root does) and neither its
//! group nor others may write it.

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A file or directory another user could change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {} {reason}; {}", .path.display(), .reason.fix(&self.path, *.directory))]
pub struct NotPrivate {
    /// What the file is, in words (`the config file`).
    pub what: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Whether it is a directory (the fix differs).
    pub directory: bool,
    /// Why it is refused.
    pub reason: Reason,
}

/// Why a file is not its user's alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Reason {
    /// Its group or others may write it.
    Writable {
        /// Its permission bits.
        mode: u32,
    },
    /// Another user owns it.
    Owner {
        /// The owner's user id.
        owner: u32,
        /// The user running paystat.
        me: u32,
    },
    /// It is a symbolic link where paystat only writes real files.
    Link,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Writable { mode } => write!(
                f,
                "is writable by its group or others (mode {:04o})",
                mode & 0o7777
            ),
            Reason::Owner { owner, me } => write!(
                f,
                "belongs to user {owner}, not to the user running paystat ({me})"
            ),
            Reason::Link => f.write_str("is a symbolic link"),
        }
    }
}

impl Reason {
    fn fix(&self, path: &Path, directory: bool) -> String {
        match self {
            Reason::Writable { .. } => format!(
                "run `chmod go-w {}` (shared use goes through `paystat serve`, not a shared {})",
                path.display(),
                if directory { "directory" } else { "file" }
            ),
            Reason::Owner { .. } => {
                "use one of your own, or have its owner hand it over with chown".to_owned()
            }
            Reason::Link => "replace it with the file it points to".to_owned(),
        }
    }
}

/// The effective user id of this process.
pub fn me() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Whether a file owned by `owner` belongs to someone other than `me` (root's files are
/// trusted, as OpenSSH trusts them).
fn foreign(owner: u32, me: u32) -> bool {
    owner != me && owner != 0
}

/// Checks what `metadata` says of `path` (`what` names it in the error).
pub fn check_metadata(
    what: &'static str,
    path: &Path,
    metadata: &std::fs::Metadata,
) -> Result<(), NotPrivate> {
    let refuse = |reason| NotPrivate {
        what,
        path: path.to_owned(),
        directory: metadata.is_dir(),
        reason,
    };
    if metadata.file_type().is_symlink() {
        return Err(refuse(Reason::Link));
    }
    let me = me();
    let owner = metadata.uid();
    if foreign(owner, me) {
        return Err(refuse(Reason::Owner { owner, me }));
    }
    let mode = metadata.mode();
    if mode & 0o022 != 0 {
        return Err(refuse(Reason::Writable { mode }));
    }
    Ok(())
}

/// Creates `dir` and its parents, owner-only (an existing directory is left as it is).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Opens `path` to read and write, creating it readable and writable by its owner only (an
/// existing file keeps its mode, and is emptied when `truncate`).
pub fn create_private(path: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .mode(0o600)
        .open(path)
}

/// Checks `path` (following a link to what it points to). A file that does not exist passes:
/// paystat creates its own files private.
pub fn check(what: &'static str, path: &Path) -> Result<(), NotPrivate> {
    match std::fs::metadata(path) {
        Ok(metadata) => check_metadata(what, path, &metadata),
        Err(_) => Ok(()),
    }
}

/// Checks `path` itself, refusing a symbolic link.
pub fn check_no_link(what: &'static str, path: &Path) -> Result<(), NotPrivate> {
    match std::fs::symlink_metadata(path) {
        Ok(metadata) => check_metadata(what, path, &metadata),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn a_file_others_can_write_is_refused_with_its_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(check("the config file", &path), Ok(()));
        for mode in [0o620, 0o602, 0o666] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = check("the config file", &path).unwrap_err().to_string();
            assert!(err.starts_with("the config file "), "{err}");
            assert!(err.contains(&format!("(mode {mode:04o})")), "{err}");
            assert!(err.contains("chmod go-w"), "{err}");
        }
        // Readable by others is no threat to what paystat reads.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(check("the config file", &path), Ok(()));
    }

    #[test]
    fn only_the_user_and_root_own_what_paystat_trusts() {
        assert!(!foreign(1000, 1000));
        assert!(!foreign(0, 1000));
        assert!(foreign(1001, 1000));
        assert!(!foreign(0, 0));
        assert!(foreign(65_534, 0));
        // What this process creates is its own.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mine");
        std::fs::write(&path, "").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().uid(), me());
    }

    #[test]
    fn a_link_is_refused_where_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("real");
        std::fs::write(&target, "").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(check("a day file", &link), Ok(()));
        let err = check_no_link("a day file", &link).unwrap_err();
        assert_eq!(err.reason, Reason::Link);
    }
}
