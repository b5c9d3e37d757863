//! What the demo prints by default: the artefacts, the topology as a picture,
//! the attachments as a table, and where the files went.

use std::path::Path;

use serde_json::Value;

use super::plugin::Pod;
use super::topology::{PTP_NODE, PTP_WIRE, Topology, UPLINK, WIRE_END};

/// One line per artefact the build produced.
pub fn built(plugin: &Path) {
    println!("\nbuilt (release):");
    let artefacts = [
        ("murmuration", "the CNI plugin (static; a runtime execs it per call)"),
        ("murmurationd", "the node daemon (inventory, cleanup, metrics, PTP)"),
        ("murmuration-bench", "the benchmark program (same-run baselines)"),
    ];
    for (name, what) in artefacts {
        let path = plugin.with_file_name(name);
        let size = std::fs::metadata(&path).map_or(0, |m| m.len()) / (1024 * 1024);
        println!("  {:<46} {size:>3} MiB  {what}", path.display());
    }
}

/// The namespaces and links, one pod per line.
pub fn topology(topology: &Topology, pods: &[Pod]) {
    println!("\ntopology (network namespaces {}, {}, mmdemo-pod*):", topology.node, topology.wire);
    println!("  {:<18}{:<34}pods", "wire", "node");
    let left = [
        format!("{WIRE_END} {:=<11} {UPLINK} =[eBPF fast path, tc]=", ""),
        format!("{PTP_WIRE} {:-<10} {PTP_NODE}", ""),
        format!("{:<18}{}", "(ptp4l master)", "(ptp4l client, murmurationd)"),
    ];
    let rows = pods.len().max(left.len());
    for row in 0..rows {
        let lead = left.get(row).map_or("", String::as_str);
        let pod = pods.get(row).map_or(String::new(), |pod| {
            format!("+-- veth -- {} [{}] VLAN {}", pod.ifname(), pod.name, pod.vlan)
        });
        println!("  {lead:<52}{pod}");
    }
}

/// A row of the attachment table, from a pod and its ADD result.
fn row(pod: &Pod, result: &Value) -> [String; 6] {
    let interfaces = result["interfaces"].as_array().map_or(&[][..], Vec::as_slice);
    let in_pod = interfaces.iter().find(|i| i["sandbox"].is_string());
    let host = interfaces.iter().find(|i| !i["sandbox"].is_string());
    let text =
        |v: Option<&Value>, key: &str| v.and_then(|i| i[key].as_str()).unwrap_or("?").to_owned();
    let address = result["ips"]
        .as_array()
        .and_then(|ips| ips.iter().find_map(|ip| ip["address"].as_str()))
        .unwrap_or("?");
    [
        pod.name.clone(),
        "veth".to_owned(),
        pod.vlan.to_string(),
        text(in_pod, "mac"),
        address.to_owned(),
        text(host, "name"),
    ]
}

fn table(pods: &[Pod], attached: &[(usize, Value)]) -> String {
    let header = ["pod", "mode", "VLAN", "MAC", "address", "host veth"];
    let rows: Vec<[String; 6]> =
        attached.iter().map(|(index, result)| row(&pods[*index], result)).collect();
    let width = |col: usize| {
        rows.iter().map(|r| r[col].len()).chain([header[col].len()]).max().unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let line = |cells: &[String]| {
        let padded = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}"));
        format!("  {}\n", padded.collect::<Vec<_>>().join("  ").trim_end())
    };
    let mut text = line(&header.map(str::to_owned));
    for r in &rows {
        text += &line(r);
    }
    text
}

/// The attachments as the plugin's ADD results describe them.
pub fn attachments(pods: &[Pod], attached: &[(usize, Value)]) {
    println!("\nattachments (from the ADD results; CHECK passed for each):");
    print!("{}", table(pods, attached));
}

/// Where the files of this run are.
pub fn outputs(out: &Path) {
    println!("\nwritten to {}:", out.display());
    let files = [
        ("calls/", "every plugin call: NN-<command>-<pod>.stdin.json and .stdout.json"),
        ("demo-vlan100.conf, demo-vlan200.conf", "the network configurations"),
        ("bench/datapath.{json,md}", "the measurement (bench/bench.log: its log)"),
        ("bench/datapath-rtt-cdf.svg, bench/datapath-pps-64.svg", "its plots"),
        ("metrics.txt, murmurationd.log, ptp4l-*.log", "the daemon's scrape and logs"),
    ];
    for (file, what) in files {
        println!("  {file:<54} {what}");
    }
}

#[cfg(test)]
mod tests {
    use super::{Pod, table};
    use serde_json::json;

    #[test]
    fn the_table_reads_mac_address_and_host_veth_from_the_add_result() {
        let pods = [Pod::new("pod1", "ns1", 7, 100), Pod::new("pod3", "ns3", 7, 200)];
        let result = |mac: &str, ip: &str, host: &str| {
            json!({"interfaces": [{"name": host, "mac": "ee:ee:ee:ee:ee:ee"},
                                  {"name": "net1", "mac": mac, "sandbox": "/var/run/netns/x"}],
                   "ips": [{"address": ip, "interface": 1}]})
        };
        let attached = [
            (0, result("02:00:00:00:00:01", "10.77.100.2/24", "mm0000000000001")),
            (1, result("02:00:00:00:00:03", "10.77.200.2/24", "mm0000000000003")),
        ];
        let text = table(&pods, &attached);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  pod   mode  VLAN  MAC                address         host veth");
        assert_eq!(
            lines[2],
            "  pod3  veth  200   02:00:00:00:00:03  10.77.200.2/24  mm0000000000003"
        );
    }
}
