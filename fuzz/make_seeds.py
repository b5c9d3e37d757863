#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ from the inputs of the
unit tests (cni/config_tests.rs, cni/args.rs, cni/result.rs, state/tests.rs,
ptp/mgmt/tests.rs, ptp/cmsg.rs, murmurationd's config/tests.rs) and
rtnetlink replies laid out as the kernel sends them (little-endian x86_64).

Run it again after changing it: `python3 fuzz/make_seeds.py`. Each file is
named by what it holds; the directories are replaced whole.
"""

import json
import shutil
import struct
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "corpus"


def write(target, files):
    out = CORPUS / target
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name, data in files.items():
        if isinstance(data, str):
            data = data.encode()
        (out / name).write_bytes(data)


# --- network config (cni/config_tests.rs, conflist-injected fields) -------

BASE = {"cniVersion": "1.1.0", "name": "net-a", "type": "murmuration"}
PREV = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/var/run/netns/p"}],
    "ips": [{"address": "10.0.0.2/24", "gateway": "10.0.0.1", "interface": 0}],
    "routes": [{"dst": "0.0.0.0/0", "gw": "10.0.0.1"}],
    "dns": {"nameservers": ["10.0.0.53"]},
}
NETCONF = {
    "minimal": {},
    "sriov-device-id": {"deviceID": "0000:03:02.0"},
    "sriov-pci-bus-id": {"pciBusID": "03:02.1"},
    "sriov-cni-keys": {
        "vlan": 100, "vlanQoS": 5, "vlanProto": "802.1ad", "spoofchk": "off", "trust": "on",
        "link_state": "enable", "min_tx_rate": 10, "max_tx_rate": 100, "mtu": 9000,
        "mac": "02:00:00:00:00:10",
    },
    "vlan-mode": {"mode": "vlan", "vlan": 100, "master": "eth1"},
    "fastpath-trunk": {"master": "up0", "vlan": 100, "trunk": [300, "200-202", 201]},
    "fastpath-options": {
        "master": "up0", "bpfPinRoot": "/x", "bpfAttachMode": "netlink", "uplinkXdp": "auto",
        "ptpToHost": True, "fastpath": True,
    },
    "ipam-host-local": {"ipam": {"type": "host-local", "subnet": "10.1.0.0/24"}, "dataDir": "/tmp/x"},
    "ipam-static-in-process": {
        "ipam": {"type": "static", "addresses": [{"address": "10.2.0.5/24"}]},
        "ipamInProcess": True, "dns": {"nameservers": ["10.2.0.53"], "search": ["svc"]},
        "logLevel": "debug", "logFile": "/tmp/log",
    },
    "runtime-config": {
        "capabilities": {"mac": True, "ips": True, "deviceID": True},
        "runtimeConfig": {
            "mac": "02:00:00:00:00:03", "ips": ["10.0.0.9/24"], "deviceID": "0000:03:02.2",
            "CNIDeviceInfoFile": "/var/run/k8s.cni.cncf.io/devinfo/x.json",
        },
    },
    "prev-result": {"prevResult": PREV},
    "gc-valid-attachments": {"cni.dev/valid-attachments": [{"containerID": "c1", "ifname": "net1"}]},
    "gc-legacy-attachments": {"cni.dev/attachments": [{"containerID": "c2", "ifname": "eth0"}]},
    "invalid-vlan-for-del": {"vlan": 5000, "dataDir": "/tmp/x", "ipam": {"type": "host-local"}},
    "invalid-pin-root-type": {"vlan": 5000, "bpfPinRoot": 5},
    "invalid-trunk": {"master": "up0", "trunk": ["4000-4095", "5-3", "x", True]},
    "invalid-mac-multicast": {"mac": "01:00:5e:00:00:01"},
    "invalid-ipam-path": {"ipam": {"type": "../evil"}},
}


def netconf():
    files = {f"{name}.json": json.dumps({**BASE, **extra}) for name, extra in NETCONF.items()}
    files["old-version-0.4.0.json"] = json.dumps({**BASE, "cniVersion": "0.4.0"})
    files["unsupported-version.json"] = json.dumps({"cniVersion": "9.9.9", "name": "n"})
    files["truncated.json"] = '{"cniVersion": "1.1.0",'
    return files


# --- CNI_ARGS (cni/args.rs) ------------------------------------------------

CNI_ARGS = {
    "multus": "IgnoreUnknown=true;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=p;"
    "K8S_POD_INFRA_CONTAINER_ID=id;K8S_POD_UID=u;IgnoreUnknown=1;K8S_POD_NAMESPACE=ns2;"
    "MAC=02:00:00:00:00:09;IP=10.0.0.2/24",
    "lenient": "garbage;K8S_POD_NAME=p;MAC=zz;=x;IP=10.0.0.2/24",
    "separators": "A=1;;B=2;",
    "multicast-mac": "MAC=01:00:5e:00:00:01",
    "zero-mac": "MAC=00:00:00:00:00:00",
    "ips": "IP=10.0.0.2/24,fd00::2/64",
    "empty": "",
    # Found by this target: DEL's lenient parse took an earlier MAC where an
    # empty last one unsets it.
    "regress-empty-mac-unsets": "K8S_POD_NAME=p;MAC=02:00:00:00:00:09;MAC=",
}


# --- results (cni/result.rs) -------------------------------------------------

RESULTS = {
    "v1.1.0": {
        "cniVersion": "1.1.0",
        "interfaces": [{"name": "net1", "mac": "02:00:00:00:00:01", "mtu": 1400,
                        "sandbox": "/var/run/netns/p", "socketPath": "/s", "pciID": "0000:03:02.0"}],
        "ips": [{"address": "10.1.0.5/24", "gateway": "10.1.0.1", "interface": 0},
                {"address": "fd00::5/64", "interface": 0}],
        "routes": [{"dst": "0.0.0.0/0", "gw": "10.1.0.1", "mtu": 1300, "advmss": 1200,
                    "priority": 10, "table": 100, "scope": 0}],
        "dns": {"nameservers": ["10.1.0.53"], "domain": "d", "search": ["s"], "options": ["o"]},
    },
    "v1.0.0": PREV,
    "v0.4.0": {"cniVersion": "0.4.0",
               "ips": [{"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1"}]},
    "v0.3.1-ipv6": {"cniVersion": "0.3.1",
                    "ips": [{"version": "6", "address": "fd00::5/64", "gateway": "fd00::1"}]},
    "garbage-address": {"ips": [{"address": "x"}]},
    "empty": {},
}


# --- state record (state/tests.rs, state/record.rs) ------------------------

RECORD = {
    "format": 1, "network": "net-a", "container_id": "c1", "ifname": "net1",
    "netns": "/var/run/netns/x", "mode": "veth", "host_ifname": "mm0123456789abc",
    "mtu": 1400, "pod": {}, "ipam_allocated": True,
    "config": {"cniVersion": "1.1.0", "name": "net-a"}, "created_unix": 1,
}
RECORDS = {
    "veth": RECORD,
    "veth-fastpath": {
        **RECORD, "mac": "02:00:00:00:00:01",
        "pod": {"namespace": "ns", "name": "p", "uid": "u"},
        "datapath": {"uplink": "up0", "pin_root": "/sys/fs/bpf/murmuration",
                     "host_ifindex": 7, "attach_id": 3, "cookie": 12345},
        "result": RESULTS["v1.1.0"], "boot_id": "7c1a0d2e-0000-4000-8000-000000000001",
    },
    "sriov": {
        **RECORD, "mode": "sriov", "host_ifname": None,
        "vf": {"pci": "0000:03:02.0", "pf_pci": "0000:03:00.0", "pf_netdev": "ens1f0",
               "index": 2, "driver": "igbvf", "userspace": False,
               "original": {"mac": "00:00:00:00:00:00", "vlan": 0, "qos": 0, "proto": "802.1q",
                            "spoofchk": True, "trust": False, "link_state": "auto",
                            "min_tx_rate": 0, "max_tx_rate": 0},
               "netdev": {"name": "ens1f0v2", "mac": "02:00:00:00:00:02", "mtu": 1500,
                          "up": True, "altnames": ["enp3s2f2"]},
               "device_info_file": "/var/run/devinfo.json"},
    },
    "vlan-no-netns": {**RECORD, "mode": "vlan", "netns": None},
}


# --- ptp4l management (ptp/mgmt/tests.rs) ------------------------------------

def hexb(s):
    return bytes.fromhex("".join(s.split()))


def response(seq, tlv):
    tlv = hexb(tlv)
    head = hexb(f"0d 02 {48 + len(tlv):04x} 00 00 0000 0000000000000000 00000000"
                f" 6a7d57fffe8271dd 0000 {seq:04x} 04 7f 0102030405060708 1234 00 00 02 00")
    return head + tlv


PTP_MGMT = {
    "current": response(9, "0001 0014 2001 0001 0000000001590000 0000000009288000"),
    "current-negative": response(1, "0001 0014 2001 0001 fffffffffea70000 0000000000000000"),
    "port": response(2, "0001 001c 2004 6a7d57fffe8271dd 0001 09 00 0000000000000000 fe 03 fd 01 00 02"),
    "parent": response(3, "0001 0022 2002 aaef45fffe4ab493 0001 00 00 ffff 7fffffff 0a f8 fe ffff 80 aaef45fffe4ab493"),
    "time-properties": response(4, "0001 0006 2003 0025 1c a0"),
    "default": response(7, "0001 0016 2000 0000 0001 00 f8 fe ffff 80 80 aaef45fffe4ab493 18 00"),
    "time-status": response(8, "0001 0034 c000 " + "00" * 8 + "00" * 30 + "00000001" + "aaef45fffe4ab493"),
    "error-status": response(5, "0002 0008 fffe 2004 00000000"),
    "length-short": response(6, "0001 0004 2001 0001"),
    "get-request": hexb("0d 02 0048 00 00 0000 0000000000000000 00000000 0102030405060708 1234 0007 04 7f"
                        " ffffffffffffffff ffff 00 00 00 00 0001 0014 2001" + " 00" * 18),
}


# --- timestamping control messages (ptp/cmsg.rs; x86_64) -----------------

SOL_SOCKET, SCM_TIMESTAMPING, SCM_TIMESTAMPING_NEW = 1, 37, 65
SOL_IP, IP_RECVERR, IP_TTL = 0, 11, 2
SOL_IPV6, IPV6_RECVERR = 41, 25
ENOMSG, EHOSTUNREACH = 42, 113


def cmsg(level, kind, data):
    msg = struct.pack("<Qii", 16 + len(data), level, kind) + data
    return msg + b"\0" * (-len(msg) % 8)


def stamps(software, hardware):
    out = b""
    for ns in (software, 0, hardware):
        out += struct.pack("<qq", ns // 1_000_000_000, ns % 1_000_000_000)
    return out


def tx_err(key, errno=ENOMSG, origin=4):
    return struct.pack("<IBBBBII", errno, origin, 0, 0, 0, 0, key) + b"\0" * 16


PTP_CMSG = {
    "rx-software-old": cmsg(SOL_SOCKET, SCM_TIMESTAMPING, stamps(1_700_000_000_123_456_789, 0)),
    "rx-hardware-new": cmsg(SOL_SOCKET, SCM_TIMESTAMPING_NEW, stamps(0, 5_000_000_007)),
    "tx-hardware-and-key": cmsg(SOL_SOCKET, SCM_TIMESTAMPING_NEW, stamps(0, 5_000_000_007))
    + cmsg(SOL_IP, IP_RECVERR, tx_err(42)),
    "tx-ipv6-key": cmsg(SOL_IPV6, IPV6_RECVERR, tx_err(7)),
    "real-icmp-error": cmsg(SOL_IP, IP_RECVERR, tx_err(0, EHOSTUNREACH, 2)),
    "unknown-then-stamp": cmsg(SOL_IP, IP_TTL, struct.pack("<i", 64))
    + cmsg(SOL_SOCKET, SCM_TIMESTAMPING_NEW, stamps(1_000, 0)),
    "cut-short": (cmsg(SOL_SOCKET, SCM_TIMESTAMPING_NEW, stamps(1_000, 0)))[:-1],
}


# --- daemon config (murmurationd config/tests.rs) ----------------------------

DAEMON = {
    "empty": "",
    "full": """[log]
level = "debug"
[http]
listen = "[::1]:9999"
[state]
data_dir = "/tmp/x"
cni_path = ["/a", "/b"]
[inventory]
resync_seconds = 5
debounce_seconds = 0.05
[cleanup]
enabled = false
grace_period_seconds = 2.5
[ptp]
enabled = true
ptp4l_socket = "/run/p"
domain = 24
poll_seconds = 1
offset_threshold_ns = 100
holdover_seconds = 3
locked_port_states = ["SLAVE", "uncalibrated"]
client_socket_dir = "/run/murmurationd"
[phc]
enabled = true
interfaces = ["eth0"]
hw_timestamping = "auto"
poll_seconds = 5
samples = 9
sysfs_root = "/sys"
dev_dir = "/dev"
""",
    "probers": """[[responder]]
name = "echo"
netns = "/var/run/netns/a"
listen = "10.0.0.1:7007"

[[prober]]
name = "a-to-b"
netns = "/var/run/netns/b"
target = "10.0.0.1:7007"
source = "10.0.0.2:0"
interval_seconds = 0.1
timeout_seconds = 0.05
payload_bytes = 64
""",
    "prober-minimal": '[[prober]]\nname = "x"\ntarget = "[::1]:7"\n',
    "unknown-key": "[cleanup]\ngrace = 3\n",
    "bad-seconds": "[cleanup]\ngrace_period_seconds = 0\n",
    "bad-port-state": '[ptp]\nlocked_port_states = ["SLAVISH"]\n',
    "prober-twice": '[[prober]]\nname = "p"\ntarget = "10.0.0.1:7"\n[[prober]]\nname = "p"\ntarget = "10.0.0.1:7"\n',
}


# --- rtnetlink replies --------------------------------------------------------

def rta(kind, data):
    a = struct.pack("<HH", 4 + len(data), kind) + data
    return a + b"\0" * (-len(a) % 4)


def nest(kind, *attrs):
    return rta(kind, b"".join(attrs))


def nlmsg(kind, payload, seq=1, flags=2):
    msg = struct.pack("<IHHII", 16 + len(payload), kind, flags, seq, 0) + payload
    return msg + b"\0" * (-len(msg) % 4)


RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE, NLMSG_DONE, NLMSG_ERROR = 16, 20, 24, 3, 2


def ifinfo(index, flags=1):
    return struct.pack("<BBHiII", 0, 0, 1, index, flags, 0)


def vf_info(vf, mac):
    return nest(1,
                rta(1, struct.pack("<I", vf) + mac + b"\0" * (32 - len(mac))),   # IFLA_VF_MAC
                rta(2, struct.pack("<III", vf, 100, 3)),                          # IFLA_VF_VLAN
                rta(3, struct.pack("<II", vf, 0)),                                # IFLA_VF_TX_RATE
                rta(4, struct.pack("<II", vf, 1)),                                # IFLA_VF_SPOOFCHK
                rta(5, struct.pack("<II", vf, 1)),                                # IFLA_VF_LINK_STATE
                rta(6, struct.pack("<III", vf, 10, 100)),                         # IFLA_VF_RATE
                rta(9, struct.pack("<II", vf, 0)),                                # IFLA_VF_TRUST
                nest(12, rta(1, struct.pack("<IIIH", vf, 100, 3, 0x88a8) + b"\0\0")),  # VLAN_LIST
                nest(7, *(rta(i, struct.pack("<Q", 1000 + i)) for i in range(6))))     # IFLA_VF_STATS


def link(index, name, *extra):
    attrs = rta(3, name.encode() + b"\0") + rta(4, struct.pack("<I", 1500)) \
        + rta(1, bytes([2, 0, 0, 0, 0, index])) + rta(16, b"\x06") + b"".join(extra)
    return nlmsg(RTM_NEWLINK, ifinfo(index) + attrs)


def addr(family, prefix, index, ip, local=True):
    kind = 2 if local else 1
    return nlmsg(RTM_NEWADDR, struct.pack("<BBBBI", family, prefix, 0, 0, index) + rta(kind, ip))


def route(dst, oif, gw):
    head = struct.pack("<BBBBBBBBI", 2, 24, 0, 0, 254, 3, 0, 1, 0)
    attrs = rta(1, dst) + rta(4, struct.pack("<I", oif)) + rta(5, gw) \
        + rta(15, struct.pack("<I", 100)) + nest(8, rta(2, struct.pack("<I", 1400)))
    return nlmsg(RTM_NEWROUTE, head + attrs)


DONE = nlmsg(NLMSG_DONE, struct.pack("<i", 0))
NETLINK = {
    "link-lo": link(1, "lo"),
    "link-vlan-altname-xdp": link(
        5, "up0.100",
        nest(18, rta(1, b"vlan\0"), nest(2, rta(1, struct.pack("<H", 100)))),  # IFLA_LINKINFO
        nest(52, rta(53, b"enp3s0f0v100\0")),                                   # IFLA_PROP_LIST
        rta(56, b"0000:03:00.0\0"),                                             # IFLA_PARENT_DEV_NAME
        nest(43, rta(1, b"\x01"), rta(4, struct.pack("<I", 42))),               # IFLA_XDP
        rta(5, struct.pack("<I", 2))),                                          # IFLA_LINK
    "pf-with-vfs": link(3, "ens1f0", rta(21, struct.pack("<I", 2)),
                        nest(22, vf_info(0, bytes([2, 0, 0, 0, 0, 0x10])),
                             vf_info(1, bytes(6)))),
    "link-dump": link(1, "lo") + link(2, "eth0") + DONE,
    "addresses": addr(2, 24, 2, bytes([10, 0, 0, 2])) + addr(10, 64, 2, bytes.fromhex("fd00" + "00" * 13 + "02"), False) + DONE,
    "address-bad-prefix": addr(2, 40, 2, bytes([10, 0, 0, 2])),
    "route": route(bytes([10, 1, 0, 0]), 2, bytes([10, 0, 0, 1])),
    "ack": nlmsg(NLMSG_ERROR, struct.pack("<i", 0) + struct.pack("<IHHII", 16, 19, 5, 1, 0)),
    "error-enodev": nlmsg(NLMSG_ERROR, struct.pack("<i", -19) + struct.pack("<IHHII", 16, 18, 5, 1, 0)),
    "truncated": link(2, "eth0")[:-6],
}


def main():
    write("netconf", netconf())
    write("cni_args", {f"{k}.txt": v for k, v in CNI_ARGS.items()})
    write("cni_result", {f"{k}.json": json.dumps(v) for k, v in RESULTS.items()})
    write("state_record", {f"{k}.json": json.dumps(v, indent=2) for k, v in RECORDS.items()})
    write("ptp_mgmt", {f"{k}.bin": v for k, v in PTP_MGMT.items()})
    write("ptp_cmsg", {f"{k}.bin": v for k, v in PTP_CMSG.items()})
    write("daemon_config", {f"{k}.toml": v for k, v in DAEMON.items()})
    write("netlink", {f"{k}.bin": v for k, v in NETLINK.items()})


if __name__ == "__main__":
    main()
