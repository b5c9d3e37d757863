use super::*;

const ME: Requester =
    Requester { clock_identity: [1, 2, 3, 4, 5, 6, 7, 8], port_number: 0x1234, domain: 0 };

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

#[test]
fn get_current_data_set_golden_bytes() {
    let want = hex("0d 02 0048 00 00 0000 0000000000000000 00000000
         0102030405060708 1234 0007 04 7f
         ffffffffffffffff ffff 00 00 00 00
         0001 0014 2001
         000000000000000000000000000000000000");
    assert_eq!(ME.get(Dataset::CurrentDataSet, 7), want);
}

#[test]
fn get_carries_domain_and_dataset_size() {
    let r = Requester { domain: 24, ..ME };
    let b = r.get(Dataset::PortDataSet, 1);
    assert_eq!(b[4], 24);
    assert_eq!(b.len(), 48 + 6 + 26);
    assert_eq!(&b[48..54], &[0x00, 0x01, 0x00, 0x1c, 0x20, 0x04]);
}

/// A response header from ptp4l's clock 6a7d57.fffe.8271dd, port 0.
fn response(seq: u16, tlv: &str) -> Vec<u8> {
    let tlv = hex(tlv);
    let len = 48 + tlv.len();
    let mut b = hex(&format!(
        "0d 02 {len:04x} 00 00 0000 0000000000000000 00000000
         6a7d57fffe8271dd 0000 {seq:04x} 04 7f
         0102030405060708 1234 00 00 02 00"
    ));
    b.extend_from_slice(&tlv);
    b
}

#[test]
fn decodes_current_data_set() {
    // stepsRemoved 1, offsetFromMaster 345.0 ns, meanPathDelay 2344.5 ns (scaled by 2^16).
    let b = response(9, "0001 0014 2001 0001 0000000001590000 0000000009288000");
    assert_eq!(
        decode(&b),
        Ok((
            9,
            Response::Current { steps_removed: 1, offset_ns: 345.0, mean_path_delay_ns: 2344.5 }
        ))
    );
}

#[test]
fn decodes_negative_offsets() {
    let b = response(1, "0001 0014 2001 0001 fffffffffea70000 0000000000000000");
    let (_, r) = decode(&b).expect("decode");
    assert_eq!(
        r,
        Response::Current { steps_removed: 1, offset_ns: -345.0, mean_path_delay_ns: 0.0 }
    );
}

#[test]
fn decodes_port_data_set() {
    let b = response(
        2,
        "0001 001c 2004 6a7d57fffe8271dd 0001 09 00 0000000000000000 fe 03 fd 01 00 02",
    );
    let (_, r) = decode(&b).expect("decode");
    assert_eq!(
        r,
        Response::Port { port_number: 1, state: PortState::Slave, peer_mean_path_delay_ns: 0.0 }
    );
}

#[test]
fn decodes_parent_and_time_properties() {
    let parent = response(
        3,
        "0001 0022 2002 aaef45fffe4ab493 0001 00 00 ffff 7fffffff 0a f8 fe ffff 80 aaef45fffe4ab493",
    );
    assert_eq!(
        decode(&parent).expect("parent").1,
        Response::Parent {
            gm_priority1: 10,
            gm_clock_class: 248,
            gm_clock_accuracy: 0xfe,
            gm_identity: [0xaa, 0xef, 0x45, 0xff, 0xfe, 0x4a, 0xb4, 0x93],
        }
    );
    let tp = response(4, "0001 0006 2003 0025 1c a0");
    assert_eq!(
        decode(&tp).expect("time properties").1,
        Response::TimeProperties {
            utc_offset: 37,
            time_traceable: true,
            frequency_traceable: false,
            ptp_timescale: true,
            time_source: 0xa0,
        }
    );
}

#[test]
fn decodes_errors_and_refuses_garbage() {
    let err = response(5, "0002 0008 fffe 2004 00000000");
    assert_eq!(
        decode(&err).expect("error").1,
        Response::Error { management_id: 0x2004, code: 0xfffe }
    );
    assert_eq!(decode(&[0; 10]), Err(DecodeError::Short(10)));
    let mut get = ME.get(Dataset::CurrentDataSet, 1);
    assert!(matches!(decode(&get), Err(DecodeError::NotResponse { action: 0, .. })));
    get[46] = 2;
    get[53] = 0x99; // unknown management ID 0x2099
    assert_eq!(decode(&get), Err(DecodeError::UnknownId(0x2099)));
    let short = response(6, "0001 0004 2001 0001");
    assert!(matches!(decode(&short), Err(DecodeError::Length { .. })));
}

#[test]
fn port_state_names_round_trip() {
    for s in PortState::ALL {
        assert_eq!(PortState::parse(s.as_str()), Some(s));
    }
    assert_eq!(PortState::from_u8(42), PortState::Unknown);
}

#[test]
fn an_error_status_cut_short_is_refused_not_read_past_its_end() {
    let full = response(5, "0002 0008 fffe 2004 00000000");
    for len in [54, 55] {
        assert_eq!(decode(&full[..len]), Err(DecodeError::Short(len)), "{len} bytes");
    }
}

proptest::proptest! {
    #[test]
    fn decode_is_total(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn decode_is_total_on_responses(
        tlv in proptest::sample::select(vec![0x0001u16, 0x0002]),
        id in proptest::num::u16::ANY,
        tail in proptest::collection::vec(proptest::num::u8::ANY, 0..80),
    ) {
        let mut b = ME.get(Dataset::CurrentDataSet, 1);
        b.truncate(MGMT_HEADER);
        b[46] = 2;
        b.extend_from_slice(&tlv.to_be_bytes());
        b.extend_from_slice(&u16::try_from(tail.len() + 2).unwrap_or(0).to_be_bytes());
        b.extend_from_slice(&id.to_be_bytes());
        b.extend_from_slice(&tail);
        for len in 0..=b.len() {
            let _ = decode(&b[..len]);
        }
    }
}
