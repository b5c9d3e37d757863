//! A light check of a conflist before it reaches the host: a broken file in
//! the CNI conf dir would break every pod start on the node.

use serde_json::Value;

/// `Err(reason)` unless `bytes` is a JSON object with string `cniVersion` and
/// `name` and a non-empty `plugins` array of objects that each have a `type`.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| format!("not JSON: {err}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    for key in ["cniVersion", "name"] {
        if !object.get(key).is_some_and(Value::is_string) {
            return Err(format!("`{key}` is missing or not a string"));
        }
    }
    let plugins = object.get("plugins").and_then(Value::as_array);
    let plugins = plugins.filter(|p| !p.is_empty()).ok_or("`plugins` is missing or empty")?;
    if let Some(at) = plugins.iter().position(|p| !p.get("type").is_some_and(Value::is_string)) {
        return Err(format!("plugins[{at}] has no string `type`"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_a_conflist_and_names_what_is_wrong_otherwise() {
        let good = br#"{"cniVersion":"1.1.0","name":"edge","plugins":[{"type":"murmuration"}]}"#;
        assert_eq!(check(good), Ok(()));
        let cases: [(&[u8], &str); 5] = [
            (b"{", "not JSON"),
            (b"[]", "not a JSON object"),
            (br#"{"name":"n","plugins":[{"type":"t"}]}"#, "`cniVersion`"),
            (br#"{"cniVersion":"1.1.0","name":"n","plugins":[]}"#, "`plugins`"),
            (br#"{"cniVersion":"1.1.0","name":"n","plugins":[{"type":"t"},{}]}"#, "plugins[1]"),
        ];
        for (input, want) in cases {
            let err = check(input).err().unwrap_or_default();
            assert!(err.contains(want), "{}: {err}", String::from_utf8_lossy(input));
        }
    }
}
