//! Exact money: integer minor units with an ISO 4217 currency.
//!
//! Gateways send amounts three ways — a JSON number in major units (the ledger's `75.50`), a
//! decimal string (Plaid's `"12.34"`) or an integer already in minor units (Stripe's `1099`).
//! None of them ever passes through `f64`: the raw JSON token is parsed as a decimal and scaled
//! by the currency's ISO 4217 exponent (JPY 0, USD 2, BHD 3).

use std::fmt;
use std::str::FromStr;

use iso_currency::Currency;
use rust_decimal::Decimal;
use serde::Serialize;

/// An exact amount: integer minor units of an ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Money {
    /// The amount in the currency's minor unit (cents for USD, yen for JPY, fils for BHD).
    pub amount_minor: i64,
    /// The ISO 4217 currency.
    #[serde(serialize_with = "serialize_code")]
    pub currency: Currency,
}

fn serialize_code<S: serde::Serializer>(currency: &Currency, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(currency.code())
}

/// Why an amount could not be read exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The currency code is not an ISO 4217 code.
    #[error("`{0}` is not an ISO 4217 currency code")]
    UnknownCurrency(String),
    /// The currency has no minor unit (precious metals, testing codes).
    #[error("currency {0} has no minor unit")]
    NoMinorUnit(&'static str),
    /// The amount is not a decimal number.
    #[error("amount `{0}` is not a decimal number")]
    NotDecimal(String),
    /// The amount has more decimals than the currency allows.
    #[error("amount {amount} has more decimals than {currency} allows ({exponent})")]
    TooPrecise {
        /// The amount as sent.
        amount: String,
        /// The currency's code.
        currency: &'static str,
        /// The currency's ISO 4217 exponent.
        exponent: u16,
    },
    /// The amount does not fit in 64-bit minor units.
    #[error("amount {0} is too large")]
    Overflow(String),
    /// A payment's amount below zero, which no gateway's schema allows.
    #[error("amount {0} is negative")]
    Negative(String),
    /// The gateway's own minor units do not make a whole amount in ISO 4217's.
    #[error(
        "amount {amount} in the gateway's minor units of {currency} is not a whole number of ISO 4217 minor units"
    )]
    NotWhole {
        /// The amount as sent.
        amount: i64,
        /// The currency's code.
        currency: &'static str,
    },
}

/// Looks up an ISO 4217 currency by code, in either case (Stripe sends `usd`).
pub fn currency(code: &str) -> Result<Currency, MoneyError> {
    Currency::from_code(&code.to_ascii_uppercase())
        .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
}

fn exponent(currency: Currency) -> Result<u16, MoneyError> {
    currency
        .exponent()
        .ok_or(MoneyError::NoMinorUnit(currency.code()))
}

impl Money {
    /// Reads an amount in major units written as decimal text (`"75.50"`, `150`, `1.5e2`).
    pub fn from_major_text(text: &str, currency: Currency) -> Result<Money, MoneyError> {
        let exponent = exponent(currency)?;
        let not_decimal = || MoneyError::NotDecimal(text.to_owned());
        let decimal = if text.contains(['e', 'E']) {
            Decimal::from_scientific(text).map_err(|_| not_decimal())?
        } else {
            Decimal::from_str_exact(text).map_err(|_| not_decimal())?
        };
        let normalized = decimal.normalize();
        if normalized.scale() > u32::from(exponent) {
            return Err(MoneyError::TooPrecise {
                amount: text.to_owned(),
                currency: currency.code(),
                exponent,
            });
        }
        let overflow = || MoneyError::Overflow(text.to_owned());
        let scale = Decimal::from(
            10_i64
                .checked_pow(u32::from(exponent))
                .ok_or_else(overflow)?,
        );
        let minor = normalized.checked_mul(scale).ok_or_else(overflow)?;
        let amount_minor = i64::try_from(minor).map_err(|_| overflow())?;
        Ok(Money {
            amount_minor,
            currency,
        })
    }

    /// A payment's amount sent as an integer in the gateway's own minor units, where the
    /// gateway's exponent for the currency is `gateway_exponent` (Stripe's zero-decimal MGA:
    /// 0, where ISO 4217 says 2): converted exactly to ISO 4217 minor units. Refused when
    /// negative, when the currency has no minor unit (XXX, metals, test codes) or when the
    /// conversion is not whole.
    pub fn from_gateway_minor(
        amount: i64,
        gateway_exponent: u16,
        currency: Currency,
    ) -> Result<Money, MoneyError> {
        let iso = exponent(currency)?;
        if amount < 0 {
            return Err(MoneyError::Negative(amount.to_string()));
        }
        let overflow = || MoneyError::Overflow(amount.to_string());
        let scale = |digits: u16| 10_i64.checked_pow(u32::from(digits)).ok_or_else(overflow);
        let amount_minor = if iso >= gateway_exponent {
            amount
                .checked_mul(scale(iso - gateway_exponent)?)
                .ok_or_else(overflow)?
        } else {
            let divisor = scale(gateway_exponent - iso)?;
            if amount % divisor != 0 {
                return Err(MoneyError::NotWhole {
                    amount,
                    currency: currency.code(),
                });
            }
            amount / divisor
        };
        Ok(Money {
            amount_minor,
            currency,
        })
    }

    /// This amount as a payment's amount: refused when negative.
    pub fn non_negative(self) -> Result<Money, MoneyError> {
        if self.amount_minor < 0 {
            Err(MoneyError::Negative(self.to_string()))
        } else {
            Ok(self)
        }
    }

    /// Builds an amount already in ISO 4217 minor units.
    pub fn from_minor(amount_minor: i64, currency: Currency) -> Money {
        Money {
            amount_minor,
            currency,
        }
    }

    /// The ISO 4217 code, upper case.
    pub fn currency_code(&self) -> &'static str {
        self.currency.code()
    }
}

/// Shows the amount for people: `150.00 USD`, `100 JPY`, `1.250 BHD`.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = self.currency.exponent().unwrap_or(0);
        let major = Decimal::new(self.amount_minor, u32::from(exponent));
        write!(f, "{major} {}", self.currency.code())
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    /// Parses `"<major amount> <CODE>"`, the form [`Display`](fmt::Display) writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (amount, code) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| MoneyError::NotDecimal(s.to_owned()))?;
        Money::from_major_text(amount, currency(code)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(text: &str, code: &str) -> Result<i64, MoneyError> {
        Money::from_major_text(text, currency(code)?).map(|m| m.amount_minor)
    }

    #[test]
    fn major_units_scale_by_the_currency_exponent() {
        assert_eq!(minor("75.50", "USD"), Ok(7550));
        assert_eq!(minor("150.00", "usd"), Ok(15000));
        assert_eq!(minor("150", "USD"), Ok(15000));
        assert_eq!(minor("100", "JPY"), Ok(100));
        assert_eq!(minor("1.250", "BHD"), Ok(1250));
        assert_eq!(minor("1.5e2", "USD"), Ok(15000));
        assert_eq!(minor("-12.34", "EUR"), Ok(-1234));
    }

    #[test]
    fn values_that_floats_get_wrong_are_exact() {
        // 0.1 + 0.2 style values, and one past f64's 2^53 integer range.
        assert_eq!(minor("0.30", "USD"), Ok(30));
        assert_eq!(minor("90071992547409.93", "USD"), Ok(9_007_199_254_740_993));
    }

    #[test]
    fn too_many_decimals_are_refused_not_rounded() {
        assert!(matches!(
            minor("75.505", "USD"),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert!(matches!(
            minor("1.5", "JPY"),
            Err(MoneyError::TooPrecise { .. })
        ));
        // Trailing zeros are not extra precision.
        assert_eq!(minor("75.5000", "USD"), Ok(7550));
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(matches!(
            minor("abc", "USD"),
            Err(MoneyError::NotDecimal(_))
        ));
        assert!(matches!(minor("", "USD"), Err(MoneyError::NotDecimal(_))));
        assert!(matches!(
            minor("1", "XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(minor("1", "XAU"), Err(MoneyError::NoMinorUnit(_))));
        assert!(matches!(
            minor("99999999999999999999", "USD"),
            Err(MoneyError::Overflow(_))
        ));
    }

    #[test]
    fn a_gateways_minor_units_become_iso_minor_units_exactly() {
        let from = |amount, exponent, code| {
            Money::from_gateway_minor(amount, exponent, currency(code).unwrap())
        };
        let mga = from(5000, 0, "MGA").unwrap();
        assert_eq!(
            (mga.amount_minor, mga.to_string()),
            (500_000, "5000.00 MGA".into())
        );
        let isk = from(50_000, 2, "ISK").unwrap();
        assert_eq!((isk.amount_minor, isk.to_string()), (500, "500 ISK".into()));
        assert!(matches!(
            from(50_050, 2, "ISK"),
            Err(MoneyError::NotWhole { .. })
        ));
        assert_eq!(from(1250, 3, "BHD").unwrap().to_string(), "1.250 BHD");
        assert_eq!(from(1099, 2, "USD").unwrap().amount_minor, 1099);
        assert!(matches!(from(-1, 2, "USD"), Err(MoneyError::Negative(_))));
        assert!(matches!(
            from(i64::MIN, 2, "USD"),
            Err(MoneyError::Negative(_))
        ));
        assert!(matches!(
            from(100, 2, "XXX"),
            Err(MoneyError::NoMinorUnit("XXX"))
        ));
        assert!(matches!(
            from(i64::MAX, 0, "MGA"),
            Err(MoneyError::Overflow(_))
        ));
        assert!(
            Money::from_minor(-5, currency("USD").unwrap())
                .non_negative()
                .is_err()
        );
        assert!(
            Money::from_minor(0, currency("USD").unwrap())
                .non_negative()
                .is_ok()
        );
    }

    #[test]
    fn display_writes_major_units_with_the_code() {
        let usd = currency("USD").unwrap();
        assert_eq!(Money::from_minor(15000, usd).to_string(), "150.00 USD");
        assert_eq!(Money::from_minor(7550, usd).to_string(), "75.50 USD");
        assert_eq!(Money::from_minor(5, usd).to_string(), "0.05 USD");
        assert_eq!(
            Money::from_minor(100, currency("JPY").unwrap()).to_string(),
            "100 JPY"
        );
        assert_eq!(
            Money::from_minor(1250, currency("BHD").unwrap()).to_string(),
            "1.250 BHD"
        );
        assert_eq!("250.00 USD".parse::<Money>().unwrap().amount_minor, 25000);
    }
}
