//! Amounts as people type and read them: decimal Dai or ETH (18 decimals) to and from base units, as integers
//! only — a float would round a balance.

use alloy_primitives::U256;

/// Both of the card's tokens, Dai and ETH, have 18 decimals.
const DECIMALS: usize = 18;

// The two conversions below are written here rather than taken from alloy's `utils::{parse_ether,
// format_ether}`: those go through its general signed, any-unit machinery, 9 KB of the card's .wasm for what is
// a string split and a multiplication.

/// `amount` with all 18 decimals: `12.500000000000000000`.
fn format_ether(amount: U256) -> String {
    let digits = format!("{amount:0>width$}", width = DECIMALS + 1);
    let (whole, fraction) = digits.split_at(digits.len() - DECIMALS);
    format!("{whole}.{fraction}")
}

/// Base units from `whole[.fraction]` (ASCII digits, at most 18 decimals; checked by the caller); `None` when
/// the amount does not fit in 256 bits.
fn parse_ether(text: &str) -> Option<U256> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let whole = if whole.is_empty() {
        U256::ZERO
    } else {
        U256::from_str_radix(whole, 10).ok()?
    };
    let fraction = format!("{fraction:0<DECIMALS$}");
    let fraction = U256::from_str_radix(&fraction, 10).ok()?;
    whole
        .checked_mul(U256::from(10u64).pow(U256::from(DECIMALS)))?
        .checked_add(fraction)
}

/// Base units from a decimal amount such as `12`, `0.5` or `1,000.25`; more than 18 decimals, a sign, or anything
/// but digits is refused with a sentence for the form.
pub fn parse(text: &str) -> Result<U256, String> {
    let text: String = text.trim().chars().filter(|c| *c != ',').collect();
    if text.is_empty() {
        return Err("enter an amount".into());
    }
    if !text.chars().all(|c| c.is_ascii_digit() || c == '.') || text.matches('.').count() > 1 {
        return Err(format!(
            "\"{text}\" is not an amount: use digits and one decimal point"
        ));
    }
    if text.split('.').nth(1).is_some_and(|d| d.len() > 18) {
        return Err("at most 18 decimals".into());
    }
    let text = if text.starts_with('.') {
        format!("0{text}")
    } else {
        text
    };
    let amount = parse_ether(text.trim_end_matches('.'))
        .ok_or_else(|| format!("\"{text}\" is too large an amount"))?;
    if amount.is_zero() {
        return Err("the amount must be more than zero".into());
    }
    Ok(amount)
}

/// [`parse`], refused above `balance` (what the card holds) with the balance in the sentence.
pub fn parse_at_most(text: &str, balance: U256) -> Result<U256, String> {
    parse(text).and_then(|a| {
        if a > balance {
            Err(format!("The card holds {} Dai.", format(balance, 4)))
        } else {
            Ok(a)
        }
    })
}

/// `amount` in whole units with at most `decimals` decimals, rounded down, trailing zeros dropped: `12.5`, `0.0001`.
/// A non-zero amount too small to show reads `< 0.0001`, never `0`.
pub fn format(amount: U256, decimals: usize) -> String {
    let full = format_ether(amount);
    let (whole, fraction) = full.split_once('.').unwrap_or((&full, ""));
    let shown = fraction[..decimals.min(fraction.len())].trim_end_matches('0');
    if shown.is_empty() && whole == "0" && !amount.is_zero() {
        return format!("< 0.{}1", "0".repeat(decimals.saturating_sub(1)));
    }
    if shown.is_empty() {
        whole.to_string()
    } else {
        format!("{whole}.{shown}")
    }
}

/// Exactly, every decimal kept: what a link or a form carries.
pub fn exact(amount: U256) -> String {
    let full = format_ether(amount);
    let trimmed = full.trim_end_matches('0').trim_end_matches('.');
    if trimmed.is_empty() {
        "0".into()
    } else {
        trimmed.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAI: u128 = 1_000_000_000_000_000_000;

    #[test]
    fn parses_decimals_into_base_units_exactly() {
        assert_eq!(parse("12"), Ok(U256::from(12 * DAI)));
        assert_eq!(parse(" 0.5 "), Ok(U256::from(DAI / 2)));
        assert_eq!(parse(".25"), Ok(U256::from(DAI / 4)));
        assert_eq!(
            parse("1,000.000000000000000001"),
            Ok(U256::from(1000 * DAI + 1))
        );
        assert_eq!(parse("3."), Ok(U256::from(3 * DAI)));
    }

    #[test]
    fn refuses_what_is_not_a_positive_amount() {
        for bad in [
            "",
            "-1",
            "1e3",
            "0",
            "0.0",
            "1.2.3",
            "abc",
            "0.0000000000000000001",
            "NaN",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse(&"9".repeat(80)).is_err());
        assert_eq!(
            parse_at_most("2", U256::from(2 * DAI)),
            Ok(U256::from(2 * DAI))
        );
        assert!(parse_at_most("2.000000000000000001", U256::from(2 * DAI)).is_err());
    }

    #[test]
    fn formats_rounding_down_and_never_shows_zero_for_dust() {
        assert_eq!(format(U256::from(12 * DAI + DAI / 2), 2), "12.5");
        assert_eq!(format(U256::from(DAI * 2 / 3), 2), "0.66");
        assert_eq!(format(U256::from(7 * DAI), 4), "7");
        assert_eq!(format(U256::ZERO, 2), "0");
        assert_eq!(format(U256::from(1), 4), "< 0.0001");
        assert_eq!(exact(U256::from(DAI + 1)), "1.000000000000000001");
        assert_eq!(exact(U256::from(5 * DAI)), "5");
        assert_eq!(exact(U256::ZERO), "0");
        assert_eq!(parse(&exact(U256::from(DAI / 3))), Ok(U256::from(DAI / 3)));
        assert_eq!(exact(U256::from(1)), "0.000000000000000001");
        let max = U256::MAX.to_string();
        let (whole, fraction) = max.split_at(max.len() - 18);
        assert_eq!(
            exact(U256::MAX),
            format!("{whole}.{}", fraction.trim_end_matches('0'))
        );
        assert_eq!(parse(&exact(U256::MAX)), Ok(U256::MAX));
        assert!(
            parse(&format!("{whole}.{fraction}9")).is_err(),
            "19 decimals"
        );
        assert!(
            parse(&format!("{whole}0")).is_err(),
            "ten times the largest"
        );
        let one_more = U256::MAX / U256::from(DAI) + U256::from(1);
        assert!(
            parse(&one_more.to_string()).is_err(),
            "just past the largest"
        );
    }
}
