//! What the verbs share: argument parsers and how results are printed.

use std::time::{SystemTime, UNIX_EPOCH};

use rdaos::obj::oclass::ObjClass;
use rdaos::size::parse_size;

use crate::CliError;

/// `--size`, `--chunk-size`: `4G`, `512K`, `1.5GiB`, `4096`.
pub fn size_arg(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

/// `--oclass`: a DAOS class name, case-insensitive.
pub fn oclass_arg(s: &str) -> Result<ObjClass, String> {
    ObjClass::parse(s).map_err(|_| {
        let known: Vec<&str> = ObjClass::NAMED.iter().map(|(n, _)| *n).collect();
        format!("unknown object class {s:?} (known: {})", known.join(", "))
    })
}

/// A JSON value, as `--json` prints it. The schema is rdaos's own and
/// stable: keys are snake_case, sizes are bytes as numbers, times are
/// seconds since the Unix epoch, and a value that cannot be told is
/// `null` (see README's "Output for scripts").
///
/// Written by hand rather than with serde_json: the output is a few flat
/// objects that are only ever written, never read, and the `rdaos`
/// package is also the library other programs embed, which should not
/// pull serializers into their builds for the command's sake.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`: not known.
    Null,
    /// A count or a size in bytes.
    Num(u64),
    /// `true` or `false`.
    Bool(bool),
    /// Text.
    Str(String),
    /// A list.
    Arr(Vec<Json>),
    /// An object: keys in the order given.
    Obj(Vec<(&'static str, Json)>),
}

impl Json {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// The value on one line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Num(n) => out.push_str(&n.to_string()),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Str(s) => quote(s, out),
            Json::Arr(v) => {
                out.push('[');
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    x.write(out);
                }
                out.push(']');
            }
            Json::Obj(kv) => {
                out.push('{');
                for (i, (k, v)) in kv.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    quote(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// Prints the value and a newline on stdout.
    pub fn print(&self) {
        println!("{}", self.render());
    }
}

/// `s` as a JSON string: quoted, with `"`, `\` and control characters
/// escaped (everything else is UTF-8 as it is).
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The test hook's environment variable: `RDAOS_KILL_AT=OP:STEP` makes
/// the process kill itself with SIGKILL right after step STEP of OP, as a
/// crash there would (the crash-safety tests use it). Only the exact
/// values of [`KILL_POINTS`] arm it; [`check_kill_at`] refuses any other.
pub const KILL_AT_ENV: &str = "RDAOS_KILL_AT";

/// Every value [`KILL_AT_ENV`] may take, as `(OP, STEPS)`; a step written
/// `target-N` stands for `target-0`, `target-1`, ... (one per target).
pub const KILL_POINTS: &[(&str, &[&str])] = &[
    ("pool-relabel", &["next", "dir"]),
    (
        "cont-create",
        &["intent", "container", "root", "superblock"],
    ),
    ("cont-destroy", &["intent", "target-N"]),
    ("cont-relabel", &["intent", "target-N"]),
];

/// Whether `at` is exactly one of [`KILL_POINTS`].
fn is_kill_point(at: &str) -> bool {
    let Some((op, step)) = at.split_once(':') else {
        return false;
    };
    KILL_POINTS.iter().any(|(o, steps)| {
        *o == op
            && steps.iter().any(|s| match s.strip_suffix('N') {
                Some(prefix) => step
                    .strip_prefix(prefix)
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
                None => *s == step,
            })
    })
}

/// Checks [`KILL_AT_ENV`] before any verb runs: unset or empty is the
/// normal case; a documented value is said on standard error (the hook
/// is armed); anything else is refused, so a stray or mistyped value
/// neither kills a process nor goes unnoticed.
pub fn check_kill_at() -> Result<(), CliError> {
    let Some(at) = std::env::var_os(KILL_AT_ENV) else {
        return Ok(());
    };
    if at.is_empty() {
        return Ok(());
    }
    let at = at.to_string_lossy();
    if is_kill_point(&at) {
        eprintln!(
            "rdaos: {KILL_AT_ENV}={at} is set: test hook armed, this process kills itself \
             with SIGKILL after that step"
        );
        return Ok(());
    }
    let valid: Vec<String> = KILL_POINTS
        .iter()
        .flat_map(|(op, steps)| steps.iter().map(move |s| format!("{op}:{s}")))
        .collect();
    Err(CliError::usage(format!(
        "{KILL_AT_ENV}={at:?} is not one of the test hook's values ({}); unset it",
        valid.join(", ")
    )))
}

/// The test hook (see [`KILL_AT_ENV`]): a function to call after each
/// durable step of `op`; it kills the process when [`KILL_AT_ENV`] names
/// exactly that step.
pub fn kill_at(op: &'static str) -> impl FnMut(&str) {
    let at = std::env::var(KILL_AT_ENV)
        .ok()
        .filter(|at| is_kill_point(at));
    move |step: &str| {
        let Some(at) = &at else { return };
        if at.split_once(':') == Some((op, step)) {
            use rdaos::dfs::errno::libc;
            use std::io::Write;
            let _ = std::io::stdout().flush();
            // SAFETY: kill and getpid touch no memory; SIGKILL ends the
            // process here, as a crash would.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
        }
    }
}

/// Prints `rows` as an aligned `name: value` list under `title`.
pub fn fields(title: &str, rows: &[(&str, String)]) {
    println!("{title}");
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    for (k, v) in rows {
        println!("  {k:<w$} : {v}");
    }
}

/// Prints a table: a header row, then `rows`, columns aligned (the last
/// one left ragged).
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            if i + 1 == n {
                s += c;
            } else {
                s += &format!("{c:<width$}  ", width = w[i]);
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    line(
        w.iter()
            .map(|n| "-".repeat(*n))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
    );
    for r in rows {
        line(r.iter().map(|s| s.as_str()).collect());
    }
}

/// `t` as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn date(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The proleptic Gregorian date of `days` since 1970-01-01 (the
/// era-based conversion: 400-year eras of 146,097 days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `part` of `whole` as a percentage for people: `0%` for nothing,
/// `<1%` for a little, otherwise the whole percent rounded down.
pub fn percent(part: u64, whole: u64) -> String {
    if part == 0 || whole == 0 {
        return "0%".into();
    }
    match u128::from(part) * 100 / u128::from(whole) {
        0 => "<1%".into(),
        p => format!("{p}%"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn only_the_documented_kill_points_arm_the_test_hook() {
        for at in [
            "pool-relabel:next",
            "pool-relabel:dir",
            "cont-create:superblock",
            "cont-destroy:target-0",
            "cont-relabel:target-12",
        ] {
            assert!(is_kill_point(at), "{at}");
        }
        for at in [
            "1",
            "yes",
            "pool-relabel",
            "pool-relabel:",
            "pool-relabel:nextt",
            " pool-relabel:next",
            "cont-destroy:target-",
            "cont-destroy:target-N",
            "cont-destroy:target-1x",
            "cont-create:target-0",
            "pool-destroy:dir",
        ] {
            assert!(!is_kill_point(at), "{at}");
        }
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        let at = |s: u64| date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_767_225_599), "2025-12-31 23:59:59 UTC");
        assert_eq!(at(4_107_542_400), "2100-03-01 00:00:00 UTC");
    }

    #[test]
    fn json_is_escaped_and_keeps_key_order() {
        let v = Json::Obj(vec![
            ("label", Json::str("a\"b\\c\nd\u{1}é")),
            ("size", Json::Num(u64::MAX)),
            ("none", Json::Null),
            ("yes", Json::Bool(true)),
            ("list", Json::Arr(vec![Json::Num(1), Json::Obj(vec![])])),
        ]);
        assert_eq!(
            v.render(),
            r#"{"label":"a\"b\\c\nd\u0001é","size":18446744073709551615,"none":null,"yes":true,"list":[1,{}]}"#
        );
    }

    #[test]
    fn arguments_parse_or_say_why() {
        assert_eq!(size_arg("512K"), Ok(512 << 10));
        assert!(size_arg("4X").unwrap_err().contains("unknown unit"));
        assert_eq!(oclass_arg("rp_2g1"), Ok(ObjClass::RP_2G1));
        let e = oclass_arg("EC_2P1").unwrap_err();
        assert!(e.contains("known: S1, S2, SX, RP_2G1"), "{e}");
        assert_eq!(percent(1, 1000), "<1%");
        assert_eq!(percent(0, 5), "0%");
        assert_eq!(percent(5, 0), "0%");
        assert_eq!(percent(999, 1000), "99%");
        assert_eq!(percent(100, 100), "100%");
    }
}
