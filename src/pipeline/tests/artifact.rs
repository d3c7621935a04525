//! The artifact format end to end: round trips, and every kind of damaged bytes refused
//! with an error rather than a panic or a huge allocation.

use super::*;
use crate::pipeline::artifact::{FORMAT_VERSION, MAGIC, MAX_ARTIFACT_BYTES};

fn corrupt<T>(r: Result<T>) -> bool {
    matches!(r, Err(PipelineError::CorruptArtifact(_)))
}

fn load_fails(bytes: &[u8]) -> bool {
    corrupt(FittedPipeline::from_bytes(bytes))
}

/// `payload` behind a header with the given version and stated length, and its true CRC.
fn framed(version: u32, stated: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&stated.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn artifact_round_trip_and_corruption() {
    let data = imputation_data();
    let params = json!({"max_categories": 3, "alpha": 0.1});
    let out = run(&data, &config("ridge", params, 0.2, 3));
    let p = &out.pipeline;
    let bytes = p.to_bytes().unwrap();
    let back = FittedPipeline::from_bytes(&bytes).unwrap();
    assert_eq!(&back, p);
    let bits = |q| predict(q, &data).into_iter().map(f64::to_bits);
    assert!(bits(&back).eq(bits(p)));
    let all = |q| score(q, &data, &|_| true, &|| {}).unwrap();
    assert_eq!(all(&back), all(p));

    // The header is as documented: magic, version, payload length, CRC-32.
    let payload = &bytes[24..];
    let (v, len) = (FORMAT_VERSION, payload.len() as u64);
    assert_eq!(framed(v, len, payload), bytes);
    for cut in 0..bytes.len() {
        assert!(load_fails(&bytes[..cut]), "prefix of {cut} bytes");
    }
    for pos in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut flipped = bytes.clone();
            flipped[pos] ^= mask;
            assert!(load_fails(&flipped), "byte {pos} ^ {mask:#x}");
        }
    }
    let mut wrong_magic = bytes.clone();
    wrong_magic[..8].copy_from_slice(b"PGRTRAIM");
    assert!(load_fails(&wrong_magic));
    let versions = [v + 1, 0, u32::MAX].map(|v| (v, len));
    let lengths = [u64::MAX, len + 1, len - 1, 0].map(|l| (v, l));
    for (version, stated) in versions.into_iter().chain(lengths) {
        let f = framed(version, stated, payload);
        assert!(load_fails(&f), "version {version}, length {stated}");
    }
    // A trailing byte behind a consistent header.
    let longer: Vec<u8> = payload.iter().copied().chain([0]).collect();
    assert!(load_fails(&framed(v, len + 1, &longer)));
    // Consistent headers over payloads claiming a target string, or (after an empty target
    // and the first algorithm) a feature list, of u64::MAX elements; and empty payloads.
    let huge = [253u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    let huge_list: Vec<u8> = [0, 0].into_iter().chain(huge).collect();
    for evil in [&huge[..], &huge_list[..], &[], &[0]] {
        let f = framed(v, evil.len() as u64, evil);
        assert!(load_fails(&f), "{evil:?}");
    }
    assert!(load_fails(&vec![0u8; MAX_ARTIFACT_BYTES + 1]));

    // Structurally invalid pipelines fail validate(), and fail to load once serialized.
    assert!(p.validate().is_ok());
    let scaled = |mean, scale| Transform::Standardize { mean, scale };
    let mut bad = vec![p.clone(); 9];
    bad[0].model.coef.pop();
    bad[1].model.coef.push(1.0);
    bad[2].model.coef[3] = f64::NAN;
    bad[3].model.intercept = f64::INFINITY;
    bad[4].features[0].transform = scaled(1.0, 0.0);
    bad[5].features[0].transform = scaled(f64::NAN, 1.0);
    bad[6].features[1].transform = Transform::Binary { fill: f64::NAN };
    bad[7].features[2].offset += 1;
    bad[8].features[2].transform = one_hot(&["d"]);
    for (i, b) in bad.iter().enumerate() {
        assert!(corrupt(b.validate()), "edit {i}: {b:?}");
        assert!(load_fails(&b.to_bytes().unwrap()), "edit {i}");
    }
}
