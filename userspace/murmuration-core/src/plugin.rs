//! The plugin's entry point: read env and stdin, run the verb, print the
//! result or the error object, and return the exit status.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

use serde_json::Value;

use crate::cni::config::{NetConf, peek_version};
use crate::cni::env::{CniEnv, Command, Verb};
use crate::cni::error::{CniError, ErrorCode};
use crate::cni::version::{CniVersion, VersionInfo};
use crate::oplog::{self, OpRecord};
use crate::ops::{self, Call};

/// The most stdin a runtime can send us: configs are kilobytes; anything
/// larger is refused before it is parsed.
pub const MAX_STDIN: u64 = 1 << 20;

/// The process environment as the plugin sees it, whatever bytes it holds:
/// a `CNI_*` variable that is not UTF-8 is kept with its bad bytes replaced
/// (so validation refuses it with code 4), any other such variable is left
/// out (it is only handed on to delegated plugins).
pub fn environment(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
) -> HashMap<String, String> {
    vars.into_iter()
        .filter_map(|(k, v)| match (k.into_string(), v.into_string()) {
            (Ok(k), Ok(v)) => Some((k, v)),
            (Ok(k), Err(v)) if k.starts_with("CNI_") => {
                let v = v.to_string_lossy().into_owned();
                Some((k, v))
            }
            _ => None,
        })
        .collect()
}

/// Runs one invocation. `vars` is the whole environment (it is handed on to
/// delegated plugins); stdout receives exactly one JSON document or nothing.
pub fn run(
    vars: &HashMap<String, String>,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
) -> ExitCode {
    let mut input = Vec::new();
    let outcome = match stdin.take(MAX_STDIN + 1).read_to_end(&mut input) {
        Ok(n) if n as u64 > MAX_STDIN => Err(CniError::new(
            ErrorCode::Decode,
            format!("the network config on stdin is larger than {MAX_STDIN} bytes"),
        )),
        Ok(_) => dispatch(vars, &input),
        Err(e) => {
            Err(CniError::new(ErrorCode::Io, "cannot read stdin").with_details(e.to_string()))
        }
    };
    let (doc, code) = match outcome {
        Ok(None) => return ExitCode::SUCCESS,
        Ok(Some(v)) => (v, ExitCode::SUCCESS),
        Err(e) => {
            tracing::error!(error = %e, "failed");
            (error_document(&e, &input), ExitCode::FAILURE)
        }
    };
    let written = serde_json::to_writer(&mut *stdout, &doc)
        .map_err(std::io::Error::from)
        .and_then(|()| stdout.write_all(b"\n"))
        .and_then(|()| stdout.flush());
    if written.is_err() {
        return ExitCode::FAILURE;
    }
    code
}

/// The error object, carrying the caller's `cniVersion` when we understand it.
fn error_document(e: &CniError, stdin: &[u8]) -> Value {
    let version =
        peek_version(stdin).and_then(|v| CniVersion::parse(&v).ok()).unwrap_or(CniVersion::LATEST);
    let mut doc = serde_json::to_value(e).unwrap_or_default();
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("cniVersion".into(), version.as_str().into());
    }
    doc
}

fn dispatch(vars: &HashMap<String, String>, stdin: &[u8]) -> Result<Option<Value>, CniError> {
    let command = Command::from_vars(vars)?;
    if command == Command::Version {
        return Ok(Some(version_reply(stdin)));
    }
    let started = Instant::now();
    let (env, conf, set_aside) = prepare(vars, stdin).inspect_err(|e| {
        // Refused before a config was accepted: counted all the same.
        if let Some(dir) = crate::cni::paths::peek_data_dir(stdin) {
            oplog::append(&dir, &OpRecord::now(command.as_str(), e.code, started.elapsed()));
        }
    })?;
    crate::log::init(conf.log_level.as_deref(), conf.log_file.as_deref());
    if let Some(e) = set_aside {
        tracing::warn!(error = %e, "DEL with an invalid config: using its identity only");
    }
    let version = conf.version;
    if matches!(command, Command::Status | Command::Gc) && !version.is_1_1() {
        return Err(CniError::new(
            ErrorCode::IncompatibleVersion,
            format!("{} needs cniVersion 1.1.0, not {version}", command.as_str()),
        ));
    }
    let CniEnv { verb: parsed, path } = env;
    let call = Call { vars, path, conf };
    tracing::debug!(verb = command.as_str(), network = %call.conf.name, "invoked");
    let outcome = verb(&call, &parsed, version);
    let code = outcome.as_ref().err().map_or(0, |e| e.code);
    let record = OpRecord::now(command.as_str(), code, started.elapsed());
    oplog::append(&call.conf.data_dir, &record);
    outcome
}

/// The validated environment and config (and DEL's set-aside config error);
/// the path policy is checked before anything is created.
fn prepare(
    vars: &HashMap<String, String>,
    stdin: &[u8],
) -> Result<(CniEnv, NetConf, Option<CniError>), CniError> {
    let env = CniEnv::from_vars(vars)?;
    let (conf, set_aside) = match env.verb {
        Verb::Del(_) => NetConf::parse_for_del(stdin)?,
        _ => (NetConf::parse(stdin)?, None),
    };
    crate::cni::paths::check(&conf, &env)?;
    Ok((env, conf, set_aside))
}

fn verb(call: &Call<'_>, verb: &Verb, version: CniVersion) -> Result<Option<Value>, CniError> {
    match verb {
        Verb::Add(env) => ops::add(call, env).map(|r| Some(r.to_value(version))),
        Verb::Del(env) => ops::del(call, env).map(|()| None),
        Verb::Check(env) => ops::check(call, env).map(|()| None),
        Verb::Status => ops::status(call).map(|()| None),
        Verb::Gc => ops::gc(call).map(|()| None),
        // Answered before the config is parsed, in `dispatch`.
        Verb::Version => Ok(None),
    }
}

/// VERSION answers in the caller's version when we know it, else in our newest.
fn version_reply(stdin: &[u8]) -> Value {
    let asked =
        peek_version(stdin).and_then(|v| CniVersion::parse(&v).ok()).unwrap_or(CniVersion::LATEST);
    serde_json::to_value(VersionInfo::ours(asked.as_str())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(vars: &[(&str, &str)], stdin: &str) -> (ExitCode, Value) {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let mut out = Vec::new();
        let code = run(&vars, &mut stdin.as_bytes(), &mut out);
        let v =
            if out.is_empty() { Value::Null } else { serde_json::from_slice(&out).expect("json") };
        (code, v)
    }

    #[test]
    fn a_non_utf8_environment_is_kept_out_or_refused_never_a_panic() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || std::ffi::OsString::from_vec(vec![b'a', 0xff, b'b']);
        let vars = environment([
            ("JUNK".into(), bad()),
            (bad(), "value".into()),
            ("CNI_IFNAME".into(), bad()),
            ("CNI_COMMAND".into(), "DEL".into()),
        ]);
        assert_eq!(vars.len(), 2, "{vars:?}");
        assert_eq!(vars["CNI_IFNAME"], "a\u{fffd}b");
        assert_eq!(vars["CNI_COMMAND"], "DEL");
    }

    #[test]
    fn stdin_beyond_the_cap_is_refused_without_parsing() {
        let big = format!(r#"{{"cniVersion":"1.1.0","pad":"{}"}}"#, "x".repeat(MAX_STDIN as usize));
        let (code, v) = invoke(&[("CNI_COMMAND", "ADD")], &big);
        assert_eq!(code, ExitCode::FAILURE);
        assert_eq!(v["code"], 6);
        assert!(v["msg"].as_str().is_some_and(|m| m.contains("larger than")), "{v}");
    }

    #[test]
    fn version_lists_supported_versions() {
        let (code, v) = invoke(&[("CNI_COMMAND", "VERSION")], r#"{"cniVersion":"1.0.0"}"#);
        assert_eq!(code, ExitCode::SUCCESS);
        assert_eq!(v["cniVersion"], "1.0.0");
        assert_eq!(v["supportedVersions"].as_array().expect("list").len(), 5);
    }

    #[test]
    fn errors_are_json_with_the_callers_version() {
        let (code, v) = invoke(
            &[
                ("CNI_COMMAND", "ADD"),
                ("CNI_CONTAINERID", "c"),
                ("CNI_NETNS", "/x"),
                ("CNI_IFNAME", "eth0"),
                ("CNI_PATH", "/x"),
            ],
            r#"{"cniVersion":"0.4.0","name":"n","type":"murmuration","vlan":5000}"#,
        );
        assert_eq!(code, ExitCode::FAILURE);
        assert_eq!(v["code"], 7);
        assert_eq!(v["cniVersion"], "0.4.0");
        assert!(v["msg"].as_str().expect("msg").contains("vlan"));
    }

    #[test]
    fn missing_command_is_code_4_and_bad_json_code_6() {
        assert_eq!(invoke(&[], "{}").1["code"], 4);
        let (_, v) = invoke(&[("CNI_COMMAND", "STATUS"), ("CNI_PATH", "/x")], "{nope");
        assert_eq!(v["code"], 6);
    }

    #[test]
    fn gc_needs_1_1() {
        let (_, v) = invoke(
            &[("CNI_COMMAND", "GC"), ("CNI_PATH", "/x")],
            r#"{"cniVersion":"1.0.0","name":"n","type":"murmuration"}"#,
        );
        assert_eq!(v["code"], 1);
    }
}
