//! Label values escaped for both exposition formats: a pod name, an
//! interface name or a network name comes from whoever wrote the pod or the
//! config, and one `"` or newline in it would end the label and inject
//! samples. prometheus-client writes `String`/`&str` values verbatim, so
//! every label value of the daemon goes through [`Lv`].

use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelValue, LabelValueEncoder};

/// A label value; escaped (`\` `"` and newline) when encoded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lv<T>(pub T);

impl<T: AsRef<str>> EncodeLabelValue for Lv<T> {
    fn encode(&self, enc: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        for c in self.0.as_ref().chars() {
            match c {
                '\\' => enc.write_str("\\\\")?,
                '"' => enc.write_str("\\\"")?,
                '\n' => enc.write_str("\\n")?,
                c => enc.write_char(c)?,
            }
        }
        Ok(())
    }
}

impl From<&str> for Lv<String> {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl From<String> for Lv<String> {
    fn from(s: String) -> Self {
        Self(s)
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::registry::Registry;

    use super::*;

    #[test]
    fn hostile_values_stay_inside_their_label() {
        let f: Family<Vec<(&'static str, Lv<String>)>, Counter> = Family::default();
        f.get_or_create(&vec![("ifname", "x\"}1\nfake_total 9\\".into())]).inc();
        let mut r = Registry::default();
        r.register("ops", "Ops", f);
        let mut out = String::new();
        encode(&mut out, &r).expect("encode");
        assert!(out.contains(r#"ops_total{ifname="x\"}1\nfake_total 9\\"} 1"#), "{out}");
        assert!(!out.lines().any(|l| l.starts_with("fake_total")), "{out}");
    }
}
