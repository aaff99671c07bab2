//! The daemon's log (DAOS's `D_LOG_FILE` / `D_LOG_MASK`): one line per
//! event, `2026-12-06T02:25:00.123Z dfuse[PID] WARN message`, written to
//! the process's standard error in one `write(2)` each (whole lines even
//! from several threads). `rdaos dfuse` points standard error at its log
//! file when it daemonizes, so whatever the daemon says (and a panic's
//! message) lands there.
//!
//! The level comes from the environment variable [`LOG_ENV`]
//! (`RDAOS_LOG=error|warn|info|debug`, DAOS's `ERR`, `WARN`, `INFO`,
//! `DBG` too; default [`Level::Warn`]): the watchdog's reports are
//! warnings, failed I/O errors, mounts and unmounts info, every failed
//! request debug.

use std::io::Write;
use std::str::FromStr;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable holding the log level.
pub const LOG_ENV: &str = "RDAOS_LOG";

/// How much the daemon logs, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Failures: data that could not be read or written, a daemon that
    /// could not stop.
    Error,
    /// Trouble that may pass: requests unanswered past the bound.
    Warn,
    /// Mounts and unmounts.
    Info,
    /// Every request answered with an error.
    Debug,
}

/// A log level that is not one of the names [`Level`] knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("log level {0:?}: expected error, warn, info or debug")]
pub struct BadLevel(pub String);

impl FromStr for Level {
    type Err = BadLevel;

    fn from_str(s: &str) -> Result<Level, BadLevel> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" | "err" => Ok(Level::Error),
            "warn" | "warning" => Ok(Level::Warn),
            "info" => Ok(Level::Info),
            "debug" | "dbg" => Ok(Level::Debug),
            _ => Err(BadLevel(s.to_string())),
        }
    }
}

impl Level {
    /// The level's name in a log line.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }

    /// The level [`LOG_ENV`] asks for: `None` when it is not set, an
    /// error when it names no level.
    pub fn from_env() -> Result<Option<Level>, BadLevel> {
        match std::env::var(LOG_ENV) {
            Ok(v) => v.parse().map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(BadLevel(v.to_string_lossy().into())),
        }
    }
}

/// The level in force: [`LOG_ENV`]'s as the first log call found it
/// ([`Level::Warn`] when unset or not a level).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| Level::from_env().ok().flatten().unwrap_or(Level::Warn))
}

/// True if a message of `l` is written.
pub fn enabled(l: Level) -> bool {
    l <= level()
}

/// Writes `msg` as one line of level `l` if the level is in force.
pub fn log(l: Level, msg: std::fmt::Arguments<'_>) {
    if !enabled(l) {
        return;
    }
    let line = format!(
        "{} dfuse[{}] {} {msg}\n",
        timestamp(SystemTime::now()),
        std::process::id(),
        l.name()
    );
    // One write: lines from several threads do not interleave. A log
    // that cannot be written is not a reason to fail a request.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// `t` in UTC as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn levels_parse_and_order() {
        assert_eq!("warn".parse::<Level>(), Ok(Level::Warn));
        assert_eq!("DBG".parse::<Level>(), Ok(Level::Debug));
        assert_eq!(" Info ".parse::<Level>(), Ok(Level::Info));
        assert_eq!("ERR".parse::<Level>(), Ok(Level::Error));
        assert!("loud".parse::<Level>().is_err());
        assert!(Level::Error < Level::Warn && Level::Info < Level::Debug);
    }

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(951_782_400_123); // 2000-02-29
        assert_eq!(timestamp(t), "2000-02-29T00:00:00.123Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_525_100); // 2026-12-06T02:45:00Z
        assert_eq!(timestamp(t), "2026-12-06T02:45:00.000Z");
    }
}
