//! Parsers that nbdkit gained after 1.32, in Rust, for when the running
//! nbdkit lacks them. They accept what nbdkit's own accept.

/// A probability: `0.1`, `1e-1`, `10%`, `1:10` or `1/10` all mean one in
/// ten. Finite and >= 0 (it may exceed 1: `200%` is 2.0).
pub fn probability(s: &str) -> Option<f64> {
    let s = s.trim();
    let p = if let Some(pct) = s.strip_suffix('%') {
        number(pct)? / 100.0
    } else if let Some((n, d)) = s.split_once([':', '/']) {
        let (n, d) = (number(n)?, number(d)?);
        if d == 0.0 {
            return None;
        }
        n / d
    } else {
        number(s)?
    };
    (p.is_finite() && p >= 0.0).then_some(p)
}

/// A delay: `1`, `1.2`, `1.2s`, `120ms`, `1.2us`, `1.2μs`, `1ns`, as
/// (seconds, nanoseconds).
pub fn delay(s: &str) -> Option<(u32, u32)> {
    let s = s.trim();
    let (num, scale) = [("ns", 1e-9), ("us", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1.0)]
        .iter()
        .find_map(|(suffix, scale)| s.strip_suffix(suffix).map(|n| (n, *scale)))
        .unwrap_or((s, 1.0));
    let secs = number(num)?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // Work in whole nanoseconds to avoid 0.1 + 0.2 style surprises.
    let total_ns = (secs * scale * 1e9).round();
    let total_ns = total_ns as u128;
    let sec = u32::try_from(total_ns / 1_000_000_000).ok()?;
    Some((sec, (total_ns % 1_000_000_000) as u32))
}

fn number(s: &str) -> Option<f64> {
    let s = s.trim();
    // Rust's parser also takes "inf" and "nan": not numbers here.
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '+' || c == '-') {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities() {
        for s in ["0.1", "1e-1", "10%", "1:10", "1/10", " 10 % "] {
            assert!((probability(s).unwrap() - 0.1).abs() < 1e-12, "{s}");
        }
        assert_eq!(probability("200%"), Some(2.0));
        assert_eq!(probability("0"), Some(0.0));
        for s in ["", "x", "-0.5", "1/0", "inf", "nan", "1:", "%"] {
            assert_eq!(probability(s), None, "{s}");
        }
    }

    #[test]
    fn delays() {
        assert_eq!(delay("1"), Some((1, 0)));
        assert_eq!(delay("1.2"), Some((1, 200_000_000)));
        assert_eq!(delay("1.2s"), Some((1, 200_000_000)));
        assert_eq!(delay("120ms"), Some((0, 120_000_000)));
        assert_eq!(delay("1.2ms"), Some((0, 1_200_000)));
        assert_eq!(delay("1.2us"), Some((0, 1_200)));
        assert_eq!(delay("120μs"), Some((0, 120_000)));
        assert_eq!(delay("1ns"), Some((0, 1)));
        assert_eq!(delay("4294967295"), Some((u32::MAX, 0)));
        for s in ["", "s", "-1", "1x", "nan", "inf", "4294967296", "4294967295.9999999999"] {
            assert_eq!(delay(s), None, "{s}");
        }
    }
}
