//! The IEEE 1588 management protocol, as ptp4l serves it on its UNIX socket:
//! GET requests for a few datasets and the decoding of their responses.
//! Pure byte work, no I/O: see the golden-byte tests.

/// Header (34) + management fields (target port identity 10, boundary hops
/// 2, action 1, reserved 1).
const MGMT_HEADER: usize = 48;
const TLV_MANAGEMENT: u16 = 0x0001;
const TLV_MANAGEMENT_ERROR_STATUS: u16 = 0x0002;
const MSG_MANAGEMENT: u8 = 0x0D;
const ACTION_GET: u8 = 0;
const ACTION_RESPONSE: u8 = 2;

/// The datasets the daemon reads, with the size of their data (a GET
/// carries that many zero bytes, as `pmc` sends it by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    DefaultDataSet,
    CurrentDataSet,
    ParentDataSet,
    TimePropertiesDataSet,
    PortDataSet,
    /// linuxptp's TIME_STATUS_NP.
    TimeStatusNp,
}

impl Dataset {
    pub fn id(self) -> u16 {
        match self {
            Self::DefaultDataSet => 0x2000,
            Self::CurrentDataSet => 0x2001,
            Self::ParentDataSet => 0x2002,
            Self::TimePropertiesDataSet => 0x2003,
            Self::PortDataSet => 0x2004,
            Self::TimeStatusNp => 0xC000,
        }
    }

    fn data_len(self) -> usize {
        match self {
            Self::DefaultDataSet => 20,
            Self::CurrentDataSet => 18,
            Self::ParentDataSet => 32,
            Self::TimePropertiesDataSet => 4,
            Self::PortDataSet => 26,
            Self::TimeStatusNp => 50,
        }
    }

    fn from_id(id: u16) -> Option<Self> {
        [
            Self::DefaultDataSet,
            Self::CurrentDataSet,
            Self::ParentDataSet,
            Self::TimePropertiesDataSet,
            Self::PortDataSet,
            Self::TimeStatusNp,
        ]
        .into_iter()
        .find(|d| d.id() == id)
    }
}

/// A port state (IEEE 1588 table 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PortState {
    Initializing,
    Faulty,
    Disabled,
    Listening,
    PreMaster,
    Master,
    Passive,
    Uncalibrated,
    Slave,
    Unknown,
}

impl PortState {
    pub const ALL: [PortState; 10] = [
        Self::Initializing,
        Self::Faulty,
        Self::Disabled,
        Self::Listening,
        Self::PreMaster,
        Self::Master,
        Self::Passive,
        Self::Uncalibrated,
        Self::Slave,
        Self::Unknown,
    ];

    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Initializing,
            2 => Self::Faulty,
            3 => Self::Disabled,
            4 => Self::Listening,
            5 => Self::PreMaster,
            6 => Self::Master,
            7 => Self::Passive,
            8 => Self::Uncalibrated,
            9 => Self::Slave,
            _ => Self::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "INITIALIZING",
            Self::Faulty => "FAULTY",
            Self::Disabled => "DISABLED",
            Self::Listening => "LISTENING",
            Self::PreMaster => "PRE_MASTER",
            Self::Master => "MASTER",
            Self::Passive => "PASSIVE",
            Self::Uncalibrated => "UNCALIBRATED",
            Self::Slave => "SLAVE",
            Self::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s))
    }
}

/// A decoded response.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    Current {
        steps_removed: u16,
        offset_ns: f64,
        mean_path_delay_ns: f64,
    },
    Parent {
        gm_priority1: u8,
        gm_clock_class: u8,
        gm_clock_accuracy: u8,
        gm_identity: [u8; 8],
    },
    TimeProperties {
        utc_offset: i16,
        time_traceable: bool,
        frequency_traceable: bool,
        ptp_timescale: bool,
        time_source: u8,
    },
    Port {
        port_number: u16,
        state: PortState,
        peer_mean_path_delay_ns: f64,
    },
    Default {
        clock_class: u8,
        domain: u8,
        ports: u16,
    },
    TimeStatus {
        master_offset_ns: i64,
        gm_present: bool,
        gm_identity: [u8; 8],
    },
    /// MANAGEMENT_ERROR_STATUS: the dataset is not served (e.g. unknown ID).
    Error {
        management_id: u16,
        code: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message of {0} bytes is too short")]
    Short(usize),
    #[error("not a management response (type {msg_type:#x}, action {action})")]
    NotResponse { msg_type: u8, action: u8 },
    #[error("unexpected TLV type {0:#06x}")]
    Tlv(u16),
    #[error("management ID {0:#06x} is not one we asked for")]
    UnknownId(u16),
    #[error("dataset {id:#06x} has {len} data bytes")]
    Length { id: u16, len: usize },
}

/// Who sends requests: a port identity of our own and the PTP domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requester {
    pub clock_identity: [u8; 8],
    pub port_number: u16,
    pub domain: u8,
}

impl Requester {
    /// A GET for `ds` addressed to every port and clock (wildcard target),
    /// with zero boundary hops: only the local ptp4l answers.
    pub fn get(&self, ds: Dataset, sequence: u16) -> Vec<u8> {
        let data = ds.data_len();
        let len = MGMT_HEADER + 6 + data;
        let mut b = Vec::with_capacity(len);
        b.push(MSG_MANAGEMENT);
        b.push(0x02); // versionPTP 2
        b.extend_from_slice(&(len as u16).to_be_bytes());
        b.push(self.domain);
        b.extend_from_slice(&[0; 1 + 2 + 8 + 4]); // minorSdoId, flags, correction, reserved
        b.extend_from_slice(&self.clock_identity);
        b.extend_from_slice(&self.port_number.to_be_bytes());
        b.extend_from_slice(&sequence.to_be_bytes());
        b.push(0x04); // controlField: management
        b.push(0x7f); // logMessageInterval
        b.extend_from_slice(&[0xff; 10]); // targetPortIdentity: all clocks, all ports
        b.extend_from_slice(&[0, 0, ACTION_GET, 0]); // hops, action, reserved
        b.extend_from_slice(&TLV_MANAGEMENT.to_be_bytes());
        b.extend_from_slice(&((2 + data) as u16).to_be_bytes());
        b.extend_from_slice(&ds.id().to_be_bytes());
        b.resize(len, 0);
        b
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn i64_at(b: &[u8], i: usize) -> i64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[i..i + 8]);
    i64::from_be_bytes(x)
}

fn id8(b: &[u8], i: usize) -> [u8; 8] {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[i..i + 8]);
    x
}

/// A TimeInterval (nanoseconds scaled by 2^16) in nanoseconds.
fn time_interval(b: &[u8], i: usize) -> f64 {
    i64_at(b, i) as f64 / 65536.0
}

/// Decodes one management response; returns its sequence ID too.
pub fn decode(b: &[u8]) -> Result<(u16, Response), DecodeError> {
    if b.len() < MGMT_HEADER + 6 {
        return Err(DecodeError::Short(b.len()));
    }
    let (msg_type, action) = (b[0] & 0x0f, b[46] & 0x0f);
    if msg_type != MSG_MANAGEMENT || action != ACTION_RESPONSE {
        return Err(DecodeError::NotResponse { msg_type, action });
    }
    let seq = u16_at(b, 30);
    let tlv = u16_at(b, 48);
    let tlv_len = usize::from(u16_at(b, 50));
    let id = u16_at(b, 52);
    if tlv == TLV_MANAGEMENT_ERROR_STATUS {
        // errorId, then managementId: two more bytes than the header check.
        if b.len() < MGMT_HEADER + 8 {
            return Err(DecodeError::Short(b.len()));
        }
        return Ok((seq, Response::Error { management_id: u16_at(b, 54), code: id }));
    }
    if tlv != TLV_MANAGEMENT {
        return Err(DecodeError::Tlv(tlv));
    }
    let ds = Dataset::from_id(id).ok_or(DecodeError::UnknownId(id))?;
    let data = b.get(54..54 + tlv_len.saturating_sub(2)).unwrap_or(&[]);
    if data.len() < ds.data_len() {
        return Err(DecodeError::Length { id, len: data.len() });
    }
    Ok((seq, decode_data(ds, data)))
}

fn decode_data(ds: Dataset, d: &[u8]) -> Response {
    match ds {
        Dataset::CurrentDataSet => Response::Current {
            steps_removed: u16_at(d, 0),
            offset_ns: time_interval(d, 2),
            mean_path_delay_ns: time_interval(d, 10),
        },
        Dataset::ParentDataSet => Response::Parent {
            gm_priority1: d[18],
            gm_clock_class: d[19],
            gm_clock_accuracy: d[20],
            gm_identity: id8(d, 24),
        },
        Dataset::TimePropertiesDataSet => Response::TimeProperties {
            utc_offset: u16_at(d, 0) as i16,
            time_traceable: d[2] & 0x10 != 0,
            frequency_traceable: d[2] & 0x20 != 0,
            ptp_timescale: d[2] & 0x08 != 0,
            time_source: d[3],
        },
        Dataset::PortDataSet => Response::Port {
            port_number: u16_at(d, 8),
            state: PortState::from_u8(d[10]),
            peer_mean_path_delay_ns: time_interval(d, 12),
        },
        Dataset::DefaultDataSet => {
            Response::Default { clock_class: d[5], ports: u16_at(d, 2), domain: d[18] }
        }
        Dataset::TimeStatusNp => Response::TimeStatus {
            master_offset_ns: i64_at(d, 0),
            gm_present: i32::from_be_bytes([d[38], d[39], d[40], d[41]]) != 0,
            gm_identity: id8(d, 42),
        },
    }
}

#[cfg(test)]
mod tests;
