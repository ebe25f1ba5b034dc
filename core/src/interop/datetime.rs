//! The IAB Datetime field (36 bits of deciseconds since 1970-01-01T00:00:00Z)
//! as UTC text, in the two forms the reference decoders' JSON uses. The
//! models keep the deciseconds; only the JSON views call these.

/// `2020-01-26T17:01:00Z`, or `2020-03-05T19:24:40.900000Z` when the
/// deciseconds are not whole seconds (the form of the TCF vectors).
pub(crate) fn iso_tcf(deciseconds: u64) -> String {
    let tenths = deciseconds % 10;
    let base = date_time(deciseconds / 10);
    if tenths == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{tenths}00000Z")
    }
}

/// `2022-01-01T00:00:00.000Z` (JavaScript's `toISOString`, as iabgpp-es
/// reports GPP datetimes).
pub(crate) fn iso_millis(deciseconds: u64) -> String {
    format!(
        "{}.{:03}Z",
        date_time(deciseconds / 10),
        (deciseconds % 10) * 100
    )
}

/// `YYYY-MM-DDTHH:MM:SS` for seconds since the epoch.
fn date_time(seconds: u64) -> String {
    let days = (seconds / 86_400) as i64;
    let of_day = seconds % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_as_the_vectors_show() {
        assert_eq!(iso_tcf(15_800_580_600), "2020-01-26T17:01:00Z");
        assert_eq!(iso_tcf(15_834_362_809), "2020-03-05T19:24:40.900000Z");
        assert_eq!(iso_millis(16_409_952_000), "2022-01-01T00:00:00.000Z");
        assert_eq!(iso_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_tcf(9_517_824_000), "2000-02-29T00:00:00Z");
    }
}
