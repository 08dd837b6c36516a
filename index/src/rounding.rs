//! Python's round(x, n) for floats: the correctly rounded decimal with n places (ties to even
//! on the exact binary value), read back as the nearest double. Explanations show rounded
//! figures, and the two cores must agree on them to the last digit.

pub fn py_round(x: f64, places: usize) -> f64 {
    if !x.is_finite() {
        return x;
    }
    if places <= 15 {
        // Away from a tie, the scaled value's nearest integer is the correctly rounded decimal,
        // and dividing it by the exact power of ten gives the nearest double: no formatting.
        let scale = 10f64.powi(places as i32);
        let scaled = x * scale;
        let fraction = scaled - scaled.floor();
        if scaled.abs() < 1e15 && (fraction - 0.5).abs() > 1e-6 {
            return scaled.round() / scale;
        }
    }
    format!("{x:.places$}").parse().unwrap_or(x)
}

#[cfg(test)]
mod tests {
    use super::py_round;

    #[test]
    fn ties_go_to_even_on_the_exact_value() {
        assert_eq!(py_round(0.125, 2), 0.12);
        assert_eq!(py_round(0.375, 2), 0.38);
        assert_eq!(py_round(2.675, 2), 2.67); // 2.675 is 2.67499999… in binary
        assert_eq!(py_round(91.105, 1), 91.1);
        assert_eq!(py_round(-0.5, 0), -0.0);
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_agrees_with_the_correctly_rounded_decimal(x in -1e6f64..1e6, places in 0usize..6) {
            let exact: f64 = format!("{x:.places$}").parse().unwrap();
            proptest::prop_assert_eq!(py_round(x, places).to_bits(), exact.to_bits());
        }
    }
}
