//! Retention: whole day files past the retention period are removed, leaving a checkpoint
//! (the last removed line's sequence number and hash) so that what remains still verifies;
//! older day files may be compressed with gzip, and every `audit` command still reads them.
//!
//! PCI DSS 10.5.1 asks for 12 months of audit history, three of them at hand: paystat keeps
//! 400 days by default and refuses less than 365 unless forced.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use time::Date;

use super::files::{self, CHECKPOINT, Checkpoint, LOCK, Location};
use super::{AuditError, AuditTrail, EVENT_PRUNE, Sealer};

/// The default retention, in days.
pub const DEFAULT_RETAIN_DAYS: u32 = 400;
/// The shortest retention accepted without forcing it (PCI DSS 10.5.1: 12 months).
pub const MIN_RETAIN_DAYS: u32 = 365;

/// What pruning did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Day files removed.
    pub removed: Vec<PathBuf>,
    /// Day files compressed.
    pub compressed: Vec<PathBuf>,
    /// The checkpoint left, when files were removed.
    pub checkpoint: Option<Checkpoint>,
}

/// Why pruning could not be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// Only a directory of day files is pruned.
    #[error("only a trail of day files is pruned (--audit-dir); a single-file trail is kept whole")]
    SingleFile,
    /// A retention shorter than PCI DSS's 12 months.
    #[error(
        "a retention of {0} days is shorter than the 365 days PCI DSS 10.5.1 requires; pass --force to prune anyway"
    )]
    TooShort(u32),
    /// The trail could not be read or changed.
    #[error("cannot prune the audit trail at {}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl AuditTrail {
    /// Prunes this trail ([`prune`]) and records it in the chain: a sealed `audit.prune` line
    /// naming the day files removed and the last line they held, which the checkpoint repeats.
    /// A checkpoint no such line records is a break (or, written before this, unverified).
    pub fn prune(
        &self,
        today: Date,
        retain_days: u32,
        compress_after_days: Option<u32>,
        force: bool,
    ) -> Result<Pruned, PruneError> {
        let pruned = prune(
            &self.location,
            today,
            retain_days,
            compress_after_days,
            force,
            &self.sealer,
        )?;
        if let Some(checkpoint) = &pruned.checkpoint {
            let names: Vec<serde_json::Value> = pruned
                .removed
                .iter()
                .filter_map(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned().into())
                .collect();
            let mut fields = serde_json::Map::new();
            fields.insert("through_seq".into(), checkpoint.seq.into());
            fields.insert("through_hash".into(), checkpoint.hash.clone().into());
            fields.insert("through".into(), checkpoint.through.clone().into());
            fields.insert("files_removed".into(), names.into());
            self.note(EVENT_PRUNE, fields)
                .map_err(|e: AuditError| PruneError::Io {
                    path: self.location.path().to_owned(),
                    source: std::io::Error::other(e.to_string()),
                })?;
        }
        Ok(pruned)
    }
}

/// Removes the day files of `location` older than `retain_days` before `today` (checkpointing
/// the chain, the checkpoint sealed by `sealer`), and compresses those older than
/// `compress_after_days`, under the trail's lock. [`AuditTrail::prune`] also records it in the
/// chain, without which verify does not take the checkpoint as pruning.
pub fn prune(
    location: &Location,
    today: Date,
    retain_days: u32,
    compress_after_days: Option<u32>,
    force: bool,
    sealer: &Sealer,
) -> Result<Pruned, PruneError> {
    let Location::Days(dir) = location else {
        return Err(PruneError::SingleFile);
    };
    if retain_days < MIN_RETAIN_DAYS && !force {
        return Err(PruneError::TooShort(retain_days));
    }
    let io = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| PruneError::Io { path, source }
    };
    let lock_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(dir.join(LOCK))
        .map_err(io(dir))?;
    let _lock = super::AppendLock::take(&lock_file).map_err(io(dir))?;
    let keep_from = today - time::Duration::days(i64::from(retain_days));
    let mut pruned = Pruned::default();
    let mut checkpoint = location.checkpoint().map_err(io(dir))?;
    for path in location.files().map_err(io(dir))? {
        let Some(day) = files::day_of(&path) else {
            continue;
        };
        if day < keep_from {
            // The chain continues from this file's last line.
            if let Some((seq, hash, _, _)) = super::head::last_chained(&path).map_err(io(&path))? {
                checkpoint = Some(Checkpoint {
                    seq,
                    hash,
                    through: day.to_string(),
                    files_pruned: checkpoint.as_ref().map_or(0, |c| c.files_pruned),
                    seal: None,
                });
            }
            if let Some(c) = &mut checkpoint {
                c.files_pruned += 1;
                c.through = day.to_string();
                c.seal = Some(sealer.hash(&c.sealed_bytes()));
            }
            // The checkpoint is on disk before the file goes.
            write_checkpoint(dir, checkpoint.as_ref()).map_err(io(dir))?;
            std::fs::remove_file(&path).map_err(io(&path))?;
            pruned.removed.push(path);
        } else if let Some(after) = compress_after_days {
            let compress_before = today - time::Duration::days(i64::from(after.max(1)));
            if day < compress_before && path.extension().is_some_and(|e| e == "jsonl") {
                pruned.compressed.push(compress(&path).map_err(io(&path))?);
            }
        }
    }
    pruned.checkpoint = if pruned.removed.is_empty() {
        None
    } else {
        checkpoint
    };
    Ok(pruned)
}

fn write_checkpoint(dir: &std::path::Path, checkpoint: Option<&Checkpoint>) -> std::io::Result<()> {
    let Some(checkpoint) = checkpoint else {
        return Ok(());
    };
    let temporary = dir.join(format!("{CHECKPOINT}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    file.write_all(&serde_json::to_vec_pretty(checkpoint).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&temporary, dir.join(CHECKPOINT))
}

/// Compresses `path` to `path.gz` (written whole and synced before the original goes).
fn compress(path: &std::path::Path) -> std::io::Result<PathBuf> {
    let mut name = path.as_os_str().to_owned();
    name.push(".gz");
    let target = PathBuf::from(name);
    let mut temporary = target.as_os_str().to_owned();
    temporary.push(".tmp");
    let temporary = PathBuf::from(temporary);
    let out = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    std::io::copy(&mut std::fs::File::open(path)?, &mut encoder)?;
    encoder.finish()?.sync_all()?;
    std::fs::rename(&temporary, &target)?;
    std::fs::remove_file(path)?;
    Ok(target)
}
