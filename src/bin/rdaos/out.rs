//! What the verbs share: argument parsers and how results are printed.

use std::time::{SystemTime, UNIX_EPOCH};

use rdaos::obj::oclass::ObjClass;
use rdaos::size::parse_size;

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
    fn dates_are_utc_calendar_dates() {
        let at = |s: u64| date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(at(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(at(1_767_225_599), "2025-12-31 23:59:59 UTC");
        assert_eq!(at(4_107_542_400), "2100-03-01 00:00:00 UTC");
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
