//! Small value types shared by the model.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::Date;

/// An amount in euro cents. Integer cents: amounts are compared against mandates, and
/// floating point would make "exactly at the limit" ambiguous.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Money(pub i64);

impl Money {
    /// From whole euros.
    pub const fn euros(euros: i64) -> Self {
        Money(euros * 100)
    }

    /// From whole euros that came from outside (the admin API, the admin tool): `None`
    /// when the amount in cents does not fit.
    pub const fn try_euros(euros: i64) -> Option<Self> {
        match euros.checked_mul(100) {
            Some(cents) => Some(Money(cents)),
            None => None,
        }
    }

    /// The amount in cents.
    pub const fn cents(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Money {
    /// `EUR 1,200` or `EUR 1,200.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (euros, cents) = (abs / 100, abs % 100);
        let digits = euros.to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        if cents == 0 {
            write!(f, "EUR {sign}{grouped}")
        } else {
            write!(f, "EUR {sign}{grouped}.{cents:02}")
        }
    }
}

/// A moment, as milliseconds since the Unix epoch (UTC). The time of a change is the
/// device's clock when it was made; it is informative, never used for ordering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The current time of this machine.
    pub fn now() -> Self {
        let ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
    }

    /// The calendar date (UTC) of this moment.
    pub fn date(self) -> Date {
        let nanos = i128::from(self.0) * 1_000_000;
        time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map(|t| t.date())
            .unwrap_or(Date::MIN)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(t) => write!(f, "{} {:02}:{:02}", t.date(), t.hour(), t.minute()),
            Err(_) => write!(f, "@{}ms", self.0),
        }
    }
}

/// A period of days, both ends included.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Period {
    /// First day.
    pub start: Date,
    /// Last day.
    pub end: Date,
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} t/m {}", self.start, self.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn euros_from_outside_that_do_not_fit_in_cents_are_refused() {
        assert_eq!(Money::try_euros(1200), Some(Money::euros(1200)));
        assert_eq!(
            Money::try_euros(i64::MAX / 100),
            Some(Money(i64::MAX / 100 * 100))
        );
        assert_eq!(Money::try_euros(i64::MAX / 100 + 1), None);
        assert_eq!(Money::try_euros(i64::MIN), None);
    }

    #[test]
    fn money_reads_as_people_write_it() {
        assert_eq!(Money::euros(1200).to_string(), "EUR 1,200");
        assert_eq!(Money(123_456_789).to_string(), "EUR 1,234,567.89");
        assert_eq!(Money(50).to_string(), "EUR 0.50");
        assert_eq!(Money(-1000).to_string(), "EUR -10");
    }
}
