//! Byte sizes as people write them: `4G`, `4GiB`, `512K`, `1.5M`,
//! `4096`, and back (`4.0 GiB`).
//!
//! Every suffix is binary (a power of 1024), with or without `i` and `B`
//! and in either case: `4G`, `4g`, `4GB` and `4GiB` are all 4 × 2³⁰
//! bytes. DAOS's own tools read `GB` as 10⁹; rdaos does not, because pool
//! sizes must be whole 4 KiB blocks and chunk sizes powers of two, and a
//! decimal gigabyte is neither.

/// Why a size did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SizeError {
    /// Nothing, or no digits, where a size was expected.
    #[error("{0:?} is not a size (expected e.g. 4096, 512K, 4G, 1.5GiB)")]
    NotANumber(String),
    /// A suffix other than K, M, G, T, P, E (with optional `i` and `B`).
    #[error("{input:?}: unknown unit {unit:?} (use K, M, G, T, P or E, optionally with iB)")]
    BadUnit {
        /// What was given.
        input: String,
        /// The unit part.
        unit: String,
    },
    /// More than `u64::MAX` bytes.
    #[error("{0:?} is too large")]
    TooLarge(String),
    /// A fraction that is not a whole number of bytes (`0.1K`).
    #[error("{0:?} is not a whole number of bytes")]
    Fraction(String),
}

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Parses a size: digits with an optional fraction (`1.5`) and an
/// optional binary unit (`K`, `KB`, `KiB`, ... `E`; case-insensitive;
/// spaces between number and unit are allowed). No unit means bytes.
pub fn parse_size(s: &str) -> Result<u64, SizeError> {
    let t = s.trim();
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = (&t[..num_end], t[num_end..].trim_start());
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num, ""),
    };
    if int.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(SizeError::NotANumber(s.to_string()));
    }
    let shift = unit_shift(unit).ok_or_else(|| SizeError::BadUnit {
        input: s.to_string(),
        unit: unit.to_string(),
    })?;
    let big = || SizeError::TooLarge(s.to_string());
    // Whole part, exactly.
    let mut whole: u128 = 0;
    for d in int.bytes() {
        whole = whole * 10 + u128::from(d - b'0');
        if whole > u128::from(u64::MAX) {
            return Err(big());
        }
    }
    let mut bytes = whole << shift;
    // Fraction: digits / 10^n of the unit, which must come out whole.
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        if frac.len() > 19 {
            return Err(SizeError::Fraction(s.to_string()));
        }
        let mut f: u128 = 0;
        for d in frac.bytes() {
            f = f * 10 + u128::from(d - b'0');
        }
        let den = 10u128.pow(frac.len() as u32);
        let scaled = f << shift;
        if scaled % den != 0 {
            return Err(SizeError::Fraction(s.to_string()));
        }
        bytes += scaled / den;
    }
    u64::try_from(bytes).map_err(|_| big())
}

/// The power of two of a unit, `None` for an unknown one.
fn unit_shift(unit: &str) -> Option<u32> {
    let u = unit.to_ascii_uppercase();
    let letter = match u.as_str() {
        "" | "B" => return Some(0),
        _ => u.strip_suffix("IB").or(u.strip_suffix('B')).unwrap_or(&u),
    };
    Some(match letter {
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        "P" => 50,
        "E" => 60,
        _ => return None,
    })
}

/// A size for people: bytes below 1 KiB (`512 B`), otherwise the largest
/// binary unit that keeps the number at least 1, with one decimal
/// (`4.0 GiB`, `1.5 MiB`, `1023.9 KiB`), rounded down so that a size is
/// never shown larger than it is.
pub fn format_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut i = 0;
    while i + 1 < UNITS.len() && bytes >> (10 * (i + 1)) > 0 {
        i += 1;
    }
    let unit = 1u128 << (10 * i);
    let tenths = u128::from(bytes) * 10 / unit;
    format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[i])
}

/// Like [`format_size`], but exact when the size is a whole number of a
/// unit (`512 KiB`, `1 MiB`) and with the bytes otherwise
/// (`1.5 MiB (1572864 B)`): for properties such as chunk sizes, where the
/// exact value matters.
pub fn format_size_exact(bytes: u64) -> String {
    if bytes == 0 {
        return "0 B".into();
    }
    let i = (bytes.trailing_zeros() / 10).min(UNITS.len() as u32 - 1) as usize;
    let whole = bytes >> (10 * i);
    if i > 0 || bytes < 1024 {
        return format!("{whole} {}", UNITS[i]);
    }
    format!("{} ({bytes} B)", format_size(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_every_spelling() {
        for (s, v) in [
            ("4096", 4096),
            ("0", 0),
            ("4G", 4 << 30),
            ("4g", 4 << 30),
            ("4GB", 4 << 30),
            ("4GiB", 4 << 30),
            ("4 gib", 4 << 30),
            (" 512M ", 512 << 20),
            ("512K", 512 << 10),
            ("1M", 1 << 20),
            ("1.5G", 3 << 29),
            ("0.5K", 512),
            ("1.50M", 3 << 19),
            (".5M", 1 << 19),
            ("7B", 7),
            ("16E", 0),
            ("15E", 15 << 60),
            ("18446744073709551615", u64::MAX),
        ] {
            if s == "16E" {
                assert!(matches!(parse_size(s), Err(SizeError::TooLarge(_))));
                continue;
            }
            assert_eq!(parse_size(s), Ok(v), "{s}");
        }
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        for s in ["", "G", "abc", "1.2.3", "-1", "4X", "4 GiBs", "4Gi", "."] {
            assert!(parse_size(s).is_err(), "{s:?} accepted");
        }
        assert!(matches!(parse_size("0.1K"), Err(SizeError::Fraction(_))));
        assert!(matches!(
            parse_size("18446744073709551616"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(
            parse_size("99999999999999999999999999999999999999999"),
            Err(SizeError::TooLarge(_))
        ));
        assert!(matches!(
            parse_size("1.00000000000000000000001"),
            Err(SizeError::Fraction(_))
        ));
        let e = parse_size("4X").unwrap_err().to_string();
        assert!(e.contains("unknown unit \"X\""), "{e}");
    }

    #[test]
    fn sizes_format_for_people() {
        for (v, s) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1024, "1.0 KiB"),
            (4 << 30, "4.0 GiB"),
            (256 << 20, "256.0 MiB"),
            (3 << 29, "1.5 GiB"),
            ((1 << 20) - 1, "1023.9 KiB"),
            (u64::MAX, "15.9 EiB"),
        ] {
            assert_eq!(format_size(v), s, "{v}");
        }
        for (v, s) in [
            (512 << 10, "512 KiB"),
            (1 << 20, "1 MiB"),
            (1000, "1000 B"),
            (3 << 19, "1536 KiB"),
            (1025, "1.0 KiB (1025 B)"),
            (0, "0 B"),
        ] {
            assert_eq!(format_size_exact(v), s, "{v}");
        }
        // What is printed parses back to at most the value.
        for v in [1u64 << 20, 5 << 30, 3 << 29, 1000] {
            let shown = format_size(v).replace(' ', "");
            assert!(parse_size(&shown).unwrap() <= v);
        }
    }
}
