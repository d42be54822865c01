//! Opening a trail: its options, the file lines go to (created 0600 in a directory created
//! 0700), what may stand at the audit path, and the advisory lock every appending process takes.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;

use super::durable::Recorder;
use super::files::{self, Location};
use super::line::{Origin, default_actor};
use super::sync::{Durability, Syncer};
use super::{AuditError, AuditTrail, Head, Sealer};

/// How a trail is opened: who writes, how durably, how lines are sealed.
#[derive(Debug, Clone)]
pub struct TrailOptions {
    /// Who the operator says they are; `None` records the OS user as the actor too.
    pub actor: Option<String>,
    /// How far a line gets before its answer is shown.
    pub durability: Durability,
    /// How line hashes are made (plain SHA-256, or HMAC with the audit key).
    pub sealer: Sealer,
}

impl TrailOptions {
    /// Lines by `actor`, synced to disk, sealed with plain SHA-256.
    pub fn new(actor: impl Into<String>) -> TrailOptions {
        TrailOptions {
            actor: Some(actor.into()),
            durability: Durability::Disk,
            sealer: Sealer::plain(),
        }
    }
}

/// The file lines currently go to.
#[derive(Debug)]
pub(super) struct OpenFile {
    pub(super) path: PathBuf,
    pub(super) day: Option<time::Date>,
    pub(super) file: File,
    /// The open file's identity (device, inode), compared with the path's before each line.
    pub(super) identity: (u64, u64),
    pub(super) syncer: Option<Arc<Syncer>>,
    /// Records how far the file is on disk after each sync (with `--audit-sync os`, never).
    pub(super) recorder: Arc<Recorder>,
}

#[derive(Debug)]
pub(super) struct Writer {
    pub(super) open: OpenFile,
    pub(super) head: Option<Head>,
    /// The lines of an append, reused from one append to the next (a bulk run appends
    /// thousands of times a second).
    pub(super) buffer: Vec<u8>,
}

/// The most a writer's buffer keeps between appends.
pub(super) const BUFFER_KEPT: usize = 1 << 20;

impl AuditTrail {
    /// Opens (creating if needed) the single-file trail `path` for lines by `actor`, synced to
    /// disk and sealed with plain SHA-256.
    pub fn open(path: &Path, actor: String) -> Result<AuditTrail, AuditError> {
        AuditTrail::open_with(path, actor, Durability::Disk)
    }

    /// [`AuditTrail::open`] with lines made `durability` before their answers are shown.
    pub fn open_with(
        path: &Path,
        actor: String,
        durability: Durability,
    ) -> Result<AuditTrail, AuditError> {
        AuditTrail::open_at(
            Location::File(path.to_owned()),
            TrailOptions {
                durability,
                ..TrailOptions::new(actor)
            },
        )
    }

    /// Opens the trail at `location`: one file, or a directory of day files (created 0700,
    /// files 0600).
    ///
    /// A single-file path must be a regular file or absent: a FIFO, a device or a directory is
    /// refused (a FIFO would block the run until someone reads it). A symbolic link is resolved,
    /// and the file it points to is the one written and watched.
    pub fn open_at(location: Location, options: TrailOptions) -> Result<AuditTrail, AuditError> {
        AuditTrail::open_inner(location, options, false)
    }

    /// Seals the trail at `location`, written so far without the audit key, with the key of
    /// `options` from here on: a line sealed with the key says so, and verify then takes the
    /// unkeyed lines before it and holds every line after it to the key.
    pub fn seal_with_key(
        location: Location,
        options: TrailOptions,
    ) -> Result<AuditTrail, AuditError> {
        if !options.sealer.is_keyed() {
            return Err(AuditError::Seal(
                "there is no audit key to seal the trail with; set PAYSTAT_AUDIT_KEY (or [audit] key_file)",
            ));
        }
        let trail = AuditTrail::open_inner(location, options, true)?;
        let keyed = {
            let mut writer = trail.writer.lock().unwrap_or_else(|p| p.into_inner());
            trail.head(&mut writer)?.keyed
        };
        if keyed == Some(true) {
            return Err(AuditError::Seal(
                "the audit trail is already sealed with the audit key",
            ));
        }
        let mut fields = serde_json::Map::new();
        fields.insert(
            "detail".into(),
            "from this line on, the trail is sealed with the audit key (HMAC-SHA-256); the lines before it were written without it"
                .into(),
        );
        trail.note(super::EVENT_KEYED, fields)?;
        Ok(trail)
    }

    /// Rotates the audit key of the trail at `location`: `options` carry the current (old) key,
    /// `new` the next. A line sealed with the old key names the new one by fingerprint; every
    /// line after it is sealed with the new key, and verify needs both keys
    /// (`PAYSTAT_AUDIT_KEY_PREVIOUS` for the old).
    pub fn rotate_key(
        location: Location,
        options: TrailOptions,
        new: &Sealer,
    ) -> Result<AuditTrail, AuditError> {
        let (Some(old), Some(next)) = (options.sealer.fingerprint(), new.fingerprint()) else {
            return Err(AuditError::Seal(
                "rotating the audit key needs the old key in PAYSTAT_AUDIT_KEY_PREVIOUS and the new one in PAYSTAT_AUDIT_KEY",
            ));
        };
        if old == next {
            return Err(AuditError::Seal(
                "the new audit key is the old one; nothing to rotate",
            ));
        }
        let trail = AuditTrail::open_at(location, options)?;
        let mut fields = serde_json::Map::new();
        fields.insert("new_key".into(), next.into());
        fields.insert(
            "detail".into(),
            "this line is sealed with the old audit key; the lines after it are sealed with the new key it names"
                .into(),
        );
        trail.note(super::EVENT_KEY_ROTATED, fields)?;
        Ok(trail)
    }

    fn open_inner(
        location: Location,
        options: TrailOptions,
        starting_key: bool,
    ) -> Result<AuditTrail, AuditError> {
        let os_user = default_actor();
        let actor = match options.actor {
            Some(actor) if actor.trim().is_empty() => return Err(AuditError::NoActor),
            Some(actor) if actor.chars().count() > super::MAX_ACTOR => {
                return Err(AuditError::ActorTooLong(actor.chars().count()));
            }
            Some(actor) => actor,
            None => os_user.clone(),
        };
        let (location, link) = match location {
            Location::File(path) => {
                let (target, link) = resolve_link(&path);
                (Location::File(target), link)
            }
            Location::Days(dir) => {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)
                    .map_err(|source| AuditError::Open {
                        path: dir.clone(),
                        source,
                    })?;
                crate::ownership::check("the audit directory", &dir)?;
                (Location::Days(dir), None)
            }
        };
        let now = OffsetDateTime::now_utc();
        let day = location
            .writing_day(now.date())
            .map_err(|source| AuditError::Open {
                path: location.path().to_owned(),
                source,
            })?;
        let open = open_file(&location, day, options.durability, &options.sealer)?;
        let lock = match &location {
            Location::File(_) => open.file.try_clone(),
            Location::Days(dir) => create_0600(&dir.join(files::LOCK), false),
        }
        .map_err(|source| AuditError::Open {
            path: location.path().to_owned(),
            source,
        })?;
        let trail = AuditTrail {
            shown_path: Arc::from(location.path()),
            location,
            link,
            writer: Mutex::new(Writer {
                open,
                head: None,
                buffer: Vec::new(),
            }),
            queue: Mutex::default(),
            lock,
            actor,
            os_user,
            origin: Origin::current(),
            durability: options.durability,
            sealer: options.sealer,
            starting_key,
            legacy_before: std::sync::atomic::AtomicU64::new(0),
            syncs: Arc::default(),
        };
        // Finds the head now, repairing a fragment a crash left, so a broken trail is said at
        // once rather than at the first check.
        {
            let mut writer = trail.writer.lock().unwrap_or_else(|p| p.into_inner());
            let _lock = AppendLock::take(&trail.lock).map_err(|e| trail.write_error(e))?;
            trail.head(&mut writer)?;
        }
        Ok(trail)
    }
}

/// A symbolic link resolved to its target (a dangling one is written through, as a write would).
fn resolve_link(path: &Path) -> (PathBuf, Option<PathBuf>) {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::canonicalize(path) {
            Ok(target) => (target, Some(path.to_owned())),
            Err(_) => (path.to_owned(), None),
        },
        _ => (path.to_owned(), None),
    }
}

/// Creates or opens `path` for appending (mode 0600 when created), without blocking on a FIFO.
pub(super) fn create_0600(path: &Path, append: bool) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(append)
        .write(!append)
        // Read too: the chain's head is found by reading the end.
        .read(true)
        .mode(0o600)
        // Non-blocking, so that a FIFO put there after the type check fails instead of
        // hanging; it changes nothing for a regular file.
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

/// Opens the file lines go to on `day`: the single file, or that day's file in the directory.
pub(super) fn open_file(
    location: &Location,
    day: time::Date,
    durability: Durability,
    sealer: &Sealer,
) -> Result<OpenFile, AuditError> {
    let (path, day) = match location {
        Location::File(path) => (path.clone(), None),
        Location::Days(dir) => (dir.join(files::day_file_name(day)), Some(day)),
    };
    let open_error = |source| AuditError::Open {
        path: path.clone(),
        source,
    };
    if let Ok(meta) = std::fs::metadata(&path)
        && let Some(kind) = not_a_file(meta.file_type())
    {
        return Err(AuditError::NotAFile { path, kind });
    }
    // A day file is paystat's own: a link there is refused (`--audit-log` follows its link, and
    // says so). Either must be the user's alone.
    if day.is_some() {
        crate::ownership::check_no_link("the audit day file", &path)?;
    }
    let file = create_0600(&path, true).map_err(open_error)?;
    let meta = file.metadata().map_err(open_error)?;
    if let Some(kind) = not_a_file(meta.file_type()) {
        return Err(AuditError::NotAFile { path, kind });
    }
    let what = if day.is_some() {
        "the audit day file"
    } else {
        "the audit log"
    };
    crate::ownership::check_metadata(what, &path, &meta)?;
    let recorder = Arc::new(Recorder::new(location, &path, sealer.clone()));
    let syncer = match durability {
        Durability::Disk => Some(Arc::new(
            file.try_clone()
                .and_then(|file| Syncer::start(file, Arc::clone(&recorder)))
                .map_err(open_error)?,
        )),
        Durability::Os => None,
    };
    Ok(OpenFile {
        path,
        day,
        identity: (meta.dev(), meta.ino()),
        file,
        syncer,
        recorder,
    })
}

/// An exclusive `flock` on the audit file for one append.
pub(crate) struct AppendLock(std::os::fd::RawFd);

impl AppendLock {
    pub(crate) fn take(file: &File) -> std::io::Result<AppendLock> {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        // SAFETY: `fd` is the open audit file's descriptor, valid while `file` is borrowed,
        // which outlives the lock (it is released in `drop`, before the mutex guard).
        if unsafe { libc::flock(fd, libc::LOCK_EX) } == 0 {
            Ok(AppendLock(fd))
        } else {
            Err(std::io::Error::last_os_error())
        }
    }
}

impl Drop for AppendLock {
    fn drop(&mut self) {
        // SAFETY: the descriptor is still open (see `take`); unlocking cannot fail in a way
        // that matters, since closing the file would release it anyway.
        unsafe {
            libc::flock(self.0, libc::LOCK_UN);
        }
    }
}

/// What a file type is, when it is not a regular file.
fn not_a_file(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("something else")
    }
}
