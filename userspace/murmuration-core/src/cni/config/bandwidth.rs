//! `bandwidth` (config key) and `runtimeConfig.bandwidth` (the `bandwidth`
//! capability): the reference `bandwidth` plugin's keys, enforced by the
//! veth fast path's policers. Rates in bits/s, bursts in bits; "ingress" is
//! traffic into the pod, "egress" traffic it sends.

use serde_json::Value;

use super::bad_msg;
use crate::cni::error::CniError;

/// One direction's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub rate_bps: u64,
    pub burst_bits: u64,
}

/// Both directions; `None`: unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bandwidth {
    pub ingress: Option<Limit>,
    pub egress: Option<Limit>,
}

/// The largest burst the reference plugin accepts (4 GiB, in bits).
const MAX_BURST_BITS: u64 = (u32::MAX as u64) * 8;

/// Parses a `bandwidth` object; absent, `null` or `{}` is no limit.
pub fn parse(v: Option<&Value>) -> Result<Bandwidth, CniError> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(Bandwidth::default()),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(bad_msg("bandwidth: expected an object")),
    };
    let num = |key: &str| -> Result<u64, CniError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(0),
            Some(v) => v.as_u64().ok_or_else(|| {
                bad_msg(format!("bandwidth.{key}: expected a non-negative integer"))
            }),
        }
    };
    Ok(Bandwidth {
        ingress: limit("ingress", num("ingressRate")?, num("ingressBurst")?)?,
        egress: limit("egress", num("egressRate")?, num("egressBurst")?)?,
    })
}

fn limit(dir: &str, rate_bps: u64, burst_bits: u64) -> Result<Option<Limit>, CniError> {
    match (rate_bps, burst_bits) {
        (0, 0) => Ok(None),
        (0, _) => Err(bad_msg(format!("bandwidth: {dir}Burst is set without {dir}Rate"))),
        (_, 0) => Err(bad_msg(format!("bandwidth: {dir}Rate is set without {dir}Burst"))),
        (_, b) if b > MAX_BURST_BITS => {
            Err(bad_msg(format!("bandwidth: {dir}Burst {b} is over 4 GiB ({MAX_BURST_BITS} bits)")))
        }
        (r, b) => Ok(Some(Limit { rate_bps: r, burst_bits: b })),
    }
}

impl Bandwidth {
    pub fn is_limited(&self) -> bool {
        self.ingress.is_some() || self.egress.is_some()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn both_directions_parse_and_absent_is_unlimited() {
        let bw = parse(Some(&json!({"ingressRate": 10_000_000, "ingressBurst": 80_000})))
            .expect("valid");
        assert_eq!(bw.ingress, Some(Limit { rate_bps: 10_000_000, burst_bits: 80_000 }));
        assert_eq!(bw.egress, None);
        assert!(!parse(None).expect("absent").is_limited());
        assert!(!parse(Some(&json!({}))).expect("empty").is_limited());
    }

    #[test]
    fn half_set_negative_or_huge_values_are_invalid_config() {
        for bad in [
            json!({"egressRate": 1000}),
            json!({"egressBurst": 1000}),
            json!({"ingressRate": -1, "ingressBurst": 10}),
            json!({"ingressRate": 1.5, "ingressBurst": 10}),
            json!({"ingressRate": 10, "ingressBurst": MAX_BURST_BITS + 1}),
            json!("10M"),
        ] {
            let e = parse(Some(&bad)).expect_err("refused");
            assert_eq!(e.code, 7, "{bad}: {e}");
        }
    }
}
