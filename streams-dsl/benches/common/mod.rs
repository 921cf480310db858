//! What the bench binaries share: WORKLOADS.md's input encoding and the peak-RSS reading.

#![allow(dead_code)] // Each bench uses part of this module.

use streams_core::{Deserializer, Encoded, Headers, RawRecord, SerdeError, Serializer};

/// The peak resident set size of this process so far, in MB (`VmHWM`).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// The CPU time the calling thread has had so far (`/proc/thread-self/schedstat`), or zero
/// where that cannot be read. On a machine shared with other work, a run's CPU time varies
/// less than its wall time, which includes the time the thread waited for a core.
pub fn thread_cpu() -> std::time::Duration {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(std::time::Duration::ZERO, std::time::Duration::from_nanos)
}

/// WORKLOADS.md's key of record `i`: `"k" + (i·7919 mod keys)`.
pub fn workload_key(i: u64, keys: u64) -> String {
    format!("k{}", (i * 7919) % keys)
}

/// WORKLOADS.md's 16-byte value of record `i`: the value, then the event time, each 8 bytes
/// big-endian (both `i`).
pub fn workload_value(i: u64) -> Vec<u8> {
    let mut value = Vec::with_capacity(16);
    value.extend_from_slice(&(i as i64).to_be_bytes());
    value.extend_from_slice(&(i as i64).to_be_bytes());
    value
}

/// The value encoding of WORKLOADS.md: 8 bytes big-endian value, then 8 bytes event time.
pub struct WorkloadValue;

impl Serializer<i64> for WorkloadValue {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        v: &i64,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(&v.to_be_bytes());
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<i64> for WorkloadValue {
    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<i64, SerdeError> {
        let data = data.ok_or(SerdeError::UnexpectedNull)?;
        data.get(..8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes)
            .ok_or(SerdeError::InvalidLength {
                expected: 16,
                actual: data.len(),
            })
    }
}

/// The event time of a WORKLOADS.md record: bytes 8..16 of its value (the Kafka timestamp is
/// not used); -1, invalid, when the value is too short.
pub fn event_time(record: &RawRecord, _: i64) -> i64 {
    record
        .value
        .as_deref()
        .and_then(|v| v.get(8..16))
        .and_then(|b| b.try_into().ok())
        .map_or(-1, i64::from_be_bytes)
}
